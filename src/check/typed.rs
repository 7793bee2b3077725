//! The typed program: what the checker proved, in a form every later stage reads
//! instead of the syntax tree (rust-analyzer's HIR is the model).
//!
//! Names are resolved to ids ([`TensorId`], [`DimId`], [`LayerId`],
//! [`InstanceId`]); every expression carries its symbolic type; every builtin call
//! carries its [`Builtin`] and its options already evaluated and normalized
//! ([`Attrs`]); every layer call carries the dimensions it binds. Lowering
//! translates this directly and the language server answers from the same ids.
//!
//! A statement with an error is not part of the typed program (lowering runs only
//! on programs without errors), but its names are: a declaration whose type could
//! not be determined still has an id, a definition and references (its `ty` is
//! `None`), so an editor can hover and jump on it.

use super::builtins::Builtin;
use super::dims::{DimId, Poly};
use super::types::{Shape, TensorTy};
use crate::diagnostics::Span;
use crate::syntax::ast::BinOp;

/// A tensor: an input, a param, a binding, a layer argument or local, or an
/// instance parameter (`fc1.W`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub u32);

/// An instance declaration (`fc1 = Dense[D, 512]`), top level or in a layer body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub u32);

/// A layer declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId(pub u32);

/// What a tensor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    Input,
    Param,
    /// A parameter owned by an instance (`fc1.W`): a leaf of its own.
    InstanceParam,
    Binding,
    Loss,
    /// A `metric` binding: a scalar reported per epoch by `gradlang train`.
    Metric,
    /// An argument of a layer (`x` in `layer Dense[I, O](x: [B, I])`).
    LayerArg,
}

#[derive(Clone, Debug)]
pub struct TensorInfo {
    /// The full name: `x`, `fc1.W`; inside a layer body the local name (`h`, `W`).
    pub name: String,
    pub kind: TensorKind,
    /// `None` when the declaration has an error.
    pub ty: Option<TensorTy>,
    /// The name at its declaration.
    pub span: Span,
    /// The layer whose body declares it (`None` at the top level and for
    /// instance parameters, which belong to the program).
    pub layer: Option<LayerId>,
    /// The initializer of an input or param.
    pub init: Option<InitExpr>,
}

/// An initializer, resolved: arguments are scalar expressions of numbers and
/// dimensions, evaluated once dimensions have values.
#[derive(Clone, Debug, PartialEq)]
pub enum InitExpr {
    Fill(ScalarExpr),
    Normal(ScalarExpr, ScalarExpr),
    Uniform(ScalarExpr, ScalarExpr),
    /// A tensor literal: its shape and row-major values.
    Literal {
        shape: Vec<usize>,
        values: Vec<f64>,
    },
}

/// A scalar of numbers, dimension values, `sqrt` and arithmetic.
#[derive(Clone, Debug, PartialEq)]
pub enum ScalarExpr {
    Number(f64),
    Dim(DimId),
    Neg(Box<ScalarExpr>),
    Sqrt(Box<ScalarExpr>),
    Binary(BinOp, Box<ScalarExpr>, Box<ScalarExpr>),
}

impl ScalarExpr {
    /// The value, given dimension values; `Err(d)` names a dimension without one.
    pub fn eval(&self, dim: &dyn Fn(DimId) -> Option<i64>) -> Result<f64, DimId> {
        Ok(match self {
            ScalarExpr::Number(v) => *v,
            ScalarExpr::Dim(d) => dim(*d).ok_or(*d)? as f64,
            ScalarExpr::Neg(e) => -e.eval(dim)?,
            ScalarExpr::Sqrt(e) => e.eval(dim)?.sqrt(),
            ScalarExpr::Binary(op, a, b) => {
                let (a, b) = (a.eval(dim)?, b.eval(dim)?);
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    BinOp::Pow => a.powf(b),
                    BinOp::Lt => f64::from(u8::from(a < b)),
                    BinOp::Le => f64::from(u8::from(a <= b)),
                    BinOp::Gt => f64::from(u8::from(a > b)),
                    BinOp::Ge => f64::from(u8::from(a >= b)),
                    BinOp::Eq => f64::from(u8::from(a == b)),
                    BinOp::Ne => f64::from(u8::from(a != b)),
                    BinOp::MatMul => f64::NAN,
                }
            }
        })
    }
}

/// An instance of a layer.
#[derive(Clone, Debug)]
pub struct InstanceInfo {
    pub name: String,
    /// `None` when the declaration had an error (its uses are then poisoned).
    pub layer: Option<LayerId>,
    /// One per dimension parameter of the layer, in the declaring scope's symbols.
    pub dim_args: Vec<Poly>,
    /// Every parameter it owns, nested instances included, in the order of the
    /// layer's [`LayerInfo::state`]: (`W` or `inner.W`, type, id).
    pub params: Vec<(String, TensorTy, TensorId)>,
    pub span: Span,
    /// The layer whose body declares it (`None` at the top level).
    pub scope: Option<LayerId>,
}

/// A statement of the typed program (top level or layer body).
// Bindings are most statements: boxing their expression would cost an
// allocation each for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum TStmt {
    /// An `input` or `param` declaration (its initializer is on the tensor).
    Decl(TensorId),
    Binding {
        tensor: TensorId,
        value: TExpr,
    },
    Instance(InstanceId),
    Assert(AssertClose),
    Return(TExpr),
}

#[derive(Clone, Debug)]
pub struct AssertClose {
    pub a: TExpr,
    pub b: TExpr,
    pub rtol: Option<f64>,
    pub atol: Option<f64>,
    pub span: Span,
}

