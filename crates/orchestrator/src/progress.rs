//! Progress while a scenario runs: an indicatif bar on a terminal, plain lines otherwise
//! (so CI logs and redirected output stay readable).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows how far a run is: messages received out of those expected, elapsed and expected time.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    prefix: String,
    expected: Duration,
    total: u64,
    last_line: Instant,
}

impl Progress {
    /// Starts showing progress for run `prefix`, expected to take `expected` and to deliver
    /// `total` messages.
    pub fn start(prefix: &str, expected: Duration, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix} {spinner} [{elapsed_precise}] [{bar:30.cyan/blue}] {pos}/{len} messages {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(prefix.to_owned());
            bar.set_message(format!("(expected ≈ {:.1} s)", expected.as_secs_f64()));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            prefix: prefix.to_owned(),
            expected,
            total,
            last_line: Instant::now(),
        }
    }

    /// Prints a line about a step of the run (above the bar on a terminal).
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("{} {line}", self.prefix)),
            None => eprintln!("{} {line}", self.prefix),
        }
    }

    /// Updates the count of messages the server has received so far.
    pub fn messages(&mut self, received: u64, elapsed: Duration) {
        match &self.bar {
            Some(bar) => bar.set_position(received),
            None if self.last_line.elapsed() >= Duration::from_secs(5) => {
                self.last_line = Instant::now();
                eprintln!(
                    "{} {:.1} s of ≈ {:.1} s: {received}/{} messages received",
                    self.prefix,
                    elapsed.as_secs_f64(),
                    self.expected.as_secs_f64(),
                    self.total
                );
            }
            None => {}
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
