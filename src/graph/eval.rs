//! Demand-driven evaluation.
//!
//! A [`Plan`] is computed per call from the requested outputs: the nodes they need
//! (stopping at preset nodes: overrides, or a jacobian's seed and frontier), grouped
//! in levels (a node's level is one more than its inputs'; constants are placed just
//! before their first use), with the level after which each intermediate is dropped.
//! Running a plan binds leaves and presets by reference, computes every other node
//! with its kernel (the nodes of a level in parallel when the level is big enough:
//! independent nodes such as `dx` and `dW` of a product run at once) and frees values
//! after their last use. Every kernel is deterministic, so the schedule never changes
//! a result.

use super::kernels;
use super::op::Op;
use super::{numel, EvalError, Float, Graph, NodeId, Value};
use rayon::prelude::*;
use std::collections::HashMap;

/// Evaluates `outputs` of `g`.
///
/// - `leaves`: the value of each [`Graph::leaf`] needed (by node id); a needed leaf
///   without a value is [`EvalError::MissingLeaf`]; a value of the wrong shape or dtype
///   is [`EvalError::WrongShape`] / [`EvalError::WrongDType`].
/// - `overrides`: replaces the value of any node (leaf or intermediate); nodes only
///   needed through overridden nodes are not computed.
///
/// Results are returned in the order of `outputs`, in standard (row-major) layout.
pub fn evaluate<T: Float>(
    g: &Graph,
    leaves: &HashMap<NodeId, Value<T>>,
    outputs: &[NodeId],
    overrides: &HashMap<NodeId, Value<T>>,
) -> Result<Vec<Value<T>>, EvalError> {
    for &n in outputs.iter().chain(overrides.keys()) {
        if !g.contains(n) {
            return Err(EvalError::UnknownNode(n));
        }
    }
    let plan = Plan::new(g, outputs, |n| overrides.contains_key(&n))?;
    plan.run(g, &|n| overrides.get(&n), &|n| leaves.get(&n))
}

struct Step {
    node: NodeId,
    preset: bool,
    /// Local indices (into the step list) of the inputs.
    inputs: Vec<usize>,
    /// Rough cost estimate (elements written, times the inner dimension of products).
    work: usize,
}

/// A set of steps whose inputs all come from earlier levels: they may run at once.
struct Level {
    start: usize,
    end: usize,
    work: usize,
    /// Local indices whose value is dropped after this level.
    free: Vec<usize>,
}

/// Levels with at least two computed nodes and this much estimated work run their
/// nodes in parallel (each node's kernel is itself deterministic).
const PAR_LEVEL_WORK: usize = 1 << 16;

/// An evaluation schedule for a set of outputs.
pub(crate) struct Plan {
    /// Sorted by level, then by id (a topological order).
    steps: Vec<Step>,
    levels: Vec<Level>,
    outputs: Vec<usize>,
}

enum Slot<'a, T> {
    Empty,
    Borrowed(&'a Value<T>),
    Owned(Value<T>),
}

impl<T> Slot<'_, T> {
    fn get(&self) -> Result<&Value<T>, EvalError> {
        match self {
            Slot::Empty => Err(EvalError::Internal("value used after it was freed".into())),
            Slot::Borrowed(v) => Ok(v),
            Slot::Owned(v) => Ok(v),
        }
    }
}

fn check_value<T: Float>(g: &Graph, n: NodeId, v: &Value<T>) -> Result<(), EvalError> {
    let name = g.leaf_name(n).map(str::to_string);
    if v.dtype() != g.dtype(n) {
        return Err(EvalError::WrongDType {
            node: n,
            name,
            expected: g.dtype(n),
            found: v.dtype(),
        });
    }
    if v.shape() != g.shape(n) {
        return Err(EvalError::WrongShape {
            node: n,
            name,
            expected: g.shape(n).to_vec(),
            found: v.shape().to_vec(),
        });
    }
    Ok(())
}

fn work_estimate(g: &Graph, id: NodeId) -> usize {
    let node = g.node(id);
    let out = numel(&node.shape).max(1);
    match &node.op {
        Op::MatMul { trans_a, .. } => {
            let a = g.shape(node.inputs[0]);
            let k = if *trans_a {
                a[a.len() - 2]
            } else {
                a[a.len() - 1]
            };
            out.saturating_mul(k.max(1))
        }
        Op::Jacobian(_) => usize::MAX / 4,
        _ => out,
    }
}