/// A typed expression.
#[derive(Clone, Debug)]
pub struct TExpr {
    pub kind: TExprKind,
    pub ty: TensorTy,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum TExprKind {
    Number(f64),
    /// A dimension used as a scalar: its value.
    Dim(Poly),
    Tensor(TensorId),
    Neg(Box<TExpr>),
    Binary {
        op: BinOp,
        lhs: Box<TExpr>,
        rhs: Box<TExpr>,
    },
    /// `x.T`: all axes reversed.
    Transpose(Box<TExpr>),
    /// `x[i, a:b:s]`: one entry per leading axis (the rest are kept).
    Index {
        base: Box<TExpr>,
        items: Vec<TIndex>,
    },
    Builtin {
        builtin: Builtin,
        args: Vec<TExpr>,
        attrs: Attrs,
    },
    Derivative {
        kind: DerivativeKind,
        y: Box<TExpr>,
        x: TensorId,
        /// The cotangent (vjp) or tangent (jvp).
        direction: Option<Box<TExpr>>,
    },
    /// `fc1(x)`: arguments in signature order; the per-call (generic) dimensions
    /// of the layer bound to expressions of the caller's dimensions.
    Call {
        instance: InstanceId,
        args: Vec<TExpr>,
        generic: Vec<(DimId, Poly)>,
    },
}

/// One entry of `x[..]`, bounds as dimension expressions (a negative constant
/// counts from the end, as in NumPy).
#[derive(Clone, Debug, PartialEq)]
pub enum TIndex {
    Single(Poly),
    Slice {
        start: Option<Poly>,
        stop: Option<Poly>,
        /// At least 1.
        step: i64,
        /// The checked length of the result axis.
        len: Poly,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DerivativeKind {
    Grad,
    Jacobian,
    Vjp,
    Jvp,
    Hessian,
}

impl DerivativeKind {
    pub fn name(self) -> &'static str {
        match self {
            DerivativeKind::Grad => "grad",
            DerivativeKind::Jacobian => "jacobian",
            DerivativeKind::Vjp => "vjp",
            DerivativeKind::Jvp => "jvp",
            DerivativeKind::Hessian => "hessian",
        }
    }
}

/// A builtin call's options and non-tensor arguments, evaluated and normalized by
/// the checker: axes are non-negative and sorted (a permutation keeps its order),
/// shapes and sizes are dimension expressions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attrs {
    /// Reduction or softmax axes, sorted; a permutation for `transpose`.
    pub axes: Vec<usize>,
    pub keepdims: bool,
    /// `tensordot`'s number of contracted axes.
    pub count: usize,
    /// `reshape`, `zeros`, `ones`: the target shape.
    pub shape: Shape,
    /// `one_hot`'s number of classes; `arange`'s and `eye`'s `n`.
    pub size: Option<Poly>,
    /// `reshape`: the position of a `-1` to infer (cleared once inferred).
    pub infer: Option<usize>,
    /// A number option or argument: `leaky_relu`'s slope, `elu`'s alpha,
    /// `var`'s correction, `dropout`'s p (the default when not given).
    pub number: Option<f64>,
    /// `gelu`'s `approximate`.
    pub flag: bool,
    /// `tril`/`triu`'s `k`.
    pub int: i64,
    /// Convolution and pooling strides (H, W; conv1d uses the second).
    pub stride: [i64; 2],
    /// Convolution dilation.
    pub dilation: [i64; 2],
    pub padding: Padding,
    /// Pooling window size.
    pub window: [i64; 2],
}

/// Convolution and pooling padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// The same padding at both ends of each axis (`valid` is `[0, 0]`).
    Explicit([i64; 2]),
    /// TensorFlow's and JAX's SAME: output `(H + stride - 1) / stride`, the
    /// padding split with the extra row at the end.
    Same,
}

impl Default for Padding {
    fn default() -> Self {
        Padding::Explicit([0, 0])
    }
}

/// A layer: its signature and its typed body (checked once, generically).
#[derive(Clone, Debug)]
pub struct LayerInfo {
    pub name: String,
    pub span: Span,
    pub header_span: Span,
    pub dim_params: Vec<(String, DimId)>,
    /// The arguments' tensors, in signature order.
    pub args: Vec<TensorId>,
    pub ret: Option<Shape>,
    /// Dimensions inferred per call (`B`).
    pub generic: Vec<DimId>,
    /// Every parameter an instance owns: (`W` or `inner.W`, type in the layer's
    /// symbols, declaration span), in body order, nested instances flattened.
    pub state: Vec<StateParam>,
    /// The `param` declarations of the body, in order.
    pub params: Vec<TensorId>,
    /// The instance declarations of the body, in order.
    pub instances: Vec<InstanceId>,
    /// The body (declarations, bindings and the return) when it checked
    /// without errors; shared, since calls and instances read it often.
    pub body: Option<std::sync::Arc<Vec<TStmt>>>,
    /// False when the signature itself has errors: calls are then not checked.
    pub ok: bool,
}

/// A parameter owned by every instance of a layer.
#[derive(Clone, Debug)]
pub struct StateParam {
    pub path: String,
    pub ty: TensorTy,
    pub span: Span,
    /// The `param` declaration in the body that declares it (for a nested
    /// instance's parameter, the one in the nested layer's body).
    pub def: TensorId,
}

/// What a name use refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Def {
    Dim(DimId),
    Tensor(TensorId),
    Layer(LayerId),
    Instance(InstanceId),
}
