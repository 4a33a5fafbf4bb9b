//! The `server` binary: parses the command line and hands it to [`server::run`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let options = server::Options::parse();
    match server::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
