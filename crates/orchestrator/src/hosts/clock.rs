//! Clock offsets, NTP style: through a launcher, a shell on the host answers each line with
//! its wall clock (`date +%s%N`); the sample with the smallest round trip is kept. The
//! host's reading happened between sending (t0) and receiving (t1), so its offset to the
//! orchestrator's clock lies within `reading − (t0 + t1)/2 ± (t1 − t0)/2`.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::HostsError;
use super::launcher::Launcher;

/// Round trips per host; the first (which pays for starting the shell or the SSH session)
/// rarely wins.
pub const ROUNDS: u32 = 9;
/// How long one answer may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// A host's clock against a reference clock: `offset_ms` = host clock − reference clock.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Offset {
    pub offset_ms: f64,
    /// Half the kept round trip: the true offset lies within `offset_ms ± uncertainty_ms`.
    pub uncertainty_ms: f64,
    /// The kept (smallest) round trip.
    pub rtt_ms: f64,
    pub samples: u32,
}

impl Offset {
    /// The same clock: no offset, no uncertainty.
    pub const SAME: Offset = Offset {
        offset_ms: 0.0,
        uncertainty_ms: 0.0,
        rtt_ms: 0.0,
        samples: 0,
    };

    /// This host's offset to `reference`'s host (both measured against the orchestrator):
    /// the difference, with the uncertainties added.
    pub fn relative_to(&self, reference: &Offset) -> Offset {
        Offset {
            offset_ms: round_us(self.offset_ms - reference.offset_ms),
            uncertainty_ms: round_us(self.uncertainty_ms + reference.uncertainty_ms),
            rtt_ms: self.rtt_ms.max(reference.rtt_ms),
            samples: self.samples.min(reference.samples),
        }
    }
}

/// Rounds ms to µs, the precision that means anything here (and keeps `run.json` short).
fn round_us(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e3
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Estimates the clock offset of `launcher`'s host to the orchestrator's.
pub fn estimate(launcher: &Launcher, what: &str) -> Result<Offset, HostsError> {
    if *launcher == Launcher::Local {
        return Ok(Offset::SAME);
    }
    measure(launcher, what)
}

/// The round trips of [`estimate`], through any launcher (also a local shell).
fn measure(launcher: &Launcher, what: &str) -> Result<Offset, HostsError> {
    let failed = |why: String| HostsError::Clock {
        host: what.to_owned(),
        why,
    };
    let mut child = launcher
        .shell("while read _; do date +%s%N; done")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(failed("no pipes to the clock probe".into()));
    };
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut best: Option<(i128, f64)> = None;
    let mut result = Ok(());
    for _ in 0..ROUNDS {
        let t0 = now_ns();
        if stdin.write_all(b"\n").and_then(|()| stdin.flush()).is_err() {
            result = Err(failed("the clock probe closed its input".into()));
            break;
        }
        let line = match rx.recv_timeout(ANSWER_TIMEOUT) {
            Ok(l) => l,
            Err(_) => {
                result = Err(failed(format!(
                    "no answer within {} s",
                    ANSWER_TIMEOUT.as_secs()
                )));
                break;
            }
        };
        let t1 = now_ns();
        let Ok(remote) = line.trim().parse::<i128>() else {
            result = Err(failed(format!(
                "`date +%s%N` printed \"{line}\" (needs GNU date)"
            )));
            break;
        };
        let rtt = t1 - t0;
        // Twice the offset, in ns, to stay in integers: 2·remote − (t0 + t1).
        let twice = 2 * remote - (t0 + t1);
        if best.is_none_or(|(r, _)| rtt < r) {
            best = Some((rtt, twice as f64 / 2e6));
        }
    }
    drop(stdin);
    let until = Instant::now() + ANSWER_TIMEOUT;
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < until {
        thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    result?;
    let (rtt, offset_ms) = best.ok_or_else(|| failed("no sample".into()))?;
    let rtt_ms = rtt as f64 / 1e6;
    Ok(Offset {
        offset_ms: round_us(offset_ms),
        uncertainty_ms: round_us(rtt_ms / 2.0),
        rtt_ms: round_us(rtt_ms),
        samples: ROUNDS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_subtract_and_uncertainties_add() {
        let a = Offset {
            offset_ms: 5.0,
            uncertainty_ms: 0.5,
            rtt_ms: 1.0,
            samples: 9,
        };
        let b = Offset {
            offset_ms: 2.0,
            uncertainty_ms: 0.25,
            rtt_ms: 0.5,
            samples: 9,
        };
        let r = a.relative_to(&b);
        assert_eq!((r.offset_ms, r.uncertainty_ms), (3.0, 0.75));
    }

    #[test]
    fn a_shell_here_has_no_offset_beyond_its_uncertainty() {
        // Through `sh` on this machine: the same clock, so |offset| ≤ uncertainty.
        let o = measure(&Launcher::Local, "a local shell").expect("sh and date answer");
        assert!(o.offset_ms.abs() <= o.uncertainty_ms, "{o:?}");
        assert!(o.rtt_ms > 0.0 && o.samples == ROUNDS, "{o:?}");
    }
}
