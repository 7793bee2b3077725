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
/// Below this many elements in all, a pass runs on the calling thread: waking
/// the pool would cost more than it saves (results are the same either way).
const PARALLEL_MIN: usize = 1 << 16;

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
    update_all(
        opt,
        step.lr,
        step.t,
        &mut [ParamStep {
            theta,
            grad,
            state,
            decay: step.decay,
        }],
    );
}

/// One trained param's share of an optimizer step.
pub struct ParamStep<'a, T> {
    pub theta: &'a mut [T],
    /// Its gradient, already clipped.
    pub grad: &'a [T],
    pub state: &'a mut ParamState<T>,
    /// Whether this param gets weight decay.
    pub decay: bool,
}

/// Updates every param of `params` for step `t` (from 1) with learning rate
/// `lr`, as [`update`] does one: a single parallel loop over fixed chunks of
/// all of them (not one per param), inline when they are small.
pub fn update_all<T: Float>(opt: &Optimizer, lr: f64, t: u64, params: &mut [ParamStep<'_, T>]) {
    let total: usize = params.iter().map(|p| p.theta.len()).sum();
    let mut tasks = Vec::new();
    for ps in params.iter_mut() {
        let rule = Rule::new(opt, lr, t, ps.decay);
        let ParamState { m, v } = &mut *ps.state;
        let (mut ms, mut vs) = (m.chunks_mut(CHUNK), v.chunks_mut(CHUNK));
        for (p, g) in ps.theta.chunks_mut(CHUNK).zip(ps.grad.chunks(CHUNK)) {
            tasks.push(Task {
                rule,
                p,
                g,
                m: ms.next().unwrap_or_default(),
                v: vs.next().unwrap_or_default(),
            });
        }
    }
    if total >= PARALLEL_MIN {
        tasks.par_iter_mut().for_each(Task::run);
    } else {
        tasks.iter_mut().for_each(Task::run);
    }
}

/// The constants of one param's update rule in one step.
#[derive(Clone, Copy)]
enum Rule<T> {
    Sgd {
        lr: T,
        wd: T,
    },
    Momentum {
        lr: T,
        mu: T,
        wd: T,
        first: bool,
        nesterov: bool,
    },
    Adam {
        decoupled: bool,
        shrink: T,
        coupled: T,
        b1: T,
        b2: T,
        one_b1: T,
        one_b2: T,
        bc1: T,
        bc2: T,
        lr: T,
        eps: T,
    },
}

impl<T: Float> Rule<T> {
    fn new(opt: &Optimizer, lr: f64, t: u64, decay: bool) -> Self {
        let wd = if decay { opt.weight_decay } else { 0.0 };
        let c = |v: f64| T::from_f64(v);
        match opt.kind {
            OptimizerKind::Sgd if opt.momentum == 0.0 => Rule::Sgd {
                lr: c(lr),
                wd: c(wd),
            },
            OptimizerKind::Sgd => Rule::Momentum {
                lr: c(lr),
                mu: c(opt.momentum),
                wd: c(wd),
                first: t == 1,
                nesterov: opt.nesterov,
            },
            OptimizerKind::Adam | OptimizerKind::AdamW => {
                let decoupled = opt.kind == OptimizerKind::AdamW;
                let t = t as i32;
                Rule::Adam {
                    decoupled,
                    // AdamW first shrinks θ by lr·wd (decoupled decay); Adam
                    // adds wd·θ to the gradient.
                    shrink: c(1.0 - lr * wd),
                    coupled: c(if decoupled { 0.0 } else { wd }),
                    b1: c(opt.beta1),
                    b2: c(opt.beta2),
                    one_b1: c(1.0 - opt.beta1),
                    one_b2: c(1.0 - opt.beta2),
                    bc1: c(1.0 - opt.beta1.powi(t)),
                    bc2: c(1.0 - opt.beta2.powi(t)),
                    lr: c(lr),
                    eps: c(opt.eps),
                }
            }
        }
    }
}

/// A chunk of one param: its values, gradient and state (`m`, `v` empty when
/// the rule keeps none).
struct Task<'a, T> {
    rule: Rule<T>,
    p: &'a mut [T],
    g: &'a [T],
    m: &'a mut [T],
    v: &'a mut [T],
}

