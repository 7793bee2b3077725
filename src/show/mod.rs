//! Seeing the derivatives (SPEC section 12): `backward.rs` prints the program
//! with every derivative replaced by the steps computing it, on a small
//! simplifying expression IR (`expr.rs`); `draw.rs` draws the graph as DOT and,
//! laid out by `layout-rs`, as SVG.
//!
//! Both read a lowered program and never evaluate it.

pub mod backward;
pub mod draw;
mod expr;

pub use backward::{print_backward, UnknownName};
