//! The optimizers' update rules, exactly as SPEC section 11 writes them
//! (PyTorch's `torch.optim` formulas and defaults), and global-norm clipping.
//!
//! Every rule is elementwise, so the parallel loops below give the same bits
//! for any thread count; the one reduction (the global norm) sums fixed-size
//! chunks and then the chunk sums in order.

use crate::check::train::spec::{Optimizer, OptimizerKind};
use crate::graph::Float;
use rayon::prelude::*;

/// Elements per parallel task (fixed: results never depend on the pool).
const CHUNK: usize = 1 << 14;

/// One trained param's optimizer state: Adam's `m` and `v`, or SGD's momentum
/// buffer in `m` (`v` empty). Empty buffers stand for zeros not yet created.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamState<T> {
    pub m: Vec<T>,
    pub v: Vec<T>,
}

impl<T: Float> ParamState<T> {
    /// Fresh state for a param of `n` elements.
    pub fn new(opt: &Optimizer, n: usize) -> Self {
        let names = opt.state_names();
        let zeros = |k: usize| {
            if names.len() > k {
                vec![T::zero(); n]
            } else {
                Vec::new()
            }
        };
        ParamState {
            m: zeros(0),
            v: zeros(1),
        }
    }

    /// The state tensors by their checkpoint names (`m`, `v` or `b`).
    pub fn named(&self, opt: &Optimizer) -> Vec<(&'static str, &[T])> {
        let names = opt.state_names();
        let buffers: [&[T]; 2] = [&self.m, &self.v];
        names.iter().zip(buffers).map(|(n, b)| (*n, b)).collect()
    }

    pub fn named_mut(&mut self, opt: &Optimizer) -> Vec<(&'static str, &mut Vec<T>)> {
        let names = opt.state_names();
        let buffers: [&mut Vec<T>; 2] = [&mut self.m, &mut self.v];
        names.iter().zip(buffers).map(|(n, b)| (*n, b)).collect()
    }
}

/// What one update of one param needs besides the values.
#[derive(Clone, Copy, Debug)]
pub struct StepInfo {
    /// The learning rate of this step (after the schedule).
    pub lr: f64,
    /// The step number, from 1 (Adam's bias correction, SGD's first momentum).
    pub t: u64,
    /// Whether this param gets weight decay.
    pub decay: bool,
}

/// Updates `theta` in place from its gradient `grad` (already clipped).
pub fn update<T: Float>(
    opt: &Optimizer,
    step: StepInfo,
    theta: &mut [T],
    grad: &[T],
    state: &mut ParamState<T>,
) {
    let wd = if step.decay { opt.weight_decay } else { 0.0 };
    let c = |v: f64| T::from_f64(v);
    match opt.kind {
        OptimizerKind::Sgd => {
            let (lr, mu, wd) = (c(step.lr), c(opt.momentum), c(wd));
            let first = step.t == 1;
            if opt.momentum == 0.0 {
                par_zip2(theta, grad, |p, g| {
                    let g = *g + wd * *p;
                    *p = *p - lr * g;
                });
                return;
            }
            let nesterov = opt.nesterov;
            par_zip3(theta, grad, &mut state.m, |p, g, b| {
                let g = *g + wd * *p;
                *b = if first { g } else { mu * *b + g };
                let d = if nesterov { g + mu * *b } else { *b };
                *p = *p - lr * d;
            });
        }
        OptimizerKind::Adam | OptimizerKind::AdamW => {
            let decoupled = opt.kind == OptimizerKind::AdamW;
            let t = step.t as i32;
            let bc1 = 1.0 - opt.beta1.powi(t);
            let bc2 = 1.0 - opt.beta2.powi(t);
            let (b1, b2) = (c(opt.beta1), c(opt.beta2));
            let (one_b1, one_b2) = (c(1.0 - opt.beta1), c(1.0 - opt.beta2));
            let (lr, eps) = (c(step.lr), c(opt.eps));
            let (bc1, bc2) = (c(bc1), c(bc2));
            // AdamW first shrinks θ by lr·wd (decoupled decay); Adam adds wd·θ
            // to the gradient.
            let shrink = c(1.0 - step.lr * wd);
            let coupled = c(if decoupled { 0.0 } else { wd });
            let ParamState { m, v } = state;
            par_zip4(theta, grad, m, v, |p, g, m, v| {
                if decoupled {
                    *p = *p * shrink;
                }
                let g = *g + coupled * *p;
                *m = b1 * *m + one_b1 * g;
                *v = b2 * *v + one_b2 * g * g;
                let m_hat = *m / bc1;
                let v_hat = *v / bc2;
                *p = *p - lr * m_hat / (v_hat.sqrt() + eps);
            });
        }
    }
}

