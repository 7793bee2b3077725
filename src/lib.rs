//! gradlang: tensor programs and their derivatives, with shapes proven before
//! anything runs.
//!
//! The pipeline, one module per stage, each depending only on the ones before it:
//! [`syntax`] (text to tree) → [`check`] (names, layers, symbolic shapes).

pub mod check;
pub mod cli;
pub mod diagnostics;
pub mod syntax;