impl Plan {
    /// Schedules `outputs`; nodes for which `is_preset` holds are bound, not computed.
    pub(crate) fn new(
        g: &Graph,
        outputs: &[NodeId],
        is_preset: impl Fn(NodeId) -> bool,
    ) -> Result<Plan, EvalError> {
        let Some(max) = outputs.iter().max() else {
            return Ok(Plan {
                steps: vec![],
                levels: vec![],
                outputs: vec![],
            });
        };
        if !g.contains(*max) {
            return Err(EvalError::UnknownNode(*max));
        }
        let top = max.idx();
        let mut need = vec![false; top + 1];
        for o in outputs {
            need[o.idx()] = true;
        }
        let mut preset = vec![false; top + 1];
        for i in (0..=top).rev() {
            if !need[i] {
                continue;
            }
            let id = NodeId(i as u32);
            if is_preset(id) {
                preset[i] = true;
                continue;
            }
            for inp in g.inputs(id) {
                need[inp.idx()] = true;
            }
        }
        // as-soon-as-possible levels...
        let mut level = vec![0usize; top + 1];
        let mut min_consumer = vec![usize::MAX; top + 1];
        for i in 0..=top {
            if !need[i] || preset[i] {
                continue;
            }
            let ins = g.inputs(NodeId(i as u32));
            level[i] = ins
                .iter()
                .map(|inp| level[inp.idx()] + 1)
                .max()
                .unwrap_or(0);
            for inp in ins {
                min_consumer[inp.idx()] = min_consumer[inp.idx()].min(level[i]);
            }
        }
        // ...except that constants are materialized just before their first use
        for i in 0..=top {
            if need[i]
                && !preset[i]
                && g.inputs(NodeId(i as u32)).is_empty()
                && min_consumer[i] != usize::MAX
            {
                level[i] = min_consumer[i].saturating_sub(1);
            }
        }
        let mut order: Vec<usize> = (0..=top).filter(|&i| need[i]).collect();
        order.sort_by_key(|&i| (level[i], i));
        let mut local = vec![usize::MAX; top + 1];
        for (k, &i) in order.iter().enumerate() {
            local[i] = k;
        }
        let steps: Vec<Step> = order
            .iter()
            .map(|&i| {
                let id = NodeId(i as u32);
                Step {
                    node: id,
                    preset: preset[i],
                    inputs: if preset[i] {
                        vec![]
                    } else {
                        g.inputs(id).iter().map(|inp| local[inp.idx()]).collect()
                    },
                    work: if preset[i] { 0 } else { work_estimate(g, id) },
                }
            })
            .collect();
        let outputs: Vec<usize> = outputs.iter().map(|o| local[o.idx()]).collect();
        // last level using each value; outputs are never freed
        let mut last_use: Vec<Option<usize>> = vec![None; steps.len()];
        for (k, s) in steps.iter().enumerate() {
            let l = level[order[k]];
            for &i in &s.inputs {
                last_use[i] = Some(last_use[i].map_or(l, |p: usize| p.max(l)));
            }
        }
        for &o in &outputs {
            last_use[o] = None;
        }
        let mut levels: Vec<Level> = Vec::new();
        for (k, s) in steps.iter().enumerate() {
            let l = level[order[k]];
            match levels.last_mut() {
                Some(last) if level[order[last.start]] == l => {
                    last.end = k + 1;
                    last.work = last.work.saturating_add(s.work);
                }
                _ => levels.push(Level {
                    start: k,
                    end: k + 1,
                    work: s.work,
                    free: vec![],
                }),
            }
        }
        let level_index: std::collections::HashMap<usize, usize> = levels
            .iter()
            .enumerate()
            .map(|(li, lv)| (level[order[lv.start]], li))
            .collect();
        for (k, lu) in last_use.iter().enumerate() {
            if let Some(li) = lu.and_then(|l| level_index.get(&l)) {
                levels[*li].free.push(k);
            }
        }
        Ok(Plan {
            steps,
            levels,
            outputs,
        })
    }

    /// Runs the plan. `preset` binds preset nodes; `leaves` binds leaf nodes.
    pub(crate) fn run<'a, T: Float>(
        &self,
        g: &Graph,
        preset: &dyn Fn(NodeId) -> Option<&'a Value<T>>,
        leaves: &dyn Fn(NodeId) -> Option<&'a Value<T>>,
    ) -> Result<Vec<Value<T>>, EvalError> {
        let mut slots: Vec<Slot<'a, T>> = (0..self.steps.len()).map(|_| Slot::Empty).collect();
        let mut computed: Vec<usize> = Vec::new();
        for lv in &self.levels {
            computed.clear();
            for (si, step) in self.steps.iter().enumerate().take(lv.end).skip(lv.start) {
                let id = step.node;
                if step.preset {
                    let v = preset(id).ok_or_else(|| {
                        EvalError::Internal(format!("no preset value for node {id}"))
                    })?;
                    check_value(g, id, v)?;
                    slots[si] = Slot::Borrowed(v);
                    continue;
                }
                match &g.node(id).op {
                    Op::Leaf { name, .. } => {
                        let v = leaves(id).ok_or_else(|| EvalError::MissingLeaf {
                            node: id,
                            name: name.clone(),
                        })?;
                        check_value(g, id, v)?;
                        slots[si] = Slot::Borrowed(v);
                    }
                    Op::Seed { .. } => {
                        return Err(EvalError::Internal(format!(
                            "jacobian seed {id} evaluated outside its jacobian"
                        )))
                    }
                    _ => computed.push(si),
                }
            }
            let compute = |si: usize| -> Result<Value<T>, EvalError> {
                let step = &self.steps[si];
                let ins = step
                    .inputs
                    .iter()
                    .map(|&i| slots[i].get())
                    .collect::<Result<Vec<_>, _>>()?;
                kernels::forward(g, step.node, &ins)
            };
            // nodes of one level never read each other, so all read `slots` as it is
            let values: Vec<Result<Value<T>, EvalError>> =
                if computed.len() >= 2 && lv.work >= PAR_LEVEL_WORK {
                    computed.par_iter().map(|&si| compute(si)).collect()
                } else {
                    computed.iter().map(|&si| compute(si)).collect()
                };
            for (&si, v) in computed.iter().zip(values) {
                slots[si] = Slot::Owned(v?);
            }
            for &f in &lv.free {
                slots[f] = Slot::Empty;
            }
        }
        let mut out = Vec::with_capacity(self.outputs.len());
        for (k, &o) in self.outputs.iter().enumerate() {
            let last = !self.outputs[k + 1..].contains(&o);
            let v = if last {
                match std::mem::replace(&mut slots[o], Slot::Empty) {
                    Slot::Owned(v) => v,
                    Slot::Borrowed(v) => v.clone(),
                    Slot::Empty => return Err(EvalError::Internal("output freed".into())),
                }
            } else {
                slots[o].get()?.clone()
            };
            out.push(v.into_standard());
        }
        Ok(out)
    }
}
