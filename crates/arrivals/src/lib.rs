//! Shared core of the arrivals harness: the wire protocol, the event-log schema, the
//! inter-event distributions, the statistics and the queueing-theory predictions that every
//! binary and the report use, and the contract between the binaries: the server's modes, its
//! console lines and the `server` and `client` command lines.

pub mod args;
pub mod benchmark;
pub mod clock;
pub mod console;
pub mod distribution;
pub mod events;
pub mod gof;
pub mod limits;
pub mod mode;
pub mod protocol;
pub mod queueing;
pub mod seed;
pub mod stats;
pub mod writer;

pub use clock::{MonoNs, ProcessClock};
pub use distribution::{DistKind, Distribution, DistributionError};
pub use events::{ClientEvent, EventLog, Record, ServerEvent};
pub use mode::Mode;
pub use protocol::Chunk;
pub use stats::Summary;
