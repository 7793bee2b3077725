//! The one table of built-in functions. Each row is the whole definition of a
//! builtin as the language sees it: its name, positional arguments, options with
//! their defaults, the shape rule that types it, and its documentation. The
//! checker types calls from it, lowering matches exhaustively on [`Builtin`], and
//! the language server's completion, hover and signature help, the "did you
//! mean" suggestions and the reference in `docs/` are all derived from it.
//!
//! Adding an elementwise op: a [`Builtin`] variant, a row here, and the arms the
//! compiler then asks for in `run/lower.rs` (and, for a new primitive, in the
//! graph engine's op table).

use crate::check::typed::DerivativeKind;

/// Every builtin function that computes a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    // issue 10: activations, statistics, structure, convolution and pooling
    Softplus,
    Log1p,
    Expm1,
    Erf,
    Silu,
    Sign,
    Floor,
    Ceil,
    Round,
    Gelu,
    LeakyRelu,
    Elu,
    Clip,
    Var,
    Std,
    Norm,
    Argmax,
    Argmin,
    Accuracy,
    Concat,
    Stack,
    Tril,
    Triu,
    Arange,
    Eye,
    Conv1d,
    Conv2d,
    MaxPool2d,
    AvgPool2d,
    Dropout,
    Exp,
    Log,
    Sqrt,
    Tanh,
    Sigmoid,
    Relu,
    Abs,
    Sin,
    Cos,
    Neg,
    Maximum,
    Minimum,
    Sum,
    Mean,
    Max,
    Min,
    Logsumexp,
    Softmax,
    LogSoftmax,
    Transpose,
    Reshape,
    CrossEntropy,
    Mse,
    OneHot,
    Tensordot,
    Zeros,
    Ones,
    // issue 10, part A (comparisons, indexing, dimensions)
    Where,
    ToFloat,
    Take,
    Gather,
    Flatten,
}

/// How a row is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A function computing a tensor, typed by a shape rule.
    Function(Builtin, Rule),
    /// `grad`, `jacobian`, `vjp`, `jvp`, `hessian`: the generalized Jacobian rules.
    Derivative(DerivativeKind),
    /// `close`: only in `assert close(a, b)`.
    AssertOnly,
    /// `normal`, `uniform`: only as initializers.
    InitializerOnly,
}

/// The symbolic shape rules builtins share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `clip(x, low, high)`: x with the bounds broadcast against it.
    Clip,
    /// `argmax(x, axis=k)`: x without axis k, int.
    ArgReduce,
    /// `accuracy(logits [.., C], labels [..] int)`: `[]`.
    Accuracy,
    /// `concat([a, b, ..], axis=k)`: axis k lengths added, other axes equal.
    Concat,
    /// `stack([a, b, ..], axis=k)`: a new axis k of length = count, same shapes.
    Stack,
    /// `tril(x)`: shape of x, at least two axes.
    Triangle,
    /// `arange(n)`: `[n]` int.
    Arange,
    /// `eye(n)`: `[n, n]`.
    Eye,
    /// `conv1d`/`conv2d(x [.., (H,) W, C], w [(KH,) KW, C, O])`: `[.., (H',) W', O]`.
    Conv { spatial: usize },
    /// `max_pool2d(x [.., H, W, C], size)`: `[.., H', W', C]`.
    Pool,
    /// `f(x)`: shape of x.
    Elementwise,
    /// `f(a, b)`: NumPy broadcast of a and b.
    Broadcast,
    /// `f(x, axis=.., keepdims=..)`: x without the axes (or 1 there).
    Reduce,
    /// `f(x, axis=k)`: shape of x, along one axis.
    AlongAxis,
    /// `transpose(x, perm)`.
    Permute,
    /// `reshape(x, shape)`: the shape, with equal element counts.
    Reshape,
    /// `cross_entropy(logits [.., C], labels [..] int)`: `[]`.
    CrossEntropy,
    /// `mse(a, b)`: `[]`, equal shapes.
    SameShapeToScalar,
    /// `one_hot(labels, C)`: labels' shape ++ [C].
    OneHot,
    /// `tensordot(a, b, k)`: a[:-k] ++ b[k:].
    Tensordot,
    /// `zeros(shape)`: the shape.
    Fill,
    /// `where(c bool, a, b)`: broadcast of the three.
    Where,
    /// `float(x)`: shape of x, float.
    ToFloat,
    /// `take(x, idx int, axis)`: x[:axis] ++ idx ++ x[axis+1:].
    Take,
    /// `gather(x, idx int, axis)`: shape of idx = x without axis.
    Gather,
    /// `flatten(x, start)`: axes from `start` on merged.
    Flatten,
}

