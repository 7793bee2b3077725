//! Materialized (generalized) Jacobians and Hessians.
//!
//! `jacobian(y, x)` builds the VJP (or JVP, when `x` has fewer elements than `y`)
//! of `y` against a placeholder [`Op::Seed`] node, then appends one
//! [`Op::Jacobian`] node whose inputs are the *frontier*: the nodes the
//! seed-dependent part reads that do not depend on the seed themselves (forward
//! values, shared by every row). At evaluation the outer evaluator computes the
//! frontier once; the jacobian kernel then runs the seed-dependent part once per
//! one-hot seed, in parallel with rayon, and assembles rows (VJP) or columns (JVP).
//!
//! The size check (`--max-jacobian-bytes`) is the caller's: use
//! [`Graph::jacobian_elements`] before evaluating.

use super::eval::Plan;
use super::op::{JacobianMode, JacobianPlan, Op};
use super::pool::Pool;
use super::{numel, EvalError, Float, Graph, GraphError, NodeId, Value};
use ndarray::{Array2, ArrayD, IxDyn};
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

impl Graph {
    /// Number of elements of `jacobian(y, x)`: `numel(y) * numel(x)` (0 for unknown ids).
    pub fn jacobian_elements(&self, y: NodeId, x: NodeId) -> u128 {
        match (self.try_shape(y), self.try_shape(x)) {
            (Some(ys), Some(xs)) => {
                let count = |s: &[usize]| s.iter().map(|&d| d as u128).product::<u128>();
                count(ys) * count(xs)
            }
            _ => 0,
        }
    }

    /// The materialized generalized Jacobian `dy/dx`, shape `y ++ x`.
    pub fn jacobian(&mut self, y: NodeId, x: NodeId) -> Result<NodeId, GraphError> {
        self.deriving(|g| g.jacobian_inner(y, x))
    }

    fn jacobian_inner(&mut self, y: NodeId, x: NodeId) -> Result<NodeId, GraphError> {
        self.check_id(y)?;
        self.check_id(x)?;
        if self.dtype(x) != super::DType::Float {
            return Err(GraphError::IntDerivative { node: x });
        }
        if self.dtype(y) != super::DType::Float {
            return Err(GraphError::IntDerivative { node: y });
        }
        let y_shape = self.shape(y).to_vec();
        let x_shape = self.shape(x).to_vec();
        let mut out_shape = y_shape.clone();
        out_shape.extend_from_slice(&x_shape);
        let depends = x <= y && self.cone(y)[x.idx()];
        if !depends {
            return Ok(self.constant(0.0, out_shape));
        }
        let mode = if numel(&x_shape) < numel(&y_shape) {
            JacobianMode::Columns
        } else {
            JacobianMode::Rows
        };
        let (seed, result) = match mode {
            JacobianMode::Rows => {
                let s = self.push(
                    Op::Seed {
                        shape: y_shape.clone(),
                    },
                    vec![],
                )?;
                (s, self.vjp(y, x, s)?)
            }
            JacobianMode::Columns => {
                let s = self.push(
                    Op::Seed {
                        shape: x_shape.clone(),
                    },
                    vec![],
                )?;
                (s, self.jvp(y, x, s)?)
            }
        };
        let frontier = self.frontier(seed, result);
        let plan = JacobianPlan {
            mode,
            seed,
            result,
            y_shape,
            x_shape,
        };
        self.push(Op::Jacobian(Arc::new(plan)), frontier)
    }

    /// The Hessian of the scalar `y`: `jacobian(grad(y, x), x)`, shape `x ++ x`.
    pub fn hessian(&mut self, y: NodeId, x: NodeId) -> Result<NodeId, GraphError> {
        self.check_id(y)?;
        if !self.shape(y).is_empty() {
            return Err(GraphError::NonScalarOutput {
                op: "hessian",
                shape: self.shape(y).to_vec(),
            });
        }
        let g = self.grad(y, x)?;
        self.jacobian(g, x)
    }

