//! Training (SPEC section 11): `gradlang train` fits a program's params to
//! data by minibatch gradient descent; `gradlang eval` measures them.
//!
//! - `data`: data sets, per-epoch orders, minibatches, the validation split.
//! - `graphs`: the lowered training-step and evaluation graphs, per batch size.
//! - `optim`: the optimizers' update rules and global-norm clipping.
//! - `fit`: the loop (steps, epochs, validation, early stopping).
//! - `profile`: where the loop's time goes (`gradlang train --profile`).
//! - `checkpoint`: saving and resuming runs (safetensors).
//! - `report`: what a run shows and writes (progress, records, logs, charts).
//!
//! The checker resolves the `train` statement into
//! [`crate::check::TrainSpec`]; nothing here reads the syntax tree.

pub mod checkpoint;
pub mod data;
pub mod fit;
pub mod graphs;
pub mod optim;
pub mod profile;
pub mod report;
