//! `client`: the lab's multithreaded timestamp client. Parses flags, runs, maps the outcome
//! to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = client::Cli::parse();
    match client::Options::from_cli(cli).and_then(client::run) {
        Ok(outcome) if outcome.failed == 0 && !outcome.log_failed => ExitCode::SUCCESS,
        Ok(outcome) if outcome.failed == 0 => {
            eprintln!("Error: the event log is incomplete (see the error above)");
            ExitCode::FAILURE
        }
        Ok(outcome) => {
            eprintln!(
                "Error: {} of {} workers failed",
                outcome.failed,
                outcome.failed + outcome.ok
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(2)
        }
    }
}
