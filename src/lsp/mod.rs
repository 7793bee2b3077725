//! The language server (`gradlang lsp`): LSP 3.17 over stdio, JSON-RPC framed with
//! `Content-Length` by our own [`transport`], with the message types of
//! rust-analyzer's `lsp-server` and `lsp-types`.
//!
//! Invariants:
//! - It never evaluates a program and never touches a file: the only text it
//!   knows is what the client sends (`didOpen`/`didChange`), and every answer is
//!   computed from [`crate::check::check_source`], the same analysis as
//!   `gradlang check`.
//! - It survives anything a client sends: malformed frames are skipped (with a
//!   64 MiB cap on a body, and resynchronization at the next header), bad
//!   params get `InvalidParams`, unknown methods `MethodNotFound`, requests for
//!   documents it has not seen get `null`/empty answers, and a panic inside a
//!   handler becomes an `InternalError` response instead of a crash.
//! - Positions are LSP positions: 0-based lines, UTF-16 code units.
//!
//! - Checking runs on a worker thread; a newer change supersedes an older
//!   check, and only the current text's diagnostics are published.
//!
//! One file per job: [`transport`] (stdio framing), [`server`] (the loop,
//! dispatch and the checking thread), [`analysis`] (one checked document and
//! its symbol table), and one file per feature: [`diagnostics`], [`hover`],
//! [`definition`], [`completion`], [`symbols`], [`inlay`] (shapes inline),
//! [`actions`] (quick fixes), [`references`] (references, highlight, rename),
//! [`signature`], [`tokens`] (semantic tokens), [`formatting`] (`gradlang fmt`).

pub mod actions;
pub mod analysis;
pub mod completion;
pub mod definition;
pub mod diagnostics;
pub mod formatting;
pub mod hover;
pub mod inlay;
pub mod references;
pub mod server;
pub mod signature;
pub mod symbols;
pub mod tokens;
pub mod transport;

use std::process::ExitCode;

/// Runs the server on stdin/stdout until `exit`. Exit status 0 after a
/// `shutdown` request, 1 otherwise (LSP 3.17, `exit` notification).
///
/// The caller should run this on a thread with a large stack: checking recurses
/// over the syntax tree.
pub fn run_stdio() -> ExitCode {
    let (connection, io) = transport::stdio();
    let clean = server::serve(&connection);
    drop(connection);
    io.join();
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
