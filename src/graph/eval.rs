//! Demand-driven evaluation.
//!
//! A [`Plan`] is computed once per set of requested outputs: the nodes they need
//! (stopping at preset nodes: overrides, or a jacobian's seed and frontier), grouped
//! in two stages and, within a stage, in levels (a node's level is one more than its
//! inputs'; constants are placed just before their first use), with the group after
//! which each intermediate is dropped. The first stage holds the forward pass: nodes
//! not created by a derivative and not computed from one; the second holds
//! everything else (the backward pass, and whatever uses its results). Running a
//! plan binds leaves and presets by reference, computes every other node with its
//! kernel (the nodes of a group concurrently on rayon when the group holds enough
//! work: independent nodes such as `dx` and `dW` of a product run at once, each
//! kernel itself splitting across the same pool) and frees values after their last
//! use. Every kernel is deterministic, so the schedule never changes a result.
//! At plan time (a function of the graph only), a binary elementwise node read only
//! by another is computed inside it (`Step::fused`).
//!
//! Per node at run time the evaluator does no hashing, no string lookup and no
//! allocation beyond the value it produces (inputs of up to three operands are
//! gathered on the stack). A [`Schedule`] keeps a plan for repeated runs
//! (`gradlang run --repeat`), optionally filling a [`Profile`].

use super::kernels;
use super::op::Op;
use super::pool::{Pool, Pools};
use super::{numel, EvalError, Float, Graph, NodeId, Value};
use rayon::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

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
    let pool = Pool::new();
    plan.run(g, &|n| overrides.get(&n), &|n| leaves.get(&n), &pool, None)
}

/// A plan kept for repeated evaluation of the same outputs (no overrides).
pub struct Schedule {
    plan: Plan,
    /// Buffers freed by earlier runs (and recycled outputs), reused by later ones.
    pools: Pools,
}

impl Schedule {
    pub fn new(g: &Graph, outputs: &[NodeId]) -> Result<Schedule, EvalError> {
        for &n in outputs {
            if !g.contains(n) {
                return Err(EvalError::UnknownNode(n));
            }
        }
        Ok(Schedule {
            plan: Plan::new(g, outputs, |_| false)?,
            pools: Pools::default(),
        })
    }

    /// Evaluates the outputs, as [`evaluate`] does; with `profile`, adds this run's
    /// phase times and per-primitive kernel times to it.
    pub fn run<T: Float>(
        &self,
        g: &Graph,
        leaves: &HashMap<NodeId, Value<T>>,
        profile: Option<&mut Profile>,
    ) -> Result<Vec<Value<T>>, EvalError> {
        self.plan
            .run(g, &|_| None, &|n| leaves.get(&n), self.pools.get(), profile)
    }

    /// The most bytes the values a run computes hold at once, for elements of
    /// `float_bytes` (leaves and presets excluded: they exist already; kernels'
    /// scratch space aside). Known before running, so a run that cannot fit
    /// in memory is refused instead of aborting midway.
    pub fn peak_bytes(&self, g: &Graph, float_bytes: u128) -> u128 {
        self.plan.peak_bytes(g, float_bytes)
    }

    /// Hands the values of a finished run back, so that the next run reuses their
    /// buffers instead of allocating (as a training loop keeps its gradient buffers).
    pub fn recycle<T: Float>(&self, values: Vec<Value<T>>) {
        let pool = self.pools.get::<T>();
        for v in values {
            pool.give_value(v);
        }
    }
}

/// Time spent in one primitive over the runs a [`Profile`] saw.
#[derive(Clone, Debug)]
pub struct OpStat {
    pub name: &'static str,
    /// Kernel calls.
    pub count: u64,
    /// Kernel time, summed over calls (calls that ran concurrently overlap).
    pub time: Duration,
}

/// What a profiled run measured: wall time of the forward and backward stages, and
/// (when `kernels` is set) the kernel time of each primitive. Timing every kernel
/// costs two clock reads per node, so phase times are best taken without it.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub kernels: bool,
    pub forward: Duration,
    pub backward: Duration,
    pub ops: Vec<OpStat>,
}

impl Profile {
    fn record(&mut self, name: &'static str, t: Duration) {
        match self.ops.iter_mut().find(|o| std::ptr::eq(o.name, name)) {
            Some(o) => {
                o.count += 1;
                o.time += t;
            }
            None => self.ops.push(OpStat {
                name,
                count: 1,
                time: t,
            }),
        }
    }
}

struct Step {
    node: NodeId,
    preset: bool,
    /// Local indices (into the step list) of the inputs.
    inputs: Vec<usize>,
    /// Rough cost estimate (elements written, times the inner dimension of products).
    work: usize,
    /// An elementwise pair computed in one pass (see [`kernels::Fused`]); `inputs`
    /// are then the outer node's other operand and the inner node's two.
    fused: Option<kernels::Fused>,
}

