//! Error types: [`GraphError`] for building and differentiating, [`EvalError`] for
//! evaluation. Both are plain data with a `Display`; nothing in this module panics on
//! bad input.

use super::{DType, NodeId, Shape};
use std::fmt;

/// An error while building a graph or a derivative.
#[derive(Clone, Debug, PartialEq)]
pub enum GraphError {
    /// A node id that does not belong to this graph.
    UnknownNode(NodeId),
    /// Operand shapes that the primitive's shape rule rejects.
    ShapeMismatch { op: &'static str, message: String },
    /// An operand of the wrong element type (e.g. an int tensor in arithmetic).
    DTypeMismatch { op: &'static str, message: String },
    /// A bad non-tensor argument (axis out of range, bad permutation, literal length...).
    InvalidArgument { op: &'static str, message: String },
    /// `grad`/`hessian` of a non-scalar output.
    NonScalarOutput { op: &'static str, shape: Shape },
    /// A derivative with respect to (or of) an int tensor.
    IntDerivative { node: NodeId },
    /// A derivative this engine cannot build (e.g. through a materialized jacobian).
    Unsupported { message: String },
    /// More than `u32::MAX` nodes.
    TooManyNodes,
    /// A broken internal invariant (a bug in this module, reported instead of panicking).
    Internal(String),
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::UnknownNode(n) => write!(f, "node {n} does not belong to this graph"),
            GraphError::ShapeMismatch { op, message } => {
                write!(f, "{op}: shape mismatch: {message}")
            }
            GraphError::DTypeMismatch { op, message } => {
                write!(f, "{op}: element type mismatch: {message}")
            }
            GraphError::InvalidArgument { op, message } => {
                write!(f, "{op}: invalid argument: {message}")
            }
            GraphError::NonScalarOutput { op, shape } => write!(
                f,
                "{op} requires a scalar output, got shape {shape:?}; use sum(..), vjp or jacobian"
            ),
            GraphError::IntDerivative { node } => {
                write!(f, "node {node} is an int tensor and has no derivative")
            }
            GraphError::Unsupported { message } => write!(f, "unsupported derivative: {message}"),
            GraphError::TooManyNodes => write!(f, "graph has too many nodes"),
            GraphError::Internal(m) => write!(f, "internal error in the graph engine: {m}"),
        }
    }
}

impl std::error::Error for GraphError {}

/// An error while evaluating a graph.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalError {
    /// An output or override id that does not belong to the graph.
    UnknownNode(NodeId),
    /// A leaf needed by the outputs has no value (and no override).
    MissingLeaf { node: NodeId, name: String },
    /// A leaf or override value whose shape differs from the node's.
    WrongShape {
        node: NodeId,
        name: Option<String>,
        expected: Shape,
        found: Shape,
    },
    /// A leaf or override value whose element type differs from the node's.
    WrongDType {
        node: NodeId,
        name: Option<String>,
        expected: DType,
        found: DType,
    },
    /// A label outside `0..classes` fed to `one_hot`/`cross_entropy`.
    LabelOutOfRange {
        node: NodeId,
        label: i64,
        classes: usize,
    },
    /// A broken internal invariant (a bug in this module, reported instead of panicking).
    Internal(String),
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nm = |name: &Option<String>| match name {
            Some(n) => format!(" `{n}`"),
            None => String::new(),
        };
        match self {
            EvalError::UnknownNode(n) => write!(f, "node {n} does not belong to this graph"),
            EvalError::MissingLeaf { node, name } => {
                write!(f, "no value supplied for `{name}` (node {node})")
            }
            EvalError::WrongShape {
                node,
                name,
                expected,
                found,
            } => write!(
                f,
                "value for{} (node {node}) has shape {found:?}, expected {expected:?}",
                nm(name)
            ),
            EvalError::WrongDType {
                node,
                name,
                expected,
                found,
            } => write!(
                f,
                "value for{} (node {node}) is {found}, expected {expected}",
                nm(name)
            ),
            EvalError::LabelOutOfRange {
                node,
                label,
                classes,
            } => write!(f, "label {label} out of range 0..{classes} (node {node})"),
            EvalError::Internal(m) => write!(f, "internal error in the evaluator: {m}"),
        }
    }
}

impl std::error::Error for EvalError {}