    /// Nodes read by the seed-dependent part of `result`'s cone that do not depend on
    /// the seed (or `result` itself when it does not depend on the seed).
    fn frontier(&self, seed: NodeId, result: NodeId) -> Vec<NodeId> {
        if result < seed {
            return vec![result];
        }
        let (base, top) = (seed.idx(), result.idx());
        let cone = self.cone(result);
        let mut dep = vec![false; top - base + 1];
        dep[0] = true;
        for i in base + 1..=top {
            if cone[i] {
                dep[i - base] = self.nodes[i]
                    .inputs
                    .iter()
                    .any(|inp| inp.idx() >= base && dep[inp.idx() - base]);
            }
        }
        if !dep[top - base] {
            return vec![result];
        }
        let mut frontier = BTreeSet::new();
        for i in base..=top {
            if dep[i - base] && cone[i] {
                for &inp in &self.nodes[i].inputs {
                    if inp.idx() < base || !dep[inp.idx() - base] {
                        frontier.insert(inp);
                    }
                }
            }
        }
        frontier.into_iter().collect()
    }
}

/// The forward kernel of [`Op::Jacobian`]: `inputs` are the frontier values.
pub(crate) fn eval_jacobian<T: Float>(
    g: &Graph,
    node: NodeId,
    plan: &JacobianPlan,
    inputs: &[&Value<T>],
    pool: &Pool<T>,
) -> Result<Value<T>, EvalError> {
    let ids = g.inputs(node);
    if ids.len() != inputs.len() {
        return Err(EvalError::Internal("jacobian frontier arity".into()));
    }
    let frontier: HashMap<NodeId, &Value<T>> =
        ids.iter().copied().zip(inputs.iter().copied()).collect();
    let mut out_shape = plan.y_shape.clone();
    out_shape.extend_from_slice(&plan.x_shape);
    let seed_shape = g.shape(plan.seed).to_vec();
    let (ns, nr) = (numel(&seed_shape), numel(g.shape(plan.result)));
    if ns == 0 || nr == 0 {
        return Ok(Value::Float(ArrayD::zeros(IxDyn(&out_shape))));
    }
    let sub = Plan::new(g, &[plan.result], |n| {
        n == plan.seed || frontier.contains_key(&n)
    })?;
    let mut buf = vec![T::zero(); ns * nr];
    buf.par_chunks_mut(nr)
        .enumerate()
        .try_for_each(|(i, row)| -> Result<(), EvalError> {
            let mut e = ArrayD::<T>::zeros(IxDyn(&seed_shape));
            if let Some(s) = e.as_slice_mut() {
                s[i] = T::one();
            }
            let seed_val = Value::Float(e);
            let preset = |n: NodeId| {
                if n == plan.seed {
                    Some(&seed_val)
                } else {
                    frontier.get(&n).copied()
                }
            };
            let vals = sub.run(g, &preset, &|_| None, pool, None)?;
            let r = vals
                .first()
                .ok_or_else(|| EvalError::Internal("jacobian row produced no value".into()))?
                .float_or_err()?;
            if r.len() != nr {
                return Err(EvalError::Internal("jacobian row of the wrong size".into()));
            }
            for (d, s) in row.iter_mut().zip(r.iter()) {
                *d = *s;
            }
            Ok(())
        })?;
    let m = Array2::from_shape_vec((ns, nr), buf)
        .map_err(|e| EvalError::Internal(format!("jacobian assembly: {e}")))?;
    let m = match plan.mode {
        JacobianMode::Rows => m,
        JacobianMode::Columns => m.reversed_axes().as_standard_layout().into_owned(),
    };
    m.into_dyn()
        .into_shape_with_order(IxDyn(&out_shape))
        .map(Value::Float)
        .map_err(|e| EvalError::Internal(format!("jacobian assembly: {e}")))
}