/// A set of steps whose inputs all come from earlier groups: they may run at once.
struct Level {
    start: usize,
    end: usize,
    work: usize,
    /// 0: forward stage; 1: backward stage.
    stage: u8,
    /// Local indices whose value is dropped after this group.
    free: Vec<usize>,
}

/// Groups with at least two computed nodes and this much estimated work run their
/// nodes concurrently (each node's kernel is itself deterministic).
const PAR_LEVEL_WORK: usize = 1 << 16;

/// An evaluation schedule for a set of outputs.
pub(crate) struct Plan {
    /// Sorted by stage, level, then id (a topological order).
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
    #[inline]
    fn get(&self) -> Result<&Value<T>, EvalError> {
        match self {
            Slot::Empty => Err(EvalError::Internal("value used after it was freed".into())),
            Slot::Borrowed(v) => Ok(v),
            Slot::Owned(v) => Ok(v),
        }
    }
}

impl Plan {
    fn peak_bytes(&self, g: &Graph, float_bytes: u128) -> u128 {
        let bytes = |i: usize| -> u128 {
            let step = &self.steps[i];
            if step.preset || matches!(g.op(step.node), Some(Op::Leaf { .. })) {
                return 0;
            }
            let element = match g.dtype(step.node) {
                super::DType::Int => 8,
                super::DType::Float => float_bytes,
            };
            numel(g.shape(step.node)) as u128 * element
        };
        let (mut live, mut peak) = (0u128, 0u128);
        for level in &self.levels {
            live += (level.start..level.end).map(bytes).sum::<u128>();
            peak = peak.max(live);
            for &i in &level.free {
                live = live.saturating_sub(bytes(i));
            }
        }
        peak
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
        Op::Conv2d(win) | Op::Conv2dWeightGrad(win) | Op::Conv2dInputGrad { win, .. } => {
            let w = g.shape(node.inputs[1]);
            out.saturating_mul(win.size[0] * win.size[1] * w.get(2).copied().unwrap_or(1))
        }
        _ => out,
    }
}

