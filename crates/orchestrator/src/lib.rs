//! The orchestrator of the arrivals harness: scenario files → runs of the real `server` and
//! `client` binaries → recorded results → CSV tables, PNG plots and markdown reports.

pub mod binaries;
pub mod cli;
pub mod dataset;
pub mod fidelity;
pub mod progress;
pub mod report;
pub mod results;
pub mod run;
pub mod runinfo;
pub mod scenario;

pub use arrivals::Mode;
pub use cli::{Cli, run};
pub use scenario::{Scenario, ScenarioError};