/// A positional argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// A list of float tensors `[a, b, ..]`.
    Tensors(&'static str),
    /// A window size: a positive integer or a pair `[2, 2]`.
    Window(&'static str),
    /// A number constant (`0.5`).
    Number(&'static str),
    /// A float tensor.
    Float(&'static str),
    /// An int tensor (labels).
    Labels(&'static str),
    /// A tensor of any element type.
    Any(&'static str),
    /// A `bool` tensor (a mask).
    Mask(&'static str),
    /// A shape `[N, H * W]`.
    Shape,
    /// A dimension expression (`C`).
    Size(&'static str),
    /// A permutation `[1, 0]`.
    Permutation,
    /// A non-negative integer constant.
    Count(&'static str),
    /// The variable of a derivative: a name.
    Variable(&'static str),
}

impl Param {
    pub fn name(self) -> &'static str {
        match self {
            Param::Float(n)
            | Param::Tensors(n)
            | Param::Window(n)
            | Param::Number(n)
            | Param::Labels(n)
            | Param::Any(n)
            | Param::Mask(n)
            | Param::Size(n)
            | Param::Count(n)
            | Param::Variable(n) => n,
            Param::Shape => "[shape]",
            Param::Permutation => "[p0, p1, ..]",
        }
    }
}

/// An option (`name=value`) and what its value means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptSpec {
    pub name: &'static str,
    pub kind: OptKind,
    /// The default, as written in signatures.
    pub default: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptKind {
    /// A number (`slope=0.2`) into [`crate::check::typed::Attrs::number`].
    Number,
    /// `approximate=true|false` into `flag`.
    Flag,
    /// An integer (`k=-1`) into `int`.
    Int,
    /// The axis of a new axis (`stack`): `0..=rank`, into `axes`.
    NewAxis,
    /// A positive integer or a pair (`stride=2`, `dilation=[2, 1]`), into `stride`
    /// or `dilation` by the option's name.
    Pair,
    /// `padding=1`, `[1, 0]`, `same` or `valid`, into `padding`.
    Padding,
    /// An axis or a list of axes (into [`crate::check::typed::Attrs::axes`]).
    Axes,
    /// A single axis (into `axes`).
    Axis,
    /// `keepdims=true|false`.
    Keepdims,
    /// A non-negative number (assert tolerances).
    Tolerance,
    /// `flatten`'s first merged axis (into `axes`; negative from the end).
    StartAxis,
}

#[derive(Clone, Copy, Debug)]
pub struct BuiltinDef {
    pub name: &'static str,
    pub role: Role,
    pub params: &'static [Param],
    pub options: &'static [OptSpec],
    pub doc: &'static str,
}

impl BuiltinDef {
    /// `sum(x, axis=all, keepdims=false)`.
    pub fn signature(&self) -> String {
        let mut parts: Vec<String> = self.params.iter().map(|p| p.name().to_string()).collect();
        parts.extend(
            self.options
                .iter()
                .map(|o| format!("{}={}", o.name, o.default)),
        );
        format!("{}({})", self.name, parts.join(", "))
    }

    pub fn option(&self, name: &str) -> Option<&'static OptSpec> {
        self.options.iter().find(|o| o.name == name)
    }
}

const X: &[Param] = &[Param::Float("x")];
const AB: &[Param] = &[Param::Float("a"), Param::Float("b")];
const AXES_ALL: OptSpec = OptSpec {
    name: "axis",
    kind: OptKind::Axes,
    default: "all",
};
const AXIS_LAST: OptSpec = OptSpec {
    name: "axis",
    kind: OptKind::Axis,
    default: "-1",
};
const KEEPDIMS: OptSpec = OptSpec {
    name: "keepdims",
    kind: OptKind::Keepdims,
    default: "false",
};

const fn elementwise(name: &'static str, b: Builtin, doc: &'static str) -> BuiltinDef {
    BuiltinDef {
        name,
        role: Role::Function(b, Rule::Elementwise),
        params: X,
        options: &[],
        doc,
    }
}

const fn reduction(name: &'static str, b: Builtin, doc: &'static str) -> BuiltinDef {
    BuiltinDef {
        name,
        role: Role::Function(b, Rule::Reduce),
        params: X,
        options: &[AXES_ALL, KEEPDIMS],
        doc,
    }
}

const fn derivative(
    name: &'static str,
    kind: DerivativeKind,
    params: &'static [Param],
    doc: &'static str,
) -> BuiltinDef {
    BuiltinDef {
        name,
        role: Role::Derivative(kind),
        params,
        options: &[],
        doc,
    }
}

const fn option(name: &'static str, kind: OptKind, default: &'static str) -> OptSpec {
    OptSpec {
        name,
        kind,
        default,
    }
}

const fn function(
    name: &'static str,
    b: Builtin,
    rule: Rule,
    params: &'static [Param],
    options: &'static [OptSpec],
    doc: &'static str,
) -> BuiltinDef {
    BuiltinDef {
        name,
        role: Role::Function(b, rule),
        params,
        options,
        doc,
    }
}

const STATS: &[OptSpec] = &[
    AXES_ALL,
    KEEPDIMS,
    option("correction", OptKind::Number, "0"),
];
const CONV: &[OptSpec] = &[
    option("stride", OptKind::Pair, "1"),
    option("padding", OptKind::Padding, "0"),
    option("dilation", OptKind::Pair, "1"),
];
const POOL: &[OptSpec] = &[
    option("stride", OptKind::Pair, "size"),
    option("padding", OptKind::Padding, "0"),
];
const TRIANGLE: &[OptSpec] = &[option("k", OptKind::Int, "0")];

/// Every builtin, in the order the reference lists them.
pub static BUILTINS: &[BuiltinDef] = &[
    elementwise("softplus", Builtin::Softplus, "log(1 + exp(x)), elementwise, computed stably"),
    elementwise("log1p", Builtin::Log1p, "log(1 + x), elementwise, accurate near 0"),
    elementwise("expm1", Builtin::Expm1, "exp(x) - 1, elementwise, accurate near 0"),
    elementwise("erf", Builtin::Erf, "the error function, elementwise"),
    elementwise("silu", Builtin::Silu, "x * sigmoid(x), elementwise"),
    elementwise("sign", Builtin::Sign, "-1, 0 or 1, elementwise; derivative 0"),
    elementwise("floor", Builtin::Floor, "rounds down, elementwise; derivative 0"),
    elementwise("ceil", Builtin::Ceil, "rounds up, elementwise; derivative 0"),
    elementwise("round", Builtin::Round, "rounds to nearest, half to even (NumPy), elementwise; derivative 0"),
    function(
        "gelu",
        Builtin::Gelu,
        Rule::Elementwise,
        X,
        &[option("approximate", OptKind::Flag, "false")],
        "x * Φ(x) = 0.5 x (1 + erf(x / √2)); `approximate=true`: the tanh form",
    ),
    function(
        "leaky_relu",
        Builtin::LeakyRelu,
        Rule::Elementwise,
        X,
        &[option("slope", OptKind::Number, "0.01")],
        "x where x > 0, else slope * x; the derivative at 0 is slope",
    ),
    function(
        "elu",
        Builtin::Elu,
        Rule::Elementwise,
        X,
        &[option("alpha", OptKind::Number, "1")],
        "x where x > 0, else alpha (exp(x) - 1); the derivative at 0 is alpha",
    ),
    function(
        "clip",
        Builtin::Clip,
        Rule::Clip,
        &[Param::Float("x"), Param::Float("low"), Param::Float("high")],
        &[],
        "x limited to [low, high] (bounds broadcast); derivative 1 where low <= x <= high (bounds included), else 0",
    ),
    function(
        "var",
        Builtin::Var,
        Rule::Reduce,
        X,
        STATS,
        "variance over the axes (all by default), dividing by count - correction (numpy.var)",
    ),
    function(
        "std",
        Builtin::Std,
        Rule::Reduce,
        X,
        STATS,
        "standard deviation: sqrt(var(x, ..))",
    ),
    function(
        "norm",
        Builtin::Norm,
        Rule::Reduce,
        X,
        &[AXES_ALL, KEEPDIMS],
        "Euclidean norm over the axes (the whole tensor by default)",
    ),
    function(
        "argmax",
        Builtin::Argmax,
        Rule::ArgReduce,
        X,
        &[AXIS_LAST],
        "int index of the first maximum along one axis",
    ),
    function(
        "argmin",
        Builtin::Argmin,
        Rule::ArgReduce,
        X,
        &[AXIS_LAST],
        "int index of the first minimum along one axis",
    ),
    function(
        "accuracy",
        Builtin::Accuracy,
        Rule::Accuracy,
        &[Param::Float("logits"), Param::Labels("labels")],
        &[],
        "fraction of rows of logits [.., C] whose argmax is the int label; derivative 0",
    ),
    function(
        "concat",
        Builtin::Concat,
        Rule::Concat,
        &[Param::Tensors("[a, b, ..]")],
        &[option("axis", OptKind::Axis, "0")],
        "tensors joined along an axis: its lengths added, the other axes equal",
    ),
    function(
        "stack",
        Builtin::Stack,
        Rule::Stack,
        &[Param::Tensors("[a, b, ..]")],
        &[option("axis", OptKind::NewAxis, "0")],
        "tensors of one shape stacked along a new axis",
    ),
    function(
        "tril",
        Builtin::Tril,
        Rule::Triangle,
        X,
        TRIANGLE,
        "the lower triangle of the last two axes (column - row <= k), zeros elsewhere",
    ),
    function(
        "triu",
        Builtin::Triu,
        Rule::Triangle,
        X,
        TRIANGLE,
        "the upper triangle of the last two axes (column - row >= k), zeros elsewhere",
    ),
    function(
        "arange",
        Builtin::Arange,
        Rule::Arange,
        &[Param::Size("n")],
        &[],
        "[0, 1, .., n - 1] as an int tensor [n]",
    ),
    function(
        "eye",
        Builtin::Eye,
        Rule::Eye,
        &[Param::Size("n")],
        &[],
        "the identity matrix [n, n]",
    ),
    function(
        "conv1d",
        Builtin::Conv1d,
        Rule::Conv { spatial: 1 },
        &[Param::Float("x"), Param::Float("w")],
        CONV,
        "cross-correlation of x [.., L, C] with w [K, C, O]: [.., L', O] (channels last)",
    ),
    function(
        "conv2d",
        Builtin::Conv2d,
        Rule::Conv { spatial: 2 },
        &[Param::Float("x"), Param::Float("w")],
        CONV,
        "cross-correlation of x [.., H, W, C] with w [KH, KW, C, O]: [.., H', W', O]; stride, padding, dilation an integer or a pair, padding also `same` or `valid`",
    ),
    function(
        "max_pool2d",
        Builtin::MaxPool2d,
        Rule::Pool,
        &[Param::Float("x"), Param::Window("size")],
        POOL,
        "maximum over windows of x [.., H, W, C]; the derivative goes to the first maximum of each window (row-major)",
    ),
    function(
        "avg_pool2d",
        Builtin::AvgPool2d,
        Rule::Pool,
        &[Param::Float("x"), Param::Window("size")],
        POOL,
        "mean over windows of x [.., H, W, C], padded zeros counted",
    ),
    function(
        "dropout",
        Builtin::Dropout,
        Rule::Elementwise,
        &[Param::Float("x"), Param::Number("p")],
        &[],
        "drops entries with probability p in training; the identity in `run`",
    ),
    elementwise("exp", Builtin::Exp, "e to the x, elementwise"),
    elementwise("log", Builtin::Log, "natural logarithm, elementwise"),
    elementwise("sqrt", Builtin::Sqrt, "square root, elementwise"),
    elementwise("tanh", Builtin::Tanh, "hyperbolic tangent, elementwise"),
    elementwise("sigmoid", Builtin::Sigmoid, "1 / (1 + exp(-x)), elementwise"),
    elementwise("relu", Builtin::Relu, "max(x, 0), elementwise; relu'(0) = 0"),
    elementwise("abs", Builtin::Abs, "absolute value, elementwise; abs'(0) = 0"),
    elementwise("sin", Builtin::Sin, "sine, elementwise"),
    elementwise("cos", Builtin::Cos, "cosine, elementwise"),
    elementwise("neg", Builtin::Neg, "-x, elementwise"),
    BuiltinDef {
        name: "maximum",
        role: Role::Function(Builtin::Maximum, Rule::Broadcast),
        params: AB,
        options: &[],
        doc: "the larger of a and b, elementwise with broadcasting",
    },
    BuiltinDef {
        name: "minimum",
        role: Role::Function(Builtin::Minimum, Rule::Broadcast),
        params: AB,
        options: &[],
        doc: "the smaller of a and b, elementwise with broadcasting",
    },
    reduction("sum", Builtin::Sum, "sum over the axes (all by default)"),
    reduction("mean", Builtin::Mean, "mean over the axes (all by default)"),
    reduction(
        "max",
        Builtin::Max,
        "maximum over the axes (all by default); the derivative is split among ties",
    ),
    reduction(
        "min",
        Builtin::Min,
        "minimum over the axes (all by default); the derivative is split among ties",
    ),
    BuiltinDef {
        name: "logsumexp",
        role: Role::Function(Builtin::Logsumexp, Rule::Reduce),
        params: X,
        options: &[AXIS_LAST, KEEPDIMS],
        doc: "log(sum(exp(x))) along one axis, computed stably",
    },
    BuiltinDef {
        name: "softmax",
        role: Role::Function(Builtin::Softmax, Rule::AlongAxis),
        params: X,
        options: &[AXIS_LAST],
        doc: "exp(x) / sum(exp(x)) along one axis",
    },
    BuiltinDef {
        name: "log_softmax",
        role: Role::Function(Builtin::LogSoftmax, Rule::AlongAxis),
        params: X,
        options: &[AXIS_LAST],
        doc: "x - logsumexp(x) along one axis",
    },
    BuiltinDef {
        name: "transpose",
        role: Role::Function(Builtin::Transpose, Rule::Permute),
        params: &[Param::Any("x"), Param::Permutation],
        options: &[],
        doc: "the axes of x permuted: axis i of the result is axis p_i of x",
    },
    BuiltinDef {
        name: "reshape",
        role: Role::Function(Builtin::Reshape, Rule::Reshape),
        params: &[Param::Float("x"), Param::Shape],
        options: &[],
        doc: "x with a new shape of the same element count (compared symbolically)",
    },
    BuiltinDef {
        name: "cross_entropy",
        role: Role::Function(Builtin::CrossEntropy, Rule::CrossEntropy),
        params: &[Param::Float("logits"), Param::Labels("labels")],
        options: &[],
        doc: "mean negative log-likelihood of int labels [..] under logits [.., C]",
    },
    BuiltinDef {
        name: "mse",
        role: Role::Function(Builtin::Mse, Rule::SameShapeToScalar),
        params: AB,
        options: &[],
        doc: "mean of (a - b)², a and b of equal shapes",
    },
    BuiltinDef {
        name: "one_hot",
        role: Role::Function(Builtin::OneHot, Rule::OneHot),
        params: &[Param::Labels("labels"), Param::Size("C")],
        options: &[],
        doc: "float [.., C] with a 1 at each label",
    },
    BuiltinDef {
        name: "tensordot",
        role: Role::Function(Builtin::Tensordot, Rule::Tensordot),
        params: &[Param::Float("a"), Param::Float("b"), Param::Count("k")],
        options: &[],
        doc: "contracts the last k axes of a with the first k of b: a[:-k] ++ b[k:]",
    },
    BuiltinDef {
        name: "zeros",
        role: Role::Function(Builtin::Zeros, Rule::Fill),
        params: &[Param::Shape],
        options: &[],
        doc: "a constant tensor of zeros",
    },
    BuiltinDef {
        name: "ones",
        role: Role::Function(Builtin::Ones, Rule::Fill),
        params: &[Param::Shape],
        options: &[],
        doc: "a constant tensor of ones",
    },
    derivative(
        "grad",
        DerivativeKind::Grad,
        &[Param::Float("L"), Param::Variable("x")],
        "dL/dx for a scalar L: shape of x (one reverse sweep, no Jacobian formed)",
    ),
    derivative(
        "jacobian",
        DerivativeKind::Jacobian,
        &[Param::Float("y"), Param::Variable("x")],
        "the generalized Jacobian dy/dx: shape of y ++ shape of x (materialized)",
    ),
    derivative(
        "vjp",
        DerivativeKind::Vjp,
        &[Param::Float("y"), Param::Variable("x"), Param::Float("v")],
        "v · dy/dx with v shaped like y: shape of x (reverse mode, no Jacobian formed)",
    ),
    derivative(
        "jvp",
        DerivativeKind::Jvp,
        &[Param::Float("y"), Param::Variable("x"), Param::Float("u")],
        "dy/dx · u with u shaped like x: shape of y (forward mode)",
    ),
    derivative(
        "hessian",
        DerivativeKind::Hessian,
        &[Param::Float("L"), Param::Variable("x")],
        "second derivatives of a scalar L: shape of x ++ shape of x (materialized)",
    ),
    BuiltinDef {
        name: "close",
        role: Role::AssertOnly,
        params: AB,
        options: &[
            OptSpec {
                name: "rtol",
                kind: OptKind::Tolerance,
                default: "1e-4",
            },
            OptSpec {
                name: "atol",
                kind: OptKind::Tolerance,
                default: "1e-5",
            },
        ],
        doc: "in `assert close(a, b)`: |a - b| <= atol + rtol·|b| elementwise (defaults for f32; 1e-7 and 1e-9 in f64)",
    },
    BuiltinDef {
        name: "where",
        role: Role::Function(Builtin::Where, Rule::Where),
        params: &[Param::Mask("c"), Param::Float("a"), Param::Float("b")],
        options: &[],
        doc: "a where c is true, else b, broadcasting the three; the derivative flows to the chosen side",
    },
    BuiltinDef {
        name: "float",
        role: Role::Function(Builtin::ToFloat, Rule::ToFloat),
        params: &[Param::Any("x")],
        options: &[],
        doc: "a bool (0/1) or int tensor as floats; derivative 0",
    },
    BuiltinDef {
        name: "take",
        role: Role::Function(Builtin::Take, Rule::Take),
        params: &[Param::Float("x"), Param::Labels("idx")],
        options: &[OptSpec {
            name: "axis",
            kind: OptKind::Axis,
            default: "0",
        }],
        doc: "slices of x along axis at the int indices idx: x[:axis] ++ idx ++ x[axis+1:] (rows of an embedding table)",
    },
    BuiltinDef {
        name: "gather",
        role: Role::Function(Builtin::Gather, Rule::Gather),
        params: &[Param::Float("x"), Param::Labels("idx")],
        options: &[AXIS_LAST],
        doc: "result[i] = x[i, idx[i]] along axis, idx shaped like x without axis (NumPy's x[arange(N), y])",
    },
    BuiltinDef {
        name: "flatten",
        role: Role::Function(Builtin::Flatten, Rule::Flatten),
        params: X,
        options: &[OptSpec {
            name: "start",
            kind: OptKind::StartAxis,
            default: "1",
        }],
        doc: "the axes from start on merged into one (their product): [N, H, W, C] to [N, H * W * C]",
    },
    BuiltinDef {
        name: "normal",
        role: Role::InitializerOnly,
        params: &[Param::Float("mean"), Param::Float("std")],
        options: &[],
        doc: "initializer: seeded normal samples",
    },
    BuiltinDef {
        name: "uniform",
        role: Role::InitializerOnly,
        params: &[Param::Float("low"), Param::Float("high")],
        options: &[],
        doc: "initializer: seeded uniform samples in [low, high)",
    },
];

/// The row of a builtin name.
pub fn lookup(name: &str) -> Option<&'static BuiltinDef> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The row of a builtin.
pub fn def(b: Builtin) -> &'static BuiltinDef {
    BUILTINS
        .iter()
        .find(|d| matches!(d.role, Role::Function(x, _) if x == b))
        .expect("every Builtin has a row (tested)")
}

/// Every builtin name, in table order.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

/// The reference table of builtins, as Markdown (`docs/builtins.md` holds it;
/// a test keeps the file equal to this).
pub fn markdown() -> String {
    let mut out = String::from("| function | what it computes |\n|---|---|\n");
    for b in BUILTINS {
        out.push_str(&format!(
            "| `{}` | {} |\n",
            b.signature(),
            b.doc.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_builtin_has_one_row() {
        let mut names: Vec<&str> = names().collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate builtin names");
        let functions = BUILTINS
            .iter()
            .filter(|b| matches!(b.role, Role::Function(..)))
            .count();
        // `def` finds a row for each variant used in the table.
        for b in BUILTINS {
            if let Role::Function(x, _) = b.role {
                assert_eq!(def(x).name, b.name);
            }
        }
        assert_eq!(functions, 62);
    }
}