impl<T: Float> Task<'_, T> {
    fn run(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2. Vector lanes round exactly as scalar
            // operations do (and Rust never contracts to FMA), so both paths
            // give the same bits.
            return unsafe { self.apply_avx2() };
        }
        self.apply()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn apply_avx2(&mut self) {
        self.apply()
    }

    /// The rules as SPEC section 11 writes them, element by element.
    #[inline(always)]
    fn apply(&mut self) {
        match self.rule {
            Rule::Sgd { lr, wd } => {
                for (p, g) in self.p.iter_mut().zip(self.g) {
                    let g = *g + wd * *p;
                    *p = *p - lr * g;
                }
            }
            Rule::Momentum {
                lr,
                mu,
                wd,
                first,
                nesterov,
            } => {
                for ((p, g), b) in self.p.iter_mut().zip(self.g).zip(self.m.iter_mut()) {
                    let g = *g + wd * *p;
                    *b = if first { g } else { mu * *b + g };
                    let d = if nesterov { g + mu * *b } else { *b };
                    *p = *p - lr * d;
                }
            }
            Rule::Adam {
                decoupled,
                shrink,
                coupled,
                b1,
                b2,
                one_b1,
                one_b2,
                bc1,
                bc2,
                lr,
                eps,
            } => {
                let state = self.m.iter_mut().zip(self.v.iter_mut());
                for ((p, g), (m, v)) in self.p.iter_mut().zip(self.g).zip(state) {
                    if decoupled {
                        *p = *p * shrink;
                    }
                    let g = *g + coupled * *p;
                    *m = b1 * *m + one_b1 * g;
                    *v = b2 * *v + one_b2 * g * g;
                    let m_hat = *m / bc1;
                    let v_hat = *v / bc2;
                    *p = *p - lr * m_hat / (v_hat.sqrt() + eps);
                }
            }
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
    first_non_finite_of(&[values]).map(|(_, i, v)| (i, v))
}

/// The first non-finite element of the first of `grads` that has one:
/// (which, index, value). One parallel pass over fixed chunks of all of them,
/// inline when they are small.
pub fn first_non_finite_of<T: Float>(grads: &[&[T]]) -> Option<(usize, usize, f64)> {
    let chunks: Vec<(usize, usize, &[T])> = grads
        .iter()
        .enumerate()
        .flat_map(|(k, g)| {
            g.chunks(CHUNK)
                .enumerate()
                .map(move |(c, s)| (k, c * CHUNK, s))
        })
        .collect();
    let bad = |c: &(usize, usize, &[T])| has_non_finite(c.2);
    let total: usize = grads.iter().map(|g| g.len()).sum();
    let (k, start, s) = if total >= PARALLEL_MIN {
        chunks[chunks.par_iter().position_first(bad)?]
    } else {
        *chunks.iter().find(|c| bad(c))?
    };
    let i = s.iter().position(|v| !v.to_f64().is_finite())?;
    Some((k, start + i, s[i].to_f64()))
}

/// Whether `values` holds an infinity or a NaN: `x - x` is 0 for every finite
/// `x` and NaN otherwise, summed in eight lanes (a loop that vectorizes).
#[allow(clippy::eq_op)]
fn has_non_finite<T: Float>(values: &[T]) -> bool {
    let mut lanes = [T::zero(); 8];
    let mut rows = values.chunks_exact(8);
    for row in &mut rows {
        for (a, &v) in lanes.iter_mut().zip(row) {
            *a = *a + (v - v);
        }
    }
    let mut sum = T::zero();
    for &v in rows.remainder() {
        sum = sum + (v - v);
    }
    for a in lanes {
        sum = sum + a;
    }
    sum.is_nan()
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
        // Across several gradients: the first that has one.
        let ok = vec![0.5f32; 40_000];
        let mut bad = vec![0.5f32; 3];
        bad[2] = f32::NEG_INFINITY;
        let found = first_non_finite_of::<f32>(&[&ok, &bad, &v]);
        assert_eq!(found, Some((1, 2, f64::NEG_INFINITY)));
        assert_eq!(first_non_finite_of::<f32>(&[&ok, &ok[..7]]), None);
    }

    /// A value in [-1, 1) from an index (deterministic, no RNG crate).
    fn wobble(i: usize) -> f32 {
        let z = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        z as f32 / (1u64 << 23) as f32 - 1.0
    }

    #[test]
    fn one_update_of_many_chunked_params_equals_the_rule_element_by_element() {
        // Sizes across chunk boundaries, a param smaller than a chunk, one
        // without decay: the chunked, parallel update must give exactly the
        // bits of the rule applied to each element alone.
        let sizes = [2 * CHUNK + 7, 5, CHUNK];
        for (kind, given) in [
            (
                OptimizerKind::Adam,
                vec![("lr", 1e-2), ("weight_decay", 0.1)],
            ),
            (OptimizerKind::AdamW, vec![("lr", 1e-2)]),
            (OptimizerKind::Sgd, vec![("lr", 0.1), ("momentum", 0.9)]),
            (
                OptimizerKind::Sgd,
                vec![("lr", 0.1), ("weight_decay", 0.01)],
            ),
        ] {
            let o = opt(kind, &given);
            let mut theta: Vec<Vec<f32>> = sizes
                .iter()
                .enumerate()
                .map(|(k, &n)| (0..n).map(|i| wobble(i + 1000 * k)).collect())
                .collect();
            let grads: Vec<Vec<f32>> = sizes
                .iter()
                .enumerate()
                .map(|(k, &n)| (0..n).map(|i| wobble(i + 77 + 1000 * k)).collect())
                .collect();
            let mut states: Vec<ParamState<f32>> =
                sizes.iter().map(|&n| ParamState::new(&o, n)).collect();
            let mut want_theta = theta.clone();
            let mut want_states = states.clone();
            for t in 1..=3u64 {
                let mut steps: Vec<ParamStep<'_, f32>> = theta
                    .iter_mut()
                    .zip(&grads)
                    .zip(states.iter_mut())
                    .enumerate()
                    .map(|(k, ((theta, grad), state))| ParamStep {
                        theta,
                        grad,
                        state,
                        decay: k != 1,
                    })
                    .collect();
                update_all(&o, o.lr, t, &mut steps);
                for k in 0..sizes.len() {
                    let ParamState { m, v } = &mut want_states[k];
                    for i in 0..sizes[k] {
                        let rule = Rule::<f32>::new(&o, o.lr, t, k != 1);
                        let mut task = Task {
                            rule,
                            p: &mut want_theta[k][i..i + 1],
                            g: &grads[k][i..i + 1],
                            m: if m.is_empty() {
                                &mut []
                            } else {
                                &mut m[i..i + 1]
                            },
                            v: if v.is_empty() {
                                &mut []
                            } else {
                                &mut v[i..i + 1]
                            },
                        };
                        task.apply();
                    }
                }
            }
            assert_eq!(theta, want_theta, "{kind:?}");
            assert_eq!(states, want_states, "{kind:?}");
        }
    }
}
