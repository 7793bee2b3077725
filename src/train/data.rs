//! Training data: the inputs whose first axis is the example dimension, their
//! per-epoch order, minibatches gathered from it, and the validation split.
//!
//! Every order is a function of (seed, epoch) only, so a run repeats exactly
//! and a resumed run visits the same examples as one never interrupted.

use crate::graph::{Float, Value};
use crate::run::init::rng_for;
use ndarray::{ArrayD, IxDyn};

/// The data inputs of a training or evaluation set, each with the examples
/// along its first axis, in row-major layout.
#[derive(Clone, Debug)]
pub struct Dataset<T> {
    pub examples: usize,
    /// By leaf name (`x`, `labels`).
    pub columns: Vec<(String, Value<T>)>,
}

impl<T: Float> Dataset<T> {
    /// A data set of `columns`, which all hold `examples` rows.
    pub fn new(examples: usize, columns: Vec<(String, Value<T>)>) -> Self {
        let columns = columns
            .into_iter()
            .map(|(n, v)| (n, v.into_standard_layout()))
            .collect();
        Dataset { examples, columns }
    }

    /// The rows `indices` of every column, in that order: one minibatch.
    pub fn gather(&self, indices: &[usize]) -> Vec<(String, Value<T>)> {
        self.columns
            .iter()
            .map(|(name, v)| {
                let v = match v {
                    Value::Float(a) => Value::Float(gather_rows(a, indices)),
                    Value::Int(a) => Value::Int(gather_rows(a, indices)),
                };
                (name.clone(), v)
            })
            .collect()
    }

    /// The examples `indices` (ascending) as a data set of their own.
    pub fn subset(&self, indices: &[usize]) -> Dataset<T> {
        Dataset {
            examples: indices.len(),
            columns: self.gather(indices),
        }
    }
}

trait StandardLayout {
    fn into_standard_layout(self) -> Self;
}

impl<T: Float> StandardLayout for Value<T> {
    fn into_standard_layout(self) -> Self {
        match self {
            Value::Float(a) if a.is_standard_layout() => Value::Float(a),
            Value::Float(a) => Value::Float(a.as_standard_layout().into_owned()),
            Value::Int(a) if a.is_standard_layout() => Value::Int(a),
            Value::Int(a) => Value::Int(a.as_standard_layout().into_owned()),
        }
    }
}

/// Rows of a row-major array (axis 0), copied in the order given.
fn gather_rows<E: Copy>(a: &ArrayD<E>, indices: &[usize]) -> ArrayD<E> {
    let rows = a.shape()[0].max(1);
    let data = a.as_slice().expect("columns are kept in standard layout");
    let row = data.len() / rows;
    let mut out = Vec::with_capacity(indices.len() * row);
    for &i in indices {
        out.extend_from_slice(&data[i * row..(i + 1) * row]);
    }
    let mut shape = a.shape().to_vec();
    shape[0] = indices.len();
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("rows times row length")
}

/// The order in which epoch `epoch` (from 1) visits `n` examples: a seeded
/// Fisher-Yates shuffle, or `0..n` without shuffling.
pub fn epoch_order(n: usize, seed: u64, epoch: usize, shuffle: bool) -> Vec<usize> {
    if shuffle {
        shuffled(n, seed, &format!("shuffle/epoch-{epoch}"))
    } else {
        (0..n).collect()
    }
}

/// `0..n` in a seeded random order (Fisher-Yates on the stream `stream`).
fn shuffled(n: usize, seed: u64, stream: &str) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rng_for(seed, stream);
    for i in (1..n).rev() {
        let j = (rng.uniform() * (i + 1) as f64) as usize;
        order.swap(i, j.min(i));
    }
    order
}

/// `--val-split f`: a seeded random `f` of the examples held out (at least
/// one, and at least one left to train on). Returns (train, validation)
/// indices, each ascending.
pub fn split_indices(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let held = ((n as f64 * fraction).round() as usize).clamp(1, n.saturating_sub(1));
    let order = shuffled(n, seed, "val-split");
    let mut val = order[..held].to_vec();
    let mut train = order[held..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    (train, val)
}

/// The minibatches of one epoch: consecutive slices of the order, the last
/// one smaller unless it is dropped.
pub fn batches(order: &[usize], batch_size: usize, drop_last: bool) -> Vec<&[usize]> {
    order
        .chunks(batch_size.max(1))
        .filter(|b| !drop_last || b.len() == batch_size)
        .collect()
}

/// Steps per epoch for `n` examples.
pub fn steps_per_epoch(n: usize, batch_size: usize, drop_last: bool) -> u64 {
    let b = batch_size.max(1);
    (if drop_last { n / b } else { n.div_ceil(b) }) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_depend_on_seed_and_epoch_only() {
        let a = epoch_order(100, 7, 3, true);
        assert_eq!(a, epoch_order(100, 7, 3, true));
        assert_ne!(a, epoch_order(100, 7, 4, true));
        assert_ne!(a, epoch_order(100, 8, 3, true));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(epoch_order(5, 7, 3, false), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn batches_keep_or_drop_the_last() {
        let order: Vec<usize> = (0..10).collect();
        let kept = batches(&order, 4, false);
        assert_eq!(kept.iter().map(|b| b.len()).collect::<Vec<_>>(), [4, 4, 2]);
        assert_eq!(batches(&order, 4, true).len(), 2);
        assert_eq!(steps_per_epoch(10, 4, false), 3);
        assert_eq!(steps_per_epoch(10, 4, true), 2);
    }

    #[test]
    fn the_validation_split_is_random_and_disjoint() {
        let (train, val) = split_indices(1000, 0.2, 0);
        assert_eq!((train.len(), val.len()), (800, 200));
        // Not the last rows (Keras's validation_split takes those).
        assert!(val.iter().any(|&i| i < 500));
        let mut all = [train, val].concat();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn gather_copies_rows_in_order() {
        let a = ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![0, 1, 2, 3, 4, 5]).unwrap();
        let g = gather_rows(&a, &[2, 0]);
        assert_eq!(g.shape(), &[2, 2]);
        assert_eq!(g.as_slice().unwrap(), &[4, 5, 0, 1]);
    }
}
