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

pub mod check;
pub mod cli;
pub mod data;
pub mod diagnostics;
pub mod graph;
pub mod lsp;
pub mod run;
pub mod syntax;