/// The global Euclidean norm of all gradients, in f64, the same for any
/// thread count.
pub fn global_norm<T: Float>(grads: &[&[T]]) -> f64 {
    let mut total = 0.0f64;
    for g in grads {
        let partial: Vec<f64> = g
            .par_chunks(CHUNK)
            .map(|c| c.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>())
            .collect();
        total += partial.iter().sum::<f64>();
    }
    total.sqrt()
}

/// PyTorch's `clip_grad_norm_` factor: `min(1, c / (norm + 1e-6))`.
pub fn clip_factor(max_norm: f64, norm: f64) -> f64 {
    (max_norm / (norm + 1e-6)).min(1.0)
}

/// Multiplies a gradient by `factor` in place.
pub fn scale<T: Float>(grad: &mut [T], factor: f64) {
    let f = T::from_f64(factor);
    grad.par_chunks_mut(CHUNK)
        .for_each(|c| c.iter_mut().for_each(|v| *v = *v * f));
}

/// The first non-finite element of `values` (index, value), if any.
pub fn first_non_finite<T: Float>(values: &[T]) -> Option<(usize, f64)> {
    let chunk = values
        .par_chunks(CHUNK)
        .position_first(|c| c.iter().any(|v| !v.to_f64().is_finite()))?;
    let start = chunk * CHUNK;
    values[start..]
        .iter()
        .position(|v| !v.to_f64().is_finite())
        .map(|i| (start + i, values[start + i].to_f64()))
}

fn par_zip2<T: Float>(a: &mut [T], b: &[T], f: impl Fn(&mut T, &T) + Sync) {
    a.par_chunks_mut(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(x, y)| f(x, y)));
}

