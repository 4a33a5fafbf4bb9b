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
    let mut line = Vec::with_capacity(64);
    message_prefix(&mut line, worker, event);
    line.extend_from_slice(unix_ms.to_string().as_bytes());
    String::from_utf8_lossy(&line).into_owned()
}

/// Replaces `line` with the message's text up to its timestamp, so a sender can prepare it
/// before the send instant and append only the timestamp's digits after it.
pub fn message_prefix(line: &mut Vec<u8>, worker: u32, event: u32) {
    use std::io::Write as _;
    line.clear();
    // Writing into a Vec cannot fail.
    let _ = write!(line, "Worker {worker}, Event {event}, Timestamp ");
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
    let (worker, rest) = split_at_first_comma(rest, ", Event ")?;
    let (event, ts) = split_at_first_comma(rest, ", Timestamp ")?;
    Some(ParsedMessage {
        worker: worker.parse().ok()?,
        event: event.parse().ok()?,
        sent_unix_ms: ts.parse().ok()?,
    })
}

/// Splits `text` at `sep` (which starts with a comma) when `sep` starts at its first comma,
/// or `None`. For [`parse_message`] this is `str::split_once`: a part that ends at a later
/// `sep` holds a comma, which no number has, so it fails to parse either way. The general
/// `split_once` sets up a substring searcher on every call, which cost the server's log writer
/// more than the rest of parsing (a flood parses millions of lines).
fn split_at_first_comma<'a>(text: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let at = memchr::memchr(b',', text.as_bytes())?;
    let rest = text[at..].strip_prefix(sep)?;
    Some((&text[..at], rest))
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

/// The complete lines that one read delivered (with what was buffered before it), all
/// observed at the instant that read returned: one clock reading per read call is the
/// observation instant of every line it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The lines, each ending with `\n`, except an unterminated last fragment at end of
    /// stream (then `lines` is 1 and `bytes` has no newline).
    pub bytes: &'a [u8],
    /// Number of lines in `bytes`.
    pub lines: u64,
    /// When the read that completed them returned.
    pub at: MonoNs,
    /// When the kernel received the data of that read (nanoseconds since the Unix epoch),
    /// where the socket reports it.
    pub kernel_ns: Option<u64>,
}

impl<'a> Chunk<'a> {
    /// Each line without its `\n` terminator (a `\r` before it is kept; see [`decode`]).
    pub fn lines(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let bytes = self.bytes;
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        // An empty chunk has no line; otherwise `split` yields exactly `lines` pieces.
        body.split(|&b| b == b'\n')
            .take(if bytes.is_empty() { 0 } else { usize::MAX })
    }
}

/// Why a connection's byte stream could not be turned into messages.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("message longer than --max-line-bytes ({limit} bytes) without a newline")]
    TooLong { limit: usize },
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
}

/// Where the next chunk of a [`LineBuffer`] lies; [`LineBuffer::chunk`] turns it into bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    start: usize,
    end: usize,
    lines: u64,
    at: MonoNs,
    kernel_ns: Option<u64>,
}

/// What a [`LineBuffer`] can give without more input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Complete lines: read them with [`LineBuffer::chunk`] before the next `spare`.
    Lines(Span),
    /// The stream ended and nothing is left.
    End,
    /// More bytes are needed: read into [`LineBuffer::spare`], then [`LineBuffer::commit`].
    NeedInput,
}

/// First read size of a connection; each read that fills its space doubles the next one up
/// to [`MAX_READ`], so an idle connection holds a few hundred bytes and a flood is read in
/// large chunks.
const FIRST_READ: usize = 512;
/// Largest read.
pub const MAX_READ: usize = 64 * 1024;

/// The I/O-free core of line splitting, shared by the blocking [`LineReader`], the server's
/// async reader and its `proc` workers, so all follow the same rules: `\n` ends a message,
/// the unterminated fragment at end of stream is one, and more than `max_line_bytes`
/// without a newline is an error, so at most that plus one read is ever buffered. Lines are
/// handed out in place, a read's worth at a time, never copied one by one.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// First byte not yet handed out.
    start: usize,
    /// Bytes before this index (from `start`) hold no newline.
    scanned: usize,
    /// End of the data; beyond it lies the space handed out by `spare`.
    filled: usize,
    /// Size of the next read.
    read_size: usize,
    /// Arrival instant of the read that delivered the newest bytes.
    last_read_at: MonoNs,
    /// The kernel's receive instant of those bytes, where known.
    last_kernel_ns: Option<u64>,
    max_line_bytes: usize,
    eof: bool,
}

