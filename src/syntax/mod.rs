//! Syntax: source text to a tree with spans (SPEC sections 2-6).
//!
//! Knows nothing of shapes or values. Parsing never fails: it returns a tree plus
//! diagnostics, recovering statement by statement.

pub mod ast;
mod parser;

pub use parser::{parse, parse_unless, Parsed, KEYWORDS, MAX_BRACKET_DEPTH, MAX_EXPR_DEPTH};
