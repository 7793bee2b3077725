//! gradlang: tensor programs and their derivatives.

pub mod graph;
