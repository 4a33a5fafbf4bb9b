//! `bench`: the benchmark suite of the arrivals instrument (`just bench`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let options = bench::Options::parse();
    match bench::run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("Error: some rows FAILED (see the table)");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