impl LineBuffer {
    /// An empty buffer; nothing is allocated before the first read.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            filled: 0,
            read_size: FIRST_READ,
            last_read_at: MonoNs::now(),
            last_kernel_ns: None,
            max_line_bytes: max_line_bytes.max(1),
            eof: false,
        }
    }

    /// The buffered complete lines, the end of the stream, or a request for more input.
    pub fn next_buffered(&mut self) -> Result<Next, LineError> {
        let (at, kernel_ns) = (self.last_read_at, self.last_kernel_ns);
        if let Some(pos) = memchr::memrchr(b'\n', &self.buf[self.scanned..self.filled]) {
            let end = self.scanned + pos + 1;
            // No newline before `scanned`: count only the newly scanned bytes.
            let lines = memchr::memchr_iter(b'\n', &self.buf[self.scanned..end]).count() as u64;
            let span = Span {
                start: self.start,
                end,
                lines,
                at,
                kernel_ns,
            };
            self.start = end;
            self.scanned = end;
            return Ok(Next::Lines(span));
        }
        self.scanned = self.filled;
        if self.filled - self.start > self.max_line_bytes {
            return Err(LineError::TooLong {
                limit: self.max_line_bytes,
            });
        }
        if !self.eof {
            return Ok(Next::NeedInput);
        }
        if self.start == self.filled {
            return Ok(Next::End);
        }
        let span = Span {
            start: self.start,
            end: self.filled,
            lines: 1,
            at,
            kernel_ns,
        };
        self.start = self.filled;
        Ok(Next::Lines(span))
    }

    /// The lines of `span`, which [`next_buffered`](Self::next_buffered) just returned.
    pub fn chunk(&self, span: Span) -> Chunk<'_> {
        Chunk {
            bytes: &self.buf[span.start..span.end],
            lines: span.lines,
            at: span.at,
            kernel_ns: span.kernel_ns,
        }
    }

    /// Space for the next read. Asking again without a `commit` in between hands out the
    /// same space. Moves the unfinished line to the front first.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.scanned -= self.start;
            self.start = 0;
        }
        let end = self.filled + self.read_size;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        &mut self.buf[self.filled..end]
    }

    /// Takes the outcome of a read into [`spare`](Self::spare): `Ok(0)` is the end of the
    /// stream, an interrupted read is retried by the caller's next round, any other error
    /// is returned. A read that filled its space doubles the next one.
    pub fn commit(&mut self, read: io::Result<usize>) -> Result<(), LineError> {
        self.commit_timed(read.map(|n| (n, None)))
    }

    /// [`commit`](Self::commit) for a read that also gave the kernel's receive instant of
    /// its data (see [`Chunk::kernel_ns`]).
    pub fn commit_timed(
        &mut self,
        read: io::Result<(usize, Option<u64>)>,
    ) -> Result<(), LineError> {
        match read {
            Ok((0, _)) => {
                self.eof = true;
                Ok(())
            }
            Ok((n, kernel_ns)) => {
                self.last_read_at = MonoNs::now();
                self.last_kernel_ns = kernel_ns;
                let n = n.min(self.read_size);
                self.filled += n;
                if n == self.read_size {
                    self.read_size = (self.read_size * 2).min(MAX_READ);
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A byte stream whose reads may also tell when the kernel received the data.
pub trait TimedRead {
    /// Like [`Read::read`], with the kernel's receive instant (ns since the Unix epoch).
    fn read_timed(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)>;
}

/// Any [`Read`] as a [`TimedRead`] that never knows the kernel's instant.
#[derive(Debug)]
pub struct Untimed<R>(pub R);

impl<R: Read> TimedRead for Untimed<R> {
    fn read_timed(&mut self, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
        self.0.read(buf).map(|n| (n, None))
    }
}

/// Splits a blocking byte stream into timed chunks of lines (see [`LineBuffer`]).
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    lines: LineBuffer,
}

impl<R: TimedRead> LineReader<R> {
    pub fn new(inner: R, max_line_bytes: usize) -> Self {
        Self {
            inner,
            lines: LineBuffer::new(max_line_bytes),
        }
    }

    /// The next chunk of complete lines, `Ok(None)` at end of stream. An unterminated
    /// fragment at end of stream is returned as a line.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk<'_>>, LineError> {
        loop {
            match self.lines.next_buffered()? {
                Next::Lines(span) => return Ok(Some(self.lines.chunk(span))),
                Next::End => return Ok(None),
                Next::NeedInput => {
                    let read = self.inner.read_timed(self.lines.spare());
                    self.lines.commit_timed(read)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Result<String, String>> {
        let mut r = LineReader::new(Untimed(input), max);
        let mut out = Vec::new();
        loop {
            match r.next_chunk() {
                Ok(Some(c)) => {
                    assert_eq!(c.lines().count() as u64, c.lines);
                    out.extend(c.lines().map(|l| Ok(decode(l).0)));
                }
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

    /// A reader that returns at most `step` bytes per call, cycling 1..=step.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        k: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.k = self.k % self.step + 1;
            let n = self.k.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_do_not_depend_on_how_reads_split_the_stream() {
        let mut input = Vec::new();
        for i in 0..3000 {
            input.extend_from_slice(format_message(i % 7, i, 1_768_823_258_707).as_bytes());
            input.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
        }
        input.extend_from_slice(b"tail");
        let whole = lines(&input, 100);
        assert_eq!(whole.len(), 3001);
        for step in [1, 7, 300, 5000] {
            let mut r = LineReader::new(
                Untimed(Trickle {
                    data: &input,
                    step,
                    k: 0,
                }),
                100,
            );
            let mut got = Vec::new();
            while let Some(c) = r.next_chunk().expect("read") {
                got.extend(c.lines().map(|l| Ok(decode(l).0)));
            }
            assert_eq!(got, whole, "reads of at most {step} bytes");
        }
    }

    #[test]
    fn reads_start_small_and_grow_while_they_fill_up() {
        let mut b = LineBuffer::new(1 << 20);
        assert_eq!(b.spare().len(), FIRST_READ);
        let n = b.spare().len();
        b.commit(Ok(n)).expect("commit");
        assert_eq!(b.next_buffered().expect("next"), Next::NeedInput);
        assert_eq!(b.spare().len(), 2 * FIRST_READ);
        b.commit(Ok(1)).expect("commit");
        assert_eq!(b.spare().len(), 2 * FIRST_READ);
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
        assert_eq!(
            parse_message(" Worker +1, Event 2, Timestamp 3\t").map(|p| p.worker),
            Some(1)
        );
        assert_eq!(
            parse_message("Worker 1, Event 2, Timestamp 3, Timestamp 4"),
            None
        );
    }

    #[test]
    fn messages_parse_as_with_str_split_once() {
        fn reference(text: &str) -> Option<ParsedMessage> {
            let rest = text.trim().strip_prefix("Worker ")?;
            let (worker, rest) = rest.split_once(", Event ")?;
            let (event, ts) = rest.split_once(", Timestamp ")?;
            Some(ParsedMessage {
                worker: worker.parse().ok()?,
                event: event.parse().ok()?,
                sent_unix_ms: ts.parse().ok()?,
            })
        }
        let parts = [
            "Worker ",
            "1",
            "+2",
            ",",
            ", Event ",
            ", Timestamp ",
            "é",
            " ",
            "99",
        ];
        let mut n = 0;
        // Every text of 1 to 6 parts, repeats allowed: 9 + 9² + … + 9⁶ texts.
        let mut texts = vec![String::new()];
        for _ in 0..6 {
            let mut next = Vec::new();
            for t in &texts {
                for p in parts {
                    next.push(format!("{t}{p}"));
                }
            }
            for t in &next {
                assert_eq!(parse_message(t), reference(t), "{t:?}");
                n += usize::from(reference(t).is_some());
            }
            texts = next;
        }
        // The texts that parse: "Worker ", N, ", Event ", N, ", Timestamp ", N for the 3 N.
        assert_eq!(n, 27);
    }
}
