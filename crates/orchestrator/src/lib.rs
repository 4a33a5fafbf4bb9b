//! The orchestrator of the arrivals harness: scenario files → runs of the real `server` and
//! `client` binaries → recorded results → CSV tables, PNG plots and markdown reports.

mod binaries;
mod cli;
mod dataset;
mod fidelity;
mod hosts;
mod load;
mod progress;
mod report;
mod results;
mod run;
mod runinfo;
mod scenario;
mod theory;

pub use arrivals::Mode;
pub use cli::{Cli, run};
pub use scenario::{Scenario, ScenarioError};