fn par_zip3<T: Float>(a: &mut [T], b: &[T], c: &mut [T], f: impl Fn(&mut T, &T, &mut T) + Sync) {
    a.par_chunks_mut(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .zip(c.par_chunks_mut(CHUNK))
        .for_each(|((a, b), c)| {
            for ((x, y), z) in a.iter_mut().zip(b).zip(c) {
                f(x, y, z)
            }
        });
}

fn par_zip4<T: Float>(
    a: &mut [T],
    b: &[T],
    c: &mut [T],
    d: &mut [T],
    f: impl Fn(&mut T, &T, &mut T, &mut T) + Sync,
) {
    a.par_chunks_mut(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .zip(c.par_chunks_mut(CHUNK))
        .zip(d.par_chunks_mut(CHUNK))
        .for_each(|(((a, b), c), d)| {
            for (((x, y), z), w) in a.iter_mut().zip(b).zip(c).zip(d) {
                f(x, y, z, w)
            }
        });
}

#[cfg(test)]
mod tests {
    //! Each rule against values computed by hand from SPEC section 11's formulas.
    use super::*;
    use crate::check::train::spec::{resolve_optimizer, OptimizerKind};

    fn opt(kind: OptimizerKind, given: &[(&'static str, f64)]) -> Optimizer {
        resolve_optimizer(kind, given).unwrap()
    }

    fn run(o: &Optimizer, theta0: f64, grads: &[f64], decay: bool) -> Vec<f64> {
        let mut theta = vec![theta0];
        let mut state = ParamState::<f64>::new(o, 1);
        let mut out = Vec::new();
        for (i, g) in grads.iter().enumerate() {
            let step = StepInfo {
                lr: o.lr,
                t: i as u64 + 1,
                decay,
            };
            update(o, step, &mut theta, &[*g], &mut state);
            out.push(theta[0]);
        }
        out
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-14 * y.abs().max(1.0), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn plain_sgd_with_weight_decay() {
        let o = opt(OptimizerKind::Sgd, &[("lr", 0.1), ("weight_decay", 0.5)]);
        // g' = g + 0.5 θ; θ -= 0.1 g'
        let t1 = 1.0 - 0.1 * (2.0 + 0.5 * 1.0);
        let t2 = t1 - 0.1 * (-1.0 + 0.5 * t1);
        close(&run(&o, 1.0, &[2.0, -1.0], true), &[t1, t2]);
        // Not decayed: plain steps.
        close(&run(&o, 1.0, &[2.0, -1.0], false), &[0.8, 0.9]);
    }

    #[test]
    fn sgd_momentum_and_nesterov() {
        let o = opt(OptimizerKind::Sgd, &[("lr", 0.1), ("momentum", 0.9)]);
        // b1 = g1 = 2; θ1 = 1 - 0.2 = 0.8; b2 = 0.9·2 + 1 = 2.8; θ2 = 0.8 - 0.28
        close(&run(&o, 1.0, &[2.0, 1.0], false), &[0.8, 0.8 - 0.28]);
        let n = opt(
            OptimizerKind::Sgd,
            &[("lr", 0.1), ("momentum", 0.9), ("nesterov", 1.0)],
        );
        // b1 = 2, d1 = 2 + 0.9·2 = 3.8; b2 = 2.8, d2 = 1 + 0.9·2.8 = 3.52
        close(
            &run(&n, 1.0, &[2.0, 1.0], false),
            &[1.0 - 0.38, 1.0 - 0.38 - 0.352],
        );
    }

    #[test]
    fn adam_and_adamw() {
        let (lr, b1, b2, eps) = (0.01, 0.9, 0.999, 1e-8);
        let adam = opt(OptimizerKind::Adam, &[("lr", lr), ("weight_decay", 0.1)]);
        // Step 1 with g' = g + 0.1 θ.
        let theta0 = 2.0;
        let g1 = 0.5 + 0.1 * theta0;
        let m1 = (1.0 - b1) * g1;
        let v1 = (1.0 - b2) * g1 * g1;
        let t1 = theta0 - lr * (m1 / (1.0 - b1)) / ((v1 / (1.0 - b2)).sqrt() + eps);
        let g2 = -0.25 + 0.1 * t1;
        let m2 = b1 * m1 + (1.0 - b1) * g2;
        let v2 = b2 * v1 + (1.0 - b2) * g2 * g2;
        let t2 = t1 - lr * (m2 / (1.0 - b1 * b1)) / ((v2 / (1.0 - b2 * b2)).sqrt() + eps);
        close(&run(&adam, theta0, &[0.5, -0.25], true), &[t1, t2]);

        let adamw = opt(OptimizerKind::AdamW, &[("lr", lr), ("weight_decay", 0.1)]);
        // θ -= lr·wd·θ first, then Adam without decay in the gradient.
        let s1 = theta0 - lr * 0.1 * theta0;
        let m1 = (1.0 - b1) * 0.5;
        let v1 = (1.0 - b2) * 0.25;
        let w1 = s1 - lr * (m1 / (1.0 - b1)) / ((v1 / (1.0 - b2)).sqrt() + eps);
        close(&run(&adamw, theta0, &[0.5], true), &[w1]);
        // Excluded from decay: the plain Adam step.
        let a1 = theta0 - lr * (m1 / (1.0 - b1)) / ((v1 / (1.0 - b2)).sqrt() + eps);
        close(&run(&adamw, theta0, &[0.5], false), &[a1]);
    }

    #[test]
    fn clipping_uses_the_global_norm() {
        let a = [3.0f64, 0.0];
        let b = [4.0f64];
        let norm = global_norm::<f64>(&[&a, &b]);
        assert_eq!(norm, 5.0);
        assert!((clip_factor(1.0, norm) - 1.0 / (5.0 + 1e-6)).abs() < 1e-16);
        assert_eq!(clip_factor(10.0, norm), 1.0);
    }

    #[test]
    fn the_first_non_finite_value_is_found() {
        let mut v = vec![1.0f32; 100_000];
        assert_eq!(first_non_finite(&v), None);
        v[70_001] = f32::NAN;
        v[90_000] = f32::INFINITY;
        assert_eq!(first_non_finite(&v).map(|(i, _)| i), Some(70_001));
    }
}
