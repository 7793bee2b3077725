//! Stdio transport: `Content-Length` framed JSON-RPC on stdin/stdout, in the
//! project's hands (the message types are `lsp-server`'s; its framing is not
//! used: it sizes a buffer from the header, so `Content-Length: 1000000000000`
//! aborted the server, and it stopped answering after one malformed header).
//!
//! [`FrameReader`] never allocates more than [`MAX_MESSAGE_BYTES`] for a body,
//! nor more than [`MAX_HEADER_LINE_BYTES`] for a header line. Lines may end
//! with CRLF (the protocol) or a bare LF (tolerated). A malformed frame (no
//! header, garbage, a length that is negative, not a number or over the cap, a
//! body that is not a JSON-RPC message) is reported on stderr and skipped: the
//! reader resynchronizes at the next `Content-Length:` in the stream, so the
//! following messages are answered. Messages travel over the in-memory
//! channels of [`lsp_server::Connection::memory`].

use lsp_server::{Connection, Message};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::thread::JoinHandle;

/// The largest message body accepted: 64 MiB (a document of that size is far
/// past what the checker is meant for in an editor).
pub const MAX_MESSAGE_BYTES: u64 = 64 << 20;

/// The longest header line kept; longer ones are malformed.
pub const MAX_HEADER_LINE_BYTES: usize = 8 << 10;

const CONTENT_LENGTH: &[u8] = b"content-length:";

/// What one read from the stream produced.
#[derive(Debug)]
pub enum Frame {
    Message(Message),
    /// A frame that was skipped, and why (for the log).
    Malformed(String),
    /// The end of the input.
    End,
}

/// Reads frames from a byte stream, resynchronizing after malformed ones.
pub struct FrameReader<R> {
    input: R,
    /// After a malformed header the stream position is unknown: skip to the
    /// next `Content-Length:` before reading headers again.
    lost: bool,
}

impl<R: BufRead> FrameReader<R> {
    pub fn new(input: R) -> Self {
        FrameReader { input, lost: false }
    }

    /// The next frame. `Err` only for an I/O error of the input itself.
    pub fn next_frame(&mut self) -> io::Result<Frame> {
        // Resuming after a malformed frame: the scan consumed `Content-Length:`,
        // so the first line read is that header's value.
        let mut resumed = false;
        if self.lost {
            self.lost = false;
            if !self.skip_to_header()? {
                return Ok(Frame::End);
            }
            resumed = true;
        }
        let mut length: Option<Result<u64, String>> = None;
        let mut lines = 0usize;
        loop {
            let Some(line) = self.header_line()? else {
                return Ok(if lines == 0 {
                    Frame::End
                } else {
                    Frame::Malformed("the input ends inside a header".to_string())
                });
            };
            lines += 1;
            let line = match line {
                Ok(l) if resumed && lines == 1 => format!("Content-Length:{l}"),
                Ok(l) => l,
                Err(why) => return Ok(self.malformed(why)),
            };
            if line.is_empty() {
                if lines == 1 {
                    // Stray blank lines between messages are harmless.
                    lines = 0;
                    continue;
                }
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Ok(self.malformed(format!(
                    "expected a `Name: value` header, got `{}`",
                    shorten(&line)
                )));
            };
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = Some(parse_length(value.trim()));
            }
            // Other headers (Content-Type) are allowed and ignored.
        }
        let length = match length {
            None => return Ok(self.malformed("a header without Content-Length".to_string())),
            Some(Err(why)) => return Ok(self.malformed(why)),
            Some(Ok(n)) => n,
        };
        let mut body = Vec::new();
        body.try_reserve_exact(length as usize)
            .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "cannot allocate a body"))?;
        let got = (&mut self.input).take(length).read_to_end(&mut body)?;
        if (got as u64) < length {
            return Ok(Frame::Malformed(format!(
                "the input ends inside a body ({got} of {length} bytes)"
            )));
        }
        Ok(match serde_json::from_slice::<Message>(&body) {
            Ok(msg) => Frame::Message(msg),
            Err(e) => Frame::Malformed(format!("the body is not a JSON-RPC message: {e}")),
        })
    }

    fn malformed(&mut self, why: String) -> Frame {
        self.lost = true;
        Frame::Malformed(why)
    }

    /// One header line without its line end; `None` at the end of the input;
    /// `Some(Err)` for a line too long or not text.
    fn header_line(&mut self) -> io::Result<Option<Result<String, String>>> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                if line.is_empty() && !too_long {
                    return Ok(None);
                }
                break;
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..=i], true),
                None => (buf, false),
            };
            let n = chunk.len();
            if line.len() + n <= MAX_HEADER_LINE_BYTES + 2 {
                line.extend_from_slice(chunk);
            } else {
                too_long = true;
            }
            self.input.consume(n);
            if done {
                break;
            }
        }
        if too_long {
            return Ok(Some(Err(format!(
                "a header line longer than {MAX_HEADER_LINE_BYTES} bytes"
            ))));
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        Ok(Some(
            String::from_utf8(line).map_err(|_| "a header line that is not text".to_string()),
        ))
    }

    /// Discards input up to and including the next `Content-Length:` (any
    /// case). False at the end of the input.
    fn skip_to_header(&mut self) -> io::Result<bool> {
        // How much of the pattern the bytes consumed so far end with.
        let mut matched = 0usize;
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(false);
            }
            let mut consumed = buf.len();
            for (i, &b) in buf.iter().enumerate() {
                matched = if b.eq_ignore_ascii_case(&CONTENT_LENGTH[matched]) {
                    matched + 1
                } else if b.eq_ignore_ascii_case(&CONTENT_LENGTH[0]) {
                    1
                } else {
                    0
                };
                if matched == CONTENT_LENGTH.len() {
                    consumed = i + 1;
                    break;
                }
            }
            self.input.consume(consumed);
            if matched == CONTENT_LENGTH.len() {
                return Ok(true);
            }
        }
    }
}