/// Runs the kernel of `step`, gathering its inputs (on the stack for up to three).
#[inline]
fn compute_step<T: Float>(
    g: &Graph,
    step: &Step,
    slots: &[Slot<'_, T>],
    pool: &Pool<T>,
) -> Result<Value<T>, EvalError> {
    let n = step.inputs.len();
    if let Some(f) = step.fused {
        let v = [
            slots[step.inputs[0]].get()?,
            slots[step.inputs[1]].get()?,
            slots[step.inputs[2]].get()?,
        ];
        return kernels::fused(g, step.node, f, &v, pool);
    }
    if n == 0 {
        return kernels::forward(g, step.node, &[], pool);
    }
    if n <= 3 {
        let first = slots[step.inputs[0]].get()?;
        let mut arr: [&Value<T>; 3] = [first; 3];
        for (k, &i) in step.inputs.iter().enumerate().skip(1) {
            arr[k] = slots[i].get()?;
        }
        return kernels::forward(g, step.node, &arr[..n], pool);
    }
    let ins = step
        .inputs
        .iter()
        .map(|&i| slots[i].get())
        .collect::<Result<Vec<_>, _>>()?;
    kernels::forward(g, step.node, &ins, pool)
}

/// A fused pair per node: the kernel and the three operands it reads.
type Fusions = Vec<Option<(kernels::Fused, [NodeId; 3])>>;

/// Which nodes a plan computes (`need`) and which it is given (`preset`).
struct Needed {
    need: Vec<bool>,
    preset: Vec<bool>,
}

impl Plan {
    /// Schedules `outputs`; nodes for which `is_preset` holds are bound, not computed.
    ///
    /// The passes, in order: the nodes the outputs need; fused elementwise pairs;
    /// each node's stage (forward or backward) and level; the order of steps;
    /// the groups of steps that may run at once; and where each value is freed.
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
        let mut needed = needed_nodes(g, outputs, max.idx(), is_preset);
        let fused = fuse_pairs(g, outputs, &mut needed);
        let inputs_of = |i: usize| -> &[NodeId] {
            match &fused[i] {
                Some((_, ins)) => ins,
                None => g.inputs(NodeId(i as u32)),
            }
        };
        let (stage, level) = stages_and_levels(g, &needed, &fused, &inputs_of);
        let mut order: Vec<usize> = (0..needed.need.len()).filter(|&i| needed.need[i]).collect();
        order.sort_by_key(|&i| (stage[i], level[i], i));
        let mut local = vec![usize::MAX; needed.need.len()];
        for (k, &i) in order.iter().enumerate() {
            local[i] = k;
        }
        let steps: Vec<Step> = order
            .iter()
            .map(|&i| {
                let id = NodeId(i as u32);
                let preset = needed.preset[i];
                Step {
                    node: id,
                    preset,
                    inputs: if preset {
                        vec![]
                    } else {
                        inputs_of(i).iter().map(|inp| local[inp.idx()]).collect()
                    },
                    work: if preset { 0 } else { work_estimate(g, id) },
                    fused: fused[i].as_ref().map(|(f, _)| *f),
                }
            })
            .collect();
        let outputs: Vec<usize> = outputs.iter().map(|o| local[o.idx()]).collect();
        let keys: Vec<(u8, usize)> = order.iter().map(|&i| (stage[i], level[i])).collect();
        let (mut levels, group_of) = group_levels(&steps, &keys);
        free_after_last_use(&steps, &outputs, &group_of, &mut levels);
        Ok(Plan {
            steps,
            levels,
            outputs,
        })
    }

    /// Runs the plan. `preset` binds preset nodes; `leaves` binds leaf nodes. With
    /// `profile`, the wall time of each stage and the time of every kernel are added.
    pub(crate) fn run<'a, T: Float>(
        &self,
        g: &Graph,
        preset: &dyn Fn(NodeId) -> Option<&'a Value<T>>,
        leaves: &dyn Fn(NodeId) -> Option<&'a Value<T>>,
        pool: &Pool<T>,
        mut profile: Option<&mut Profile>,
    ) -> Result<Vec<Value<T>>, EvalError> {
        let mut slots: Vec<Slot<'a, T>> = (0..self.steps.len()).map(|_| Slot::Empty).collect();
        let mut computed: Vec<usize> = Vec::new();
        let mut stage_start = Instant::now();
        let mut stage = 0u8;
        for lv in &self.levels {
            if lv.stage != stage {
                if let Some(p) = profile.as_deref_mut() {
                    let now = Instant::now();
                    if stage == 0 {
                        p.forward += now - stage_start;
                    } else {
                        p.backward += now - stage_start;
                    }
                    stage_start = now;
                }
                stage = lv.stage;
            }
            computed.clear();
            for (i, step) in self.steps[lv.start..lv.end].iter().enumerate() {
                let si = lv.start + i;
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
            let parallel = computed.len() >= 2 && lv.work >= PAR_LEVEL_WORK;
            match profile.as_deref_mut().filter(|p| p.kernels) {
                None if computed.len() == 1 => {
                    let si = computed[0];
                    slots[si] = Slot::Owned(compute_step(g, &self.steps[si], &slots, pool)?);
                }
                None => {
                    // nodes of one group never read each other, so all read `slots` as is
                    let values: Vec<Result<Value<T>, EvalError>> = if parallel {
                        computed
                            .par_iter()
                            .map(|&si| compute_step(g, &self.steps[si], &slots, pool))
                            .collect()
                    } else {
                        computed
                            .iter()
                            .map(|&si| compute_step(g, &self.steps[si], &slots, pool))
                            .collect()
                    };
                    for (&si, v) in computed.iter().zip(values) {
                        slots[si] = Slot::Owned(v?);
                    }
                }
                Some(p) => {
                    let timed = |si: usize| {
                        let t0 = Instant::now();
                        let v = compute_step(g, &self.steps[si], &slots, pool);
                        (v, t0.elapsed())
                    };
                    let values: Vec<(Result<Value<T>, EvalError>, Duration)> = if parallel {
                        computed.par_iter().map(|&si| timed(si)).collect()
                    } else {
                        computed.iter().map(|&si| timed(si)).collect()
                    };
                    for (&si, (v, t)) in computed.iter().zip(values) {
                        p.record(g.node(self.steps[si].node).op.name(), t);
                        slots[si] = Slot::Owned(v?);
                    }
                }
            }
            for &f in &lv.free {
                if let Slot::Owned(v) = std::mem::replace(&mut slots[f], Slot::Empty) {
                    pool.give_value(v);
                }
            }
        }
        if let Some(p) = profile {
            let t = stage_start.elapsed();
            if stage == 0 {
                p.forward += t;
            } else {
                p.backward += t;
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

/// The nodes up to `top` that the outputs need, and which of them are preset.
fn needed_nodes(
    g: &Graph,
    outputs: &[NodeId],
    top: usize,
    is_preset: impl Fn(NodeId) -> bool,
) -> Needed {
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
    Needed { need, preset }
}

/// Fusion: a binary elementwise node whose only reader is a binary elementwise
/// node of the same shape is computed inside its reader, in one pass (the SGD
/// update `W - lr * g`, relu's backward `g * (x > 0)`); the fused step reads the
/// reader's other operand and the inner node's two operands. The inner node is
/// then no longer needed on its own.
fn fuse_pairs(g: &Graph, outputs: &[NodeId], needed: &mut Needed) -> Fusions {
    let top = needed.need.len() - 1;
    let (need, preset) = (&mut needed.need, &needed.preset);
    let mut uses = vec![0u32; top + 1];
    for i in 0..=top {
        if need[i] && !preset[i] {
            for inp in g.inputs(NodeId(i as u32)) {
                uses[inp.idx()] += 1;
            }
        }
    }
    for o in outputs {
        uses[o.idx()] += 1;
    }
    let mut fused: Fusions = vec![None; top + 1];
    for i in 0..=top {
        if !need[i] || preset[i] {
            continue;
        }
        let id = NodeId(i as u32);
        let Op::Binary(outer) = g.node(id).op else {
            continue;
        };
        let ins = g.inputs(id);
        for pos in 0..2 {
            let j = ins[pos];
            if !need[j.idx()]
                || preset[j.idx()]
                || uses[j.idx()] != 1
                || fused[j.idx()].is_some()
                || g.shape(j) != g.shape(id)
            {
                continue;
            }
            let Op::Binary(inner) = g.node(j).op else {
                continue;
            };
            if let Some(f) = kernels::Fused::new(outer, inner, pos) {
                let jin = g.inputs(j);
                fused[i] = Some((f, [ins[1 - pos], jin[0], jin[1]]));
                need[j.idx()] = false;
                break;
            }
        }
    }
    fused
}

/// Each node's stage (1 if derived or computed from a backward node) and level
/// (as soon as possible within its stage), except that constants are
/// materialized just before their first use.
fn stages_and_levels<'g>(
    g: &Graph,
    needed: &Needed,
    fused: &Fusions,
    inputs_of: &dyn Fn(usize) -> &'g [NodeId],
) -> (Vec<u8>, Vec<usize>) {
    let top = needed.need.len() - 1;
    let (need, preset) = (&needed.need, &needed.preset);
    let mut stage = vec![0u8; top + 1];
    let mut level = vec![0usize; top + 1];
    let mut min_consumer = vec![(u8::MAX, usize::MAX); top + 1];
    for i in 0..=top {
        if !need[i] || preset[i] {
            continue;
        }
        let id = NodeId(i as u32);
        let ins = inputs_of(i);
        stage[i] = u8::from(g.node(id).derived);
        if let Some((f, _)) = &fused[i] {
            // the inner node's stage, were it computed on its own
            stage[i] = stage[i].max(u8::from(g.node(f.inner_node(g, id)).derived));
        }
        level[i] = 0;
        for inp in ins {
            let j = inp.idx();
            stage[i] = stage[i].max(stage[j]);
            level[i] = level[i].max(level[j] + 1);
        }
        for inp in ins {
            let j = inp.idx();
            min_consumer[j] = min_consumer[j].min((stage[i], level[i]));
        }
    }
    for i in 0..=top {
        if need[i]
            && !preset[i]
            && g.inputs(NodeId(i as u32)).is_empty()
            && min_consumer[i].0 != u8::MAX
        {
            stage[i] = min_consumer[i].0;
            level[i] = min_consumer[i].1.saturating_sub(1);
        }
    }
    (stage, level)
}

/// Consecutive steps of one (stage, level) form a group that may run at once.
/// Returns the groups and the group of each step.
fn group_levels(steps: &[Step], keys: &[(u8, usize)]) -> (Vec<Level>, Vec<usize>) {
    let mut levels: Vec<Level> = Vec::new();
    let mut group_of = vec![0usize; steps.len()];
    for (k, s) in steps.iter().enumerate() {
        match levels.last_mut() {
            Some(last) if keys[last.start] == keys[k] => {
                last.end = k + 1;
                last.work = last.work.saturating_add(s.work);
            }
            _ => levels.push(Level {
                start: k,
                end: k + 1,
                work: s.work,
                stage: keys[k].0,
                free: vec![],
            }),
        }
        group_of[k] = levels.len() - 1;
    }
    (levels, group_of)
}

/// Frees each value after the last group that reads it; outputs are never freed.
fn free_after_last_use(
    steps: &[Step],
    outputs: &[usize],
    group_of: &[usize],
    levels: &mut [Level],
) {
    let mut last_use: Vec<Option<usize>> = vec![None; steps.len()];
    for (k, s) in steps.iter().enumerate() {
        for &i in &s.inputs {
            last_use[i] = Some(last_use[i].map_or(group_of[k], |p| p.max(group_of[k])));
        }
    }
    for &o in outputs {
        last_use[o] = None;
    }
    for (k, lu) in last_use.iter().enumerate() {
        if let Some(li) = lu {
            levels[*li].free.push(k);
        }
    }
}
