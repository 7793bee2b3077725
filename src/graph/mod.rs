//! The tensor graph engine: a DAG of primitives on concrete shapes, reverse- and
//! forward-mode autodiff as graph transformations, and a demand-driven evaluator
//! generic over `f32`/`f64`.
//!
//! Invariants of this module:
//!
//! - **Append-only arena.** Nodes are never removed or changed; a node's inputs always
//!   have smaller ids, so id order is a topological order.
//! - **Shapes are concrete and checked at build time.** Every builder call runs the
//!   primitive's shape rule and returns a [`GraphError`] instead of panicking.
//! - **One table of primitives.** [`Op`] is a closed enum; its shape rule lives in
//!   `op.rs`, its forward kernel in `kernels.rs`, its VJP and JVP rules in
//!   `autodiff.rs`, each an exhaustive `match` without catch-all arms.
//! - **Derivatives are graph transformations.** `grad`/`vjp`/`jvp` append ordinary
//!   nodes; nested derivatives need nothing new. Reverse sweeps are cached per
//!   (output, seed) so several `grad(L, ·)` requests share one backward graph.
//! - **Unbroadcast in one place.** The reverse driver sums every cotangent back to the
//!   shape of the input it flows into; the forward driver broadcasts every tangent to
//!   the shape of its node.
//! - **Evaluation is demand-driven and deterministic.** Only nodes needed by the
//!   requested outputs are computed, intermediates are freed after their last use,
//!   and parallel kernels never let the thread count change a result bit.
//!
//! Code map: `op.rs` (the primitive table and shape rules), `builder.rs` (public
//! constructors, composite ops), `autodiff.rs` (VJP/JVP drivers and rules),
//! `jacobian.rs` (materialized Jacobians/Hessians), `eval.rs` (planning and running),
//! `kernels.rs` (forward kernels), `value.rs` (runtime values, the `Float` trait),
//! `error.rs` (error types).

mod autodiff;
mod builder;
mod conv;
mod error;
mod eval;
mod jacobian;
mod kernels;
mod op;
mod pool;
mod value;

use std::collections::HashMap;
use std::sync::Arc;

pub use autodiff::SweepView;
pub use error::{EvalError, GraphError};
pub use eval::{evaluate, OpStat, Profile, Schedule};
pub use op::{
    broadcast_shapes, reduced_shape, BinaryOp, JacobianMode, JacobianPlan, Op, ReduceOp, UnaryOp,
    Window,
};
pub use value::{Float, Value};

/// A concrete shape: every dimension is a number.
pub type Shape = Vec<usize>;

/// Index of a node in its [`Graph`]. Ids are dense and topologically ordered.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    #[inline]
    pub(crate) fn idx(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// Element type of a node. `Int` tensors (class labels, stored as `i64`) only feed
/// `one_hot` (and therefore `cross_entropy`) and are never differentiable.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    Float,
    Int,
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DType::Float => write!(f, "float"),
            DType::Int => write!(f, "int"),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) inputs: Vec<NodeId>,
    pub(crate) shape: Shape,
    pub(crate) dtype: DType,
    /// Created while building a derivative (a backward or tangent node); the
    /// profiler attributes such nodes, and everything computed from them, to the
    /// backward phase.
    pub(crate) derived: bool,
}

/// The append-only arena of nodes, plus the cache of reverse sweeps.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    sweeps: HashMap<(NodeId, autodiff::SeedKey), Arc<autodiff::Sweep>>,
    /// Depth of derivative construction (`grad`, `vjp`, `jvp`, `jacobian`) in progress.
    deriving: u32,
    /// Scalar constants by bit pattern: each is one node, however often the
    /// derivative rules ask for `1` or `0.5` (fewer nodes to schedule and run).
    scalars: HashMap<u64, NodeId>,
}

/// Number of elements of a shape (product of its dimensions; 1 for a scalar).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether `n` is a node of this graph.
    pub fn contains(&self, n: NodeId) -> bool {
        n.idx() < self.nodes.len()
    }

    /// Shape of a node. Panics if `n` was not created by this graph (like slice
    /// indexing); use [`Graph::try_shape`] for ids of unknown origin.
    pub fn shape(&self, n: NodeId) -> &[usize] {
        &self.nodes[n.idx()].shape
    }

    /// Element type of a node. Panics if `n` was not created by this graph.
    pub fn dtype(&self, n: NodeId) -> DType {
        self.nodes[n.idx()].dtype
    }

    pub fn try_shape(&self, n: NodeId) -> Option<&[usize]> {
        self.nodes.get(n.idx()).map(|node| node.shape.as_slice())
    }

    pub fn try_dtype(&self, n: NodeId) -> Option<DType> {
        self.nodes.get(n.idx()).map(|node| node.dtype)
    }

    /// The primitive computing a node, if `n` is a node of this graph.
    pub fn op(&self, n: NodeId) -> Option<&Op> {
        self.nodes.get(n.idx()).map(|node| &node.op)
    }

    /// The inputs of a node (empty for unknown ids and leaves).
    pub fn inputs(&self, n: NodeId) -> &[NodeId] {
        self.nodes
            .get(n.idx())
            .map(|node| node.inputs.as_slice())
            .unwrap_or(&[])
    }

    /// The name of a leaf node, `None` for any other node.
    pub fn leaf_name(&self, n: NodeId) -> Option<&str> {
        match self.op(n) {
            Some(Op::Leaf { name, .. }) => Some(name),
            _ => None,
        }
    }

    /// All leaf nodes, in creation order.
    pub fn leaves(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .map(|i| NodeId(i as u32))
            .filter(|&n| matches!(self.nodes[n.idx()].op, Op::Leaf { .. }))
            .collect()
    }

    /// Whether `n` was created while building a derivative.
    pub fn is_derived(&self, n: NodeId) -> bool {
        self.nodes.get(n.idx()).is_some_and(|node| node.derived)
    }

    /// Runs `f` with every node it creates marked as derived.
    pub(crate) fn deriving<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        self.deriving += 1;
        let r = f(self);
        self.deriving -= 1;
        r
    }

    pub(crate) fn node(&self, n: NodeId) -> &Node {
        &self.nodes[n.idx()]
    }

    pub(crate) fn check_id(&self, n: NodeId) -> Result<(), GraphError> {
        if self.contains(n) {
            Ok(())
        } else {
            Err(GraphError::UnknownNode(n))
        }
    }

    /// Appends a node after checking its inputs exist and running the op's shape rule.
    pub(crate) fn push(&mut self, op: Op, inputs: Vec<NodeId>) -> Result<NodeId, GraphError> {
        for &i in &inputs {
            self.check_id(i)?;
        }
        let (shape, dtype) = {
            let ins: Vec<(&[usize], DType)> = inputs
                .iter()
                .map(|&i| {
                    (
                        self.nodes[i.idx()].shape.as_slice(),
                        self.nodes[i.idx()].dtype,
                    )
                })
                .collect();
            op::infer(&op, &ins)?
        };
        let id = u32::try_from(self.nodes.len()).map_err(|_| GraphError::TooManyNodes)?;
        self.nodes.push(Node {
            op,
            inputs,
            shape,
            dtype,
            derived: self.deriving > 0,
        });
        Ok(NodeId(id))
    }
}