fn parse_length(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if n <= MAX_MESSAGE_BYTES => Ok(n),
        Ok(n) => Err(format!(
            "Content-Length {n} is over the limit of {MAX_MESSAGE_BYTES} bytes"
        )),
        Err(_) => Err(format!(
            "Content-Length `{}` is not a byte count",
            shorten(value)
        )),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Writes one message as a `Content-Length` frame and flushes.
pub fn write_message(out: &mut impl Write, msg: &Message) -> io::Result<()> {
    #[derive(serde::Serialize)]
    struct JsonRpc<'a> {
        jsonrpc: &'static str,
        #[serde(flatten)]
        msg: &'a Message,
    }
    let text = serde_json::to_string(&JsonRpc {
        jsonrpc: "2.0",
        msg,
    })?;
    write!(out, "Content-Length: {}\r\n\r\n", text.len())?;
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// The writer thread; the reader thread ends by itself on `exit` or end of input.
pub struct IoThreads {
    writer: Option<JoinHandle<()>>,
}

impl IoThreads {
    /// Waits until every message sent so far has been written and flushed.
    /// Call it after the server's [`Connection`] is dropped.
    pub fn join(mut self) {
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn log(text: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "gradlang lsp: {text}");
}

/// A connection whose far end is stdin/stdout.
pub fn stdio() -> (Connection, IoThreads) {
    let (server, client) = Connection::memory();
    let Connection {
        sender: to_server,
        receiver: from_server,
    } = client;
    // The reader is detached: it may be blocked on stdin when the server exits.
    let _ = std::thread::Builder::new()
        .name("lsp-reader".into())
        .spawn(move || {
            let stdin = io::stdin();
            let mut input = FrameReader::new(BufReader::new(stdin.lock()));
            loop {
                match input.next_frame() {
                    Ok(Frame::Message(msg)) => {
                        let is_exit =
                            matches!(&msg, Message::Notification(n) if n.method == "exit");
                        if to_server.send(msg).is_err() || is_exit {
                            break;
                        }
                    }
                    Ok(Frame::Malformed(why)) => {
                        log(&format!("skipping a malformed message: {why}"));
                    }
                    Ok(Frame::End) => break,
                    Err(e) => {
                        log(&format!("cannot read stdin: {e}"));
                        break;
                    }
                }
            }
        });
    let writer = std::thread::Builder::new()
        .name("lsp-writer".into())
        .spawn(move || {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            for msg in from_server {
                if write_message(&mut out, &msg).is_err() {
                    break;
                }
            }
        })
        .ok();
    (server, IoThreads { writer })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<String> {
        let mut r = FrameReader::new(input);
        let mut out = Vec::new();
        loop {
            match r.next_frame().unwrap() {
                Frame::Message(Message::Notification(n)) => out.push(n.method),
                Frame::Message(m) => out.push(format!("{m:?}")),
                Frame::Malformed(why) => out.push(format!("malformed: {why}")),
                Frame::End => return out,
            }
        }
    }

    #[test]
    fn malformed_frames_are_skipped_and_reading_resumes() {
        let body = r#"{"jsonrpc":"2.0","method":"a"}"#;
        let ok = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        let input = format!(
            "Content-Length: 1000000000000\r\n\r\n{body}\
             Content-Length: -5\r\n\r\n{body}\
             garbage\r\n\r\n{body}\
             {ok}\
             Content-Length: {}\n\n{body}\
             no colon here\r\n\r\n{ok}",
            body.len()
        );
        assert_eq!(
            frames(input.as_bytes()),
            [
                "malformed: Content-Length 1000000000000 is over the limit of 67108864 bytes",
                // `garbage` is skipped silently, up to the next header.
                "malformed: Content-Length `-5` is not a byte count",
                "a",
                "a",
                "malformed: expected a `Name: value` header, got `no colon here`",
                "a",
            ]
        );
    }
}
