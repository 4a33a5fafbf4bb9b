//! The wire protocol: the server's greeting, the client's message format, and a bounded line
//! reader that turns a byte stream into timed messages.

use std::io::{self, Read};

use crate::clock::MonoNs;

/// The line the server sends right after accepting a connection.
pub const GREETING: &str = "Hello! You are connected to the server.\n";

/// Default bound on one message, in bytes (`--max-line-bytes`).
pub const DEFAULT_MAX_LINE_BYTES: usize = 65_536;

/// The client's message for event `event` of worker `worker`, without the newline.
pub fn format_message(worker: u32, event: u32, unix_ms: u64) -> String {
    format!("Worker {worker}, Event {event}, Timestamp {unix_ms}")
}

/// The fields of a message in the client's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedMessage {
    pub worker: u32,
    pub event: u32,
    pub sent_unix_ms: u64,
}

/// Parses `Worker <i>, Event <j>, Timestamp <unix-ms>`; `None` for any other text.
pub fn parse_message(text: &str) -> Option<ParsedMessage> {
    let rest = text.trim().strip_prefix("Worker ")?;
    let (worker, rest) = rest.split_once(", Event ")?;
    let (event, ts) = rest.split_once(", Timestamp ")?;
    Some(ParsedMessage {
        worker: worker.parse().ok()?,
        event: event.parse().ok()?,
        sent_unix_ms: ts.parse().ok()?,
    })
}

/// Decodes one message: drops a trailing `\r`, replaces bytes that are not UTF-8.
/// Returns the text and whether any replacement happened.
pub fn decode(bytes: &[u8]) -> (String, bool) {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    match String::from_utf8_lossy(bytes) {
        std::borrow::Cow::Borrowed(s) => (s.to_owned(), false),
        std::borrow::Cow::Owned(s) => (s, true),
    }
}

/// Escapes control characters (ESC, CR, BEL, ...) so that printing `text` cannot drive the
/// operator's terminal; everything else is kept as is.
pub fn escape_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// One message as read off a connection: its raw bytes (terminator removed) and the instant
/// the read that completed it returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub bytes: Vec<u8>,
    pub at: MonoNs,
}

/// Why a connection's byte stream could not be turned into messages.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("message longer than --max-line-bytes ({limit} bytes) without a newline")]
    TooLong { limit: usize },
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
}

/// What a [`LineBuffer`] can give without more input.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A complete message.
    Line(Line),
    /// The stream ended and nothing is left.
    End,
    /// More bytes are needed: read into [`LineBuffer::spare`], then [`LineBuffer::commit`].
    NeedInput,
}

/// The I/O-free core of line splitting, shared by the blocking [`LineReader`] and the
/// server's async reader so both follow the same rules: `\n` ends a message, the
/// unterminated fragment at end of stream is one, and more than `max_line_bytes` without a
/// newline is an error, so at most that plus one read chunk is ever buffered.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned for a newline.
    scanned: usize,
    /// Bytes of `buf` that hold data; beyond them lies the space handed out by `spare`.
    filled: usize,
    /// Arrival instant of the read that delivered the newest bytes.
    last_read_at: MonoNs,
    max_line_bytes: usize,
    eof: bool,
}

const CHUNK: usize = 8192;

