//! Demand-driven evaluation.
//!
//! A [`Plan`] is computed per call from the requested outputs: the nodes they need
//! (stopping at preset nodes: overrides, or a jacobian's seed and frontier), in id
//! (= topological) order, with the step after which each intermediate is dropped
//! (reference counts). Running a plan binds leaves and presets by reference, computes
//! every other node with its kernel and frees values after their last use.

use super::kernels;
use super::op::Op;
use super::{EvalError, Float, Graph, NodeId, Value};
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
    /// Local indices whose value is dropped after this step.
    free: Vec<usize>,
}

/// An evaluation schedule for a set of outputs.
pub(crate) struct Plan {
    steps: Vec<Step>,
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
        let mut local = vec![usize::MAX; top + 1];
        let mut steps = Vec::new();
        for i in 0..=top {
            if !need[i] {
                continue;
            }
            let id = NodeId(i as u32);
            local[i] = steps.len();
            let inputs = if preset[i] {
                vec![]
            } else {
                g.inputs(id).iter().map(|inp| local[inp.idx()]).collect()
            };
            steps.push(Step {
                node: id,
                preset: preset[i],
                inputs,
                free: vec![],
            });
        }
        let outputs: Vec<usize> = outputs.iter().map(|o| local[o.idx()]).collect();
        let mut remaining = vec![0usize; steps.len()];
        for s in &steps {
            for &i in &s.inputs {
                remaining[i] += 1;
            }
        }
        for &o in &outputs {
            remaining[o] = usize::MAX; // outputs are never freed
        }
        for s in steps.iter_mut() {
            for &i in &s.inputs {
                if remaining[i] == usize::MAX {
                    continue;
                }
                remaining[i] -= 1;
                if remaining[i] == 0 {
                    s.free.push(i);
                }
            }
        }
        Ok(Plan { steps, outputs })
    }

    /// Runs the plan. `preset` binds preset nodes; `leaves` binds leaf nodes.
    pub(crate) fn run<'a, T: Float>(
        &self,
        g: &Graph,
        preset: &dyn Fn(NodeId) -> Option<&'a Value<T>>,
        leaves: &dyn Fn(NodeId) -> Option<&'a Value<T>>,
    ) -> Result<Vec<Value<T>>, EvalError> {
        let mut slots: Vec<Slot<'a, T>> = (0..self.steps.len()).map(|_| Slot::Empty).collect();
        for (si, step) in self.steps.iter().enumerate() {
            let id = step.node;
            let slot = if step.preset {
                let v = preset(id)
                    .ok_or_else(|| EvalError::Internal(format!("no preset value for node {id}")))?;
                check_value(g, id, v)?;
                Slot::Borrowed(v)
            } else {
                match &g.node(id).op {
                    Op::Leaf { name, .. } => {
                        let v = leaves(id).ok_or_else(|| EvalError::MissingLeaf {
                            node: id,
                            name: name.clone(),
                        })?;
                        check_value(g, id, v)?;
                        Slot::Borrowed(v)
                    }
                    Op::Seed { .. } => {
                        return Err(EvalError::Internal(format!(
                            "jacobian seed {id} evaluated outside its jacobian"
                        )))
                    }
                    _ => {
                        let ins = step
                            .inputs
                            .iter()
                            .map(|&i| slots[i].get())
                            .collect::<Result<Vec<_>, _>>()?;
                        Slot::Owned(kernels::forward(g, id, &ins)?)
                    }
                }
            };
            slots[si] = slot;
            for &f in &step.free {
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
