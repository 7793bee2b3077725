//! The syntax tree. It knows nothing of shapes or values; every node has a span.

use crate::diagnostics::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl BinOp {
    /// `< <= > >= == !=`: elementwise comparisons with a `bool` result.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne
        )
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::MatMul => "@",
            BinOp::Pow => "**",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Number(f64),
    Bool(bool),
    Name(String),
    /// `[a, b, c]`: a shape, an axis list or a tensor literal, by context.
    List(Vec<Expr>),
    Neg(Box<Expr>),
    Binary {
        op: BinOp,
        /// Span of the operator token.
        op_span: Span,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    /// `a.b`; `x.T` is a transpose, anything else an instance member.
    Member {
        base: Box<Expr>,
        member: Ident,
    },
    /// `(e)`: kept so spans and formatting round-trip.
    Paren(Box<Expr>),
    /// `x[i, a:b, ::s]`: indexing and slicing (SPEC section 5).
    Index {
        base: Box<Expr>,
        items: Vec<IndexItem>,
    },
}

/// One entry of `x[..]`.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexItem {
    /// `i`: the axis goes away.
    Single(Expr),
    /// `a:b:s`, each bound optional.
    Slice {
        start: Option<Expr>,
        stop: Option<Expr>,
        step: Option<Expr>,
        span: Span,
    },
}

impl IndexItem {
    pub fn span(&self) -> Span {
        match self {
            IndexItem::Single(e) => e.span,
            IndexItem::Slice { span, .. } => *span,
        }
    }
}

/// Element type written in a declaration: nothing (float), `int` or `bool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeclElem {
    #[default]
    Float,
    Int,
    Bool,
}

impl Expr {
    /// The expression without enclosing parentheses.
    pub fn strip_parens(&self) -> &Expr {
        match &self.kind {
            ExprKind::Paren(inner) => inner.strip_parens(),
            _ => self,
        }
    }

    /// `fc1.inner.W` as `[("fc1", span), ("inner", span), ("W", span)]`, for names
    /// and member chains; `None` for any other expression.
    pub fn as_path(&self) -> Option<Vec<(&str, Span)>> {
        match &self.kind {
            ExprKind::Name(n) => Some(vec![(n.as_str(), self.span)]),
            ExprKind::Member { base, member } => {
                let mut path = base.as_path()?;
                path.push((member.name.as_str(), member.span));
                Some(path)
            }
            ExprKind::Paren(inner) => inner.as_path(),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorRole {
    Input,
    Param,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DimItem {
    pub name: Ident,
    pub default: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TensorDecl {
    pub role: TensorRole,
    pub name: Ident,
    /// Always a `List` expression of dimension expressions.
    pub shape: Expr,
    pub elem: DeclElem,
    pub init: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LayerParam {
    pub name: Ident,
    pub shape: Expr,
    pub elem: DeclElem,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LayerDecl {
    pub name: Ident,
    pub dim_params: Vec<Ident>,
    pub params: Vec<LayerParam>,
    pub ret: Expr,
    pub body: Vec<Stmt>,
    /// From `layer` to the opening `{`.
    pub header_span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Dim(Vec<DimItem>),
    Tensor(TensorDecl),
    Binding {
        name: Ident,
        value: Expr,
        role: BindingRole,
    },
    Instance {
        name: Ident,
        layer: Ident,
        args: Vec<Arg>,
    },
    Assert(Expr),
    Return(Expr),
    Layer(LayerDecl),
    /// `train(L, over=N, optimizer=adam(lr=1e-3), ...)` (SPEC section 11).
    Train(TrainStmt),
}

/// What a binding statement declares besides its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingRole {
    /// `y = ...`
    Plain,
    /// `loss L = ...`: the objective a `train` statement minimizes.
    Loss,
    /// `metric acc = ...`: a scalar reported per epoch, never differentiated.
    Metric,
}

impl BindingRole {
    /// The word written before the name (`loss `, `metric `), if any.
    pub fn prefix(self) -> &'static str {
        match self {
            BindingRole::Plain => "",
            BindingRole::Loss => "loss ",
            BindingRole::Metric => "metric ",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainStmt {
    /// The word `train`.
    pub keyword: Span,
    pub args: Vec<Arg>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    pub stmts: Vec<Stmt>,
}
