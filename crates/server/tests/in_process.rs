//! Each mode's `serve` run inside the test process and stopped through its `Shutdown`
//! handle, without signals: the shape that lets other code embed or drive the server.

mod common;

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Duration;

use arrivals::clock::ProcessClock;
use common::{Client, TIMEOUT};
use server::{Limits, Mode, Recorder, Shutdown};

/// A console that hands every write to the test.
struct Console(Sender<String>);

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.0.send(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads console output until it contains `needle`.
fn wait_for(console: &Receiver<String>, seen: &mut String, needle: &str) {
    while !seen.contains(needle) {
        match console.recv_timeout(TIMEOUT) {
            Ok(text) => seen.push_str(&text),
            Err(e) => panic!("waiting for {needle:?} ({e}); console:\n{seen}"),
        }
    }
}

#[test]
fn a_trigger_stops_every_in_process_mode_with_open_connections_counted() {
    for mode in [Mode::Iter, Mode::Thr, Mode::Async] {
        let listener = server::bind("127.0.0.1", 0).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, console) = mpsc::channel();
        let recorder = Arc::new(
            Recorder::new(
                mode,
                true,
                ProcessClock::start(),
                None,
                Box::new(Console(tx)),
            )
            .expect("recorder"),
        );
        let shutdown = Shutdown::new().expect("shutdown pipe");
        let limits = Limits {
            max_connections: 8,
            max_line_bytes: 1024,
            idle_timeout: None,
        };
        let (done_tx, done) = mpsc::channel();
        {
            let (recorder, shutdown) = (Arc::clone(&recorder), shutdown.clone());
            thread::spawn(move || {
                let _ = done_tx.send(server::serve(mode, listener, recorder, shutdown, limits));
            });
        }

        let mut finished = Client::connect(port);
        finished.send_events(1, 3, Duration::from_millis(1));
        finished.close();
        let mut open = Client::connect(port);
        open.send_raw(b"still open\n");
        let mut seen = String::new();
        wait_for(&console, &mut seen, "Sentence \"still open\"");

        shutdown.trigger();
        done.recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("{mode:?}: serve did not return"))
            .expect("serve ok");
        open.wait_eof();
        let totals = recorder.finish();
        assert_eq!(totals.connections, 2, "{mode:?}");
        assert_eq!(totals.messages, 4, "{mode:?}");
        assert_eq!(totals.connection_gaps.n, 1, "{mode:?}");
        assert_eq!(totals.data_gaps.n, 4, "{mode:?}");
        wait_for(&console, &mut seen, "(n = 4)\n");
    }
}