impl LineBuffer {
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(CHUNK),
            scanned: 0,
            filled: 0,
            last_read_at: MonoNs::now(),
            max_line_bytes: max_line_bytes.max(1),
            eof: false,
        }
    }

    /// The next buffered message, the end of the stream, or a request for more input.
    pub fn next_buffered(&mut self) -> Result<Next, LineError> {
        self.buf.truncate(self.filled);
        if let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + pos;
            let bytes = self.buf[..end].to_vec();
            self.buf.drain(..=end);
            self.filled = self.buf.len();
            self.scanned = 0;
            return Ok(Next::Line(Line {
                bytes,
                at: self.last_read_at,
            }));
        }
        self.scanned = self.buf.len();
        if self.buf.len() > self.max_line_bytes {
            return Err(LineError::TooLong {
                limit: self.max_line_bytes,
            });
        }
        if !self.eof {
            return Ok(Next::NeedInput);
        }
        if self.buf.is_empty() {
            return Ok(Next::End);
        }
        self.scanned = 0;
        self.filled = 0;
        Ok(Next::Line(Line {
            bytes: std::mem::take(&mut self.buf),
            at: self.last_read_at,
        }))
    }

    /// Space for the next read (one chunk). Asking again without a `commit` in between
    /// hands out the same space.
    pub fn spare(&mut self) -> &mut [u8] {
        self.buf.resize(self.filled + CHUNK, 0);
        &mut self.buf[self.filled..]
    }

    /// Takes the outcome of a read into [`spare`](Self::spare): `Ok(0)` is the end of the
    /// stream, an interrupted read is retried by the caller's next round, any other error
    /// is returned.
    pub fn commit(&mut self, read: io::Result<usize>) -> Result<(), LineError> {
        match read {
            Ok(n) => {
                self.filled += n.min(CHUNK);
                self.buf.truncate(self.filled);
                if n == 0 {
                    self.eof = true;
                } else {
                    self.last_read_at = MonoNs::now();
                }
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(self.filled);
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(())
                } else {
                    Err(e.into())
                }
            }
        }
    }
}

/// Splits a blocking byte stream into timed messages (see [`LineBuffer`] for the rules).
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    lines: LineBuffer,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R, max_line_bytes: usize) -> Self {
        Self {
            inner,
            lines: LineBuffer::new(max_line_bytes),
        }
    }

    /// The next message, `Ok(None)` at end of stream. An unterminated fragment at end of
    /// stream is returned as a message.
    pub fn next_line(&mut self) -> Result<Option<Line>, LineError> {
        loop {
            match self.lines.next_buffered()? {
                Next::Line(line) => return Ok(Some(line)),
                Next::End => return Ok(None),
                Next::NeedInput => {
                    let read = self.inner.read(self.lines.spare());
                    self.lines.commit(read)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Result<String, String>> {
        let mut r = LineReader::new(input, max);
        let mut out = Vec::new();
        loop {
            match r.next_line() {
                Ok(Some(l)) => out.push(Ok(decode(&l.bytes).0)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn splits_lines_accepts_crlf_and_keeps_the_final_fragment() {
        assert_eq!(
            lines(b"a\r\nb\n\nlast", 100),
            vec![
                Ok("a".to_owned()),
                Ok("b".to_owned()),
                Ok(String::new()),
                Ok("last".to_owned())
            ]
        );
    }

    #[test]
    fn a_line_longer_than_the_bound_is_an_error() {
        let long = vec![b'x'; 50_000];
        let out = lines(&long, 1000);
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .as_ref()
                .unwrap_err()
                .contains("--max-line-bytes (1000")
        );
    }

    #[test]
    fn a_line_at_the_bound_passes() {
        let mut input = vec![b'y'; 1000];
        input.push(b'\n');
        assert_eq!(lines(&input, 1000), vec![Ok("y".repeat(1000))]);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_flagged() {
        let (text, lossy) = decode(b"ok \xff\xfe end\r");
        assert!(lossy);
        assert_eq!(text, "ok \u{FFFD}\u{FFFD} end");
        assert_eq!(decode(b"plain"), ("plain".to_owned(), false));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("a\x1b[31mred\x07"), "a\\u{1b}[31mred\\u{7}");
        assert_eq!(escape_control("tab\there"), "tab\\there");
        assert_eq!(escape_control("héllo"), "héllo");
    }

    #[test]
    fn client_messages_round_trip() {
        let text = format_message(3, 12, 1_768_823_258_707);
        assert_eq!(text, "Worker 3, Event 12, Timestamp 1768823258707");
        assert_eq!(
            parse_message(&text),
            Some(ParsedMessage {
                worker: 3,
                event: 12,
                sent_unix_ms: 1_768_823_258_707
            })
        );
        assert_eq!(parse_message("Worker 1 Event 1, Timestamp 5"), None);
        assert_eq!(parse_message("hello"), None);
    }
}
