//! Stdio transport: `Content-Length` framed JSON-RPC on stdin/stdout.
//!
//! `lsp-server`'s own stdio transport stops reading at the first malformed
//! frame; this one reports the frame on stderr and goes on with the next, so a
//! client bug cannot take the server down. Messages travel over the in-memory
//! channels of [`lsp_server::Connection::memory`].

use lsp_server::{Connection, Message};
use std::io::{BufReader, ErrorKind, Write};
use std::thread::JoinHandle;

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
            let stdin = std::io::stdin();
            let mut input = BufReader::new(stdin.lock());
            loop {
                match Message::read(&mut input) {
                    Ok(Some(msg)) => {
                        let is_exit =
                            matches!(&msg, Message::Notification(n) if n.method == "exit");
                        if to_server.send(msg).is_err() || is_exit {
                            break;
                        }
                    }
                    Ok(None) => break,
                    // A bad header or a body that is not a JSON-RPC message:
                    // the frame is consumed, so reading can go on.
                    Err(e) if e.kind() == ErrorKind::InvalidData => {
                        eprintln!("gradlang lsp: skipping a malformed message: {e}");
                    }
                    Err(e) => {
                        eprintln!("gradlang lsp: cannot read stdin: {e}");
                        break;
                    }
                }
            }
        });
    let writer = std::thread::Builder::new()
        .name("lsp-writer".into())
        .spawn(move || {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for msg in from_server {
                if msg.write(&mut out).is_err() {
                    break;
                }
            }
            let _ = out.flush();
        })
        .ok();
    (server, IoThreads { writer })
}
