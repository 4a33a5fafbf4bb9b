//! The server's concurrency modes: the one list the server's `-m` flag, scenario files,
//! results folders, `run.json` and the reports all name modes from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How the server serves connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// One connection at a time, served to its end by the accepting thread.
    Iter,
    /// One OS thread per connection.
    Thr,
    /// One OS process per connection.
    Proc,
    /// One tokio task per connection on a multi-thread runtime.
    Async,
}

/// The names and words of one mode.
struct Names {
    /// The short name: `server -m`, folder names, the event log, `run.json`.
    name: &'static str,
    /// Other names `-m` and scenario files accept.
    aliases: &'static [&'static str],
    /// The server in plot titles.
    server: &'static str,
    /// What the mode means, for reports.
    meaning: &'static str,
    /// The value's line in `server --help`.
    help: &'static str,
}

impl Mode {
    /// All modes, in the order reports list them.
    pub const ALL: [Mode; 4] = [Mode::Iter, Mode::Thr, Mode::Proc, Mode::Async];

    const fn names(self) -> &'static Names {
        match self {
            Self::Iter => &Names {
                name: "iter",
                aliases: &["iterative"],
                server: "iterative server",
                meaning: "iterative (one connection at a time)",
                help: "One connection at a time, served to its end by the accepting thread",
            },
            Self::Thr => &Names {
                name: "thr",
                aliases: &["thread"],
                server: "thread-per-connection server",
                meaning: "thread per connection",
                help: "One OS thread per connection",
            },
            Self::Proc => &Names {
                name: "proc",
                aliases: &["process"],
                server: "process-per-connection server",
                meaning: "process per connection",
                help: "One OS process per connection",
            },
            Self::Async => &Names {
                name: "async",
                aliases: &[],
                server: "async server",
                meaning: "tokio task per connection",
                help: "One tokio task per connection on a multi-thread runtime",
            },
        }
    }

    /// The short name used on the command line, on the console, in the event log and for
    /// folder names.
    pub fn name(self) -> &'static str {
        self.names().name
    }

    /// The other names the mode is accepted under (`iterative`, `thread`, `process`).
    pub fn aliases(self) -> &'static [&'static str] {
        self.names().aliases
    }

    /// The server's name in plot titles: `iterative server`, ...
    pub fn server_name(self) -> &'static str {
        self.names().server
    }

    /// What the mode means, for reports.
    pub fn describe(self) -> &'static str {
        self.names().meaning
    }

    /// The mode's line in `server --help`.
    pub fn help(self) -> &'static str {
        self.names().help
    }

    /// True for the mode that serves one connection at a time: its console lines differ
    /// and its clients wait for each other.
    pub fn is_iterative(self) -> bool {
        self == Self::Iter
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no mode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown mode \"{given}\": expected {}", expected())]
pub struct UnknownMode {
    pub given: String,
}

/// `"iter", "thr", "proc" or "async"`.
fn expected() -> String {
    let names: Vec<String> = Mode::ALL.iter().map(|m| format!("\"{m}\"")).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s || m.aliases().contains(&s))
            .ok_or_else(|| UnknownMode {
                given: s.to_owned(),
            })
    }
}

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "clap")]
impl clap::ValueEnum for Mode {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(
            clap::builder::PossibleValue::new(self.name())
                .aliases(self.aliases().iter().copied())
                .help(self.help()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_parse_and_print_short() {
        for (given, mode) in [
            ("iter", Mode::Iter),
            ("iterative", Mode::Iter),
            ("thr", Mode::Thr),
            ("thread", Mode::Thr),
            ("proc", Mode::Proc),
            ("process", Mode::Proc),
            ("async", Mode::Async),
        ] {
            assert_eq!(given.parse::<Mode>(), Ok(mode), "{given}");
        }
        for m in Mode::ALL {
            assert_eq!(m.to_string().parse::<Mode>(), Ok(m));
        }
    }

    #[test]
    fn an_unknown_name_lists_the_modes() {
        let e = "fast".parse::<Mode>().expect_err("refused");
        assert_eq!(
            e.to_string(),
            r#"unknown mode "fast": expected "iter", "thr", "proc" or "async""#
        );
    }

    #[test]
    fn json_holds_the_short_name_and_reads_aliases() {
        assert_eq!(
            serde_json::to_string(&Mode::Proc).expect("serialises"),
            r#""proc""#
        );
        let m: Mode = serde_json::from_str(r#""thread""#).expect("parses");
        assert_eq!(m, Mode::Thr);
        assert!(serde_json::from_str::<Mode>(r#""fork""#).is_err());
    }
}
