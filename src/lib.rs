//! gradlang: tensor programs and their derivatives, with shapes proven before
//! anything runs.
//!
//! The pipeline, one module per stage, each depending only on the ones before it:
//! [`syntax`] (text to tree) → [`check`] (names, layers, symbolic shapes) →
//! [`run`] (bind dimensions and values, lower to a [`graph`] of primitives) →
//! [`graph`] (autodiff as graph transformations, parallel evaluation).
//! [`data`] reads and writes `.npy`/`.npz` files and prints values; [`cli`] is
//! the only module that touches files, the terminal and the exit status; [`lsp`]
//! is the language server (`gradlang lsp`), which speaks LSP on stdin/stdout.
//!
//! Checking a program from Rust:
//!
//! ```
//! let src = "dim N = 64, D = 4096, M = 4096\n\
//!            input x: [N, D] = zeros\n\
//!            param W: [M, D] = zeros\n\
//!            y = x @ W\n";
//! let (_program, checked) = gradlang::check::check_source(src);
//! let error = &checked.diagnostics[0];
//! assert_eq!(error.code.as_str(), "E0302");
//! assert_eq!(error.help.as_deref(), Some("did you mean `W.T`? `x @ W.T` has shape [N, M]"));
//! ```

// A `Diagnostic` (about 136 bytes) is the error value of many functions: errors
// are rare, and boxing each would cost more code than the copies it saves.
#![allow(clippy::result_large_err)]

pub mod cancel;
pub mod check;
pub mod cli;
pub mod data;
pub mod diagnostics;
pub mod fmt;
pub mod graph;
pub mod lsp;
pub mod run;
pub mod show;
pub mod syntax;
pub mod train;
