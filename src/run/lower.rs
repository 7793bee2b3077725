//! Lowering: a checked program, with every dimension bound to a number, becomes
//! a graph of primitives. Layers are inlined at each call (an instance's
//! parameters are shared leaves); derivatives become graph transformations.
//!
//! Lowering trusts the checker: shapes were proven, so an engine error here is
//! an internal error, reported with the span that produced it.

use super::init::Init;
use super::RunError;
use crate::check::{human_bytes, thousands};
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::graph::{DType, Graph, GraphError, NodeId, Shape};
use crate::syntax::ast::{
    Arg, BinOp, Expr, ExprKind, LayerDecl, Program, StmtKind, TensorDecl, TensorRole,
};
use std::collections::HashMap;
use std::rc::Rc;

/// A leaf of the graph: an input or a parameter, by its full name (`fc1.W`).
pub struct Leaf {
    pub name: String,
    pub node: NodeId,
    pub shape: Shape,
    pub is_int: bool,
    pub is_input: bool,
    pub init: Init,
    /// The declaration (for error messages).
    pub span: Span,
}

/// A value the run prints (a top-level binding).
pub struct Output {
    pub name: String,
    pub node: NodeId,
    pub span: Span,
}

pub struct AssertClose {
    pub a: NodeId,
    pub b: NodeId,
    pub a_span: Span,
    pub b_span: Span,
    pub span: Span,
    pub rtol: Option<f64>,
    pub atol: Option<f64>,
}

/// A `grad`, `vjp` or `jvp` in the program, for `gradlang gradcheck`.
pub struct DerivativeSite {
    pub kind: DerivativeKind,
    pub y: NodeId,
    pub x: NodeId,
    /// The cotangent (vjp) or tangent (jvp).
    pub direction: Option<NodeId>,
    pub result: NodeId,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DerivativeKind {
    Grad,
    Vjp,
    Jvp,
}

pub struct Lowered {
    pub graph: Graph,
    pub derivatives: Vec<DerivativeSite>,
    pub leaves: Vec<Leaf>,
    pub outputs: Vec<Output>,
    pub asserts: Vec<AssertClose>,
    /// Every top-level tensor by name (inputs, params, instance params, bindings).
    pub named: HashMap<String, NodeId>,
}

pub struct LowerOptions {
    /// Bytes per float element of the run (4 or 8), for size checks.
    pub element_bytes: u128,
    pub max_jacobian_bytes: u128,
    /// No single value may exceed this many bytes.
    pub max_value_bytes: u128,
}

#[derive(Clone)]
enum Item {
    Node(NodeId),
    Dim(usize),
    Instance(Rc<RtInstance>),
}

/// A layer instance at run time: its layer, dimension values and parameters.
struct RtInstance {
    layer: Rc<LayerDecl>,
    dims: HashMap<String, usize>,
    params: HashMap<String, NodeId>,
    nested: HashMap<String, Rc<RtInstance>>,
}

struct Lowerer<'a> {
    g: Graph,
    opts: &'a LowerOptions,
    global_dims: &'a HashMap<String, usize>,
    /// Declaration spans of global dimensions (for "has no value" errors).
    dim_spans: &'a HashMap<String, Span>,
    layers: HashMap<String, Rc<LayerDecl>>,
    scopes: Vec<HashMap<String, Item>>,
    leaves: Vec<Leaf>,
    derivatives: Vec<DerivativeSite>,
}

pub fn lower(
    program: &Program,
    global_dims: &HashMap<String, usize>,
    dim_spans: &HashMap<String, Span>,
    opts: &LowerOptions,
) -> Result<Lowered, RunError> {
    let layers = program
        .stmts
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Layer(l) => Some((l.name.name.clone(), Rc::new(l.clone()))),
            _ => None,
        })
        .collect();
    let mut l = Lowerer {
        g: Graph::new(),
        opts,
        global_dims,
        dim_spans,
        layers,
        scopes: vec![HashMap::new()],
        leaves: Vec::new(),
        derivatives: Vec::new(),
    };
    let mut outputs = Vec::new();
    let mut asserts = Vec::new();
    let mut named = HashMap::new();
    for stmt in &program.stmts {
        match &stmt.kind {
            StmtKind::Dim(_) | StmtKind::Layer(_) | StmtKind::Return(_) => {}
            StmtKind::Tensor(d) => {
                let node = l.declare_leaf(d, "", &HashMap::new())?;
                named.insert(d.name.name.clone(), node);
                l.bind(&d.name.name, Item::Node(node));
            }
            StmtKind::Binding { name, value, .. } => {
                let node = l.expr(value)?;
                outputs.push(Output {
                    name: name.name.clone(),
                    node,
                    span: name.span,
                });
                named.insert(name.name.clone(), node);
                l.bind(&name.name, Item::Node(node));
            }
            StmtKind::Instance { name, layer, args } => {
                let inst = l.instantiate(&name.name, &layer.name, args)?;
                collect_params(&name.name, &inst, &mut named);
                l.bind(&name.name, Item::Instance(inst));
            }
            StmtKind::Assert(e) => asserts.push(l.assert_close(e)?),
        }
    }
    Ok(Lowered {
        graph: l.g,
        derivatives: l.derivatives,
        leaves: l.leaves,
        outputs,
        asserts,
        named,
    })
}

fn collect_params(prefix: &str, inst: &RtInstance, out: &mut HashMap<String, NodeId>) {
    for (p, node) in &inst.params {
        out.insert(format!("{prefix}.{p}"), *node);
    }
    for (n, nested) in &inst.nested {
        collect_params(&format!("{prefix}.{n}"), nested, out);
    }
}

/// An engine error while lowering. Shapes were proven by the checker, so the
/// only expected one is a derivative through a materialized jacobian (E0612).
fn internal(span: Span, e: GraphError) -> RunError {
    if let GraphError::Unsupported { .. } = &e {
        return Diagnostic::error(Code::E0612, span, "cannot differentiate through a materialized jacobian")
            .with_primary_label("this derivative flows through a jacobian or hessian value")
            .with_help(
                "a jacobian is a value, not a function: differentiate the expression it was computed from \
                 instead (grad of grad, jvp of grad, hessian)",
            )
            .into();
    }
    RunError::from(
        Diagnostic::error(
            Code::E0699,
            span,
            format!("internal error while building the program: {e}"),
        )
        .with_primary_label("here")
        .with_help("this is a bug in gradlang; please report it with the program"),
    )
}

impl<'a> Lowerer<'a> {
    fn bind(&mut self, name: &str, item: Item) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name.to_string(), item);
        }
    }

    fn lookup(&self, name: &str) -> Option<Item> {
        if let Some(item) = self.scopes.last().and_then(|s| s.get(name)) {
            return Some(item.clone());
        }
        self.global_dims.get(name).map(|v| Item::Dim(*v))
    }

    /// Refuses values too large to allocate.
    fn check_size(&self, node: NodeId, span: Span) -> Result<NodeId, RunError> {
        let elements: u128 = self.g.shape(node).iter().map(|&d| d as u128).product();
        let bytes = elements.saturating_mul(self.opts.element_bytes);
        if bytes > self.opts.max_value_bytes {
            let shape = format!("{:?}", self.g.shape(node));
            return Err(Diagnostic::error(
                Code::E0610,
                span,
                format!(
                    "this value would hold {} numbers ({}), more than the {} a single value may take",
                    thousands(elements),
                    human_bytes(bytes),
                    human_bytes(self.opts.max_value_bytes)
                ),
            )
            .with_primary_label(format!("shape {shape}"))
            .with_help("check the dimension values (--dim, input files)")
            .into());
        }
        Ok(node)
    }

    /// A dimension expression's value.
    fn dim(&self, e: &Expr) -> Result<usize, RunError> {
        let value = self.dim_i128(e)?;
        usize::try_from(value).map_err(|_| {
            Diagnostic::error(
                Code::E0604,
                e.span,
                format!("this dimension evaluates to {value}"),
            )
            .with_primary_label("not a valid size")
            .with_help("dimension values are non-negative integers")
            .into()
        })
    }

    fn dim_i128(&self, e: &Expr) -> Result<i128, RunError> {
        let overflow = || -> RunError {
            Diagnostic::error(Code::E0610, e.span, "dimension arithmetic overflows")
                .with_primary_label("too large")
                .into()
        };
        match &e.kind {
            ExprKind::Number(v) => Ok(*v as i128),
            ExprKind::Paren(inner) => self.dim_i128(inner),
            ExprKind::Name(n) => match self.lookup(n) {
                Some(Item::Dim(v)) => Ok(v as i128),
                _ => Err(self.unbound_dim(n, e.span)),
            },
            ExprKind::Binary { op, lhs, rhs, .. } => {
                let (a, b) = (self.dim_i128(lhs)?, self.dim_i128(rhs)?);
                match op {
                    BinOp::Add => a.checked_add(b),
                    BinOp::Sub => a.checked_sub(b),
                    _ => a.checked_mul(b),
                }
                .filter(|v| v.abs() < (1i128 << 62))
                .ok_or_else(overflow)
            }
            _ => Err(internal(
                e.span,
                GraphError::Internal("not a dimension expression".into()),
            )),
        }
    }

    fn unbound_dim(&self, name: &str, span: Span) -> RunError {
        let mut d = Diagnostic::error(Code::E0605, span, format!("dimension `{name}` has no value"))
            .with_primary_label("needed here")
            .with_help(format!("give it one with --dim {name}=VALUE, a default (`dim {name} = 64`), or an input file whose shape binds it"));
        if let Some(decl) = self.dim_spans.get(name) {
            d = d.with_label(*decl, "declared here without a value");
        }
        d.into()
    }

    fn shape(&self, e: &Expr) -> Result<Shape, RunError> {
        match &e.strip_parens().kind {
            ExprKind::List(items) => items.iter().map(|i| self.dim(i)).collect(),
            _ => Err(internal(e.span, GraphError::Internal("not a shape".into()))),
        }
    }

    /// Creates the leaf of an input/param declaration (`prefix` for instance params).
    fn declare_leaf(
        &mut self,
        d: &TensorDecl,
        prefix: &str,
        layer_dims: &HashMap<String, usize>,
    ) -> Result<NodeId, RunError> {
        let shape = self.shape(&d.shape)?;
        let name = format!("{prefix}{}", d.name.name);
        let dtype = if d.is_int { DType::Int } else { DType::Float };
        let node = self.g.leaf(&name, shape.clone(), dtype);
        self.check_size(node, d.name.span)?;
        let init = match &d.init {
            None => Init::None,
            Some(e) => Init::from_expr(e, &|n| {
                layer_dims
                    .get(n)
                    .or_else(|| self.global_dims.get(n))
                    .copied()
            })
            .map_err(|(span, msg)| {
                RunError::from(
                    Diagnostic::error(Code::E0605, span, msg).with_primary_label("needed here"),
                )
            })?,
        };
        self.leaves.push(Leaf {
            name,
            node,
            shape,
            is_int: d.is_int,
            is_input: d.role == TensorRole::Input,
            init,
            span: d.name.span,
        });
        Ok(node)
    }

    /// `fc1 = Dense[D, 512]`: creates the instance's parameters (and nested ones).
    fn instantiate(
        &mut self,
        full_name: &str,
        layer: &str,
        args: &[Arg],
    ) -> Result<Rc<RtInstance>, RunError> {
        let decl = self.layers.get(layer).cloned().ok_or_else(|| {
            internal(
                Span::default(),
                GraphError::Internal(format!("unknown layer {layer}")),
            )
        })?;
        let mut dims = HashMap::new();
        for (k, a) in args.iter().enumerate() {
            let pname = match &a.name {
                Some(n) => n.name.clone(),
                None => decl
                    .dim_params
                    .get(k)
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
            };
            dims.insert(pname, self.dim(&a.value)?);
        }
        let mut params = HashMap::new();
        let mut nested = HashMap::new();
        // Parameter shapes use the layer's dimensions: evaluate them in a scope
        // holding only those (globals are found through `lookup`).
        self.scopes.push(
            dims.iter()
                .map(|(n, v)| (n.clone(), Item::Dim(*v)))
                .collect(),
        );
        let result = (|| -> Result<(), RunError> {
            for stmt in &decl.body {
                match &stmt.kind {
                    StmtKind::Tensor(d) if d.role == TensorRole::Param => {
                        let node = self.declare_leaf(d, &format!("{full_name}."), &dims)?;
                        params.insert(d.name.name.clone(), node);
                    }
                    StmtKind::Instance { name, layer, args } => {
                        let inner = self.instantiate(
                            &format!("{full_name}.{}", name.name),
                            &layer.name,
                            args,
                        )?;
                        nested.insert(name.name.clone(), inner);
                    }
                    _ => {}
                }
            }
            Ok(())
        })();
        self.scopes.pop();
        result?;
        Ok(Rc::new(RtInstance {
            layer: decl,
            dims,
            params,
            nested,
        }))
    }

    /// `fc1(x)`: the layer body, inlined, with generic dimensions from the arguments.
    fn call_instance(
        &mut self,
        inst: &RtInstance,
        args: &[Arg],
        span: Span,
    ) -> Result<NodeId, RunError> {
        let decl = inst.layer.clone();
        let mut arg_nodes: Vec<Option<NodeId>> = vec![None; decl.params.len()];
        for (k, a) in args.iter().enumerate() {
            let slot = match &a.name {
                Some(n) => decl.params.iter().position(|p| p.name.name == n.name),
                None => Some(k),
            };
            let node = self.expr(&a.value)?;
            if let Some(s) = slot.filter(|s| *s < arg_nodes.len()) {
                arg_nodes[s] = Some(node);
            }
        }
        let mut scope: HashMap<String, Item> = inst
            .dims
            .iter()
            .map(|(n, v)| (n.clone(), Item::Dim(*v)))
            .collect();
        // Generic dimensions: a name in the signature that is neither global nor a
        // parameter takes its value from the argument's shape.
        for (p, node) in decl.params.iter().zip(&arg_nodes) {
            let Some(node) = node else {
                return Err(internal(
                    span,
                    GraphError::Internal("missing layer argument".into()),
                ));
            };
            if let ExprKind::List(axes) = &p.shape.strip_parens().kind {
                let actual = self.g.shape(*node).to_vec();
                for (axis, e) in axes.iter().enumerate() {
                    if let ExprKind::Name(n) = &e.kind {
                        let known = scope.contains_key(n) || self.global_dims.contains_key(n);
                        if !known {
                            if let Some(v) = actual.get(axis) {
                                scope.insert(n.clone(), Item::Dim(*v));
                            }
                        }
                    }
                }
            }
            scope.insert(p.name.name.clone(), Item::Node(*node));
        }
        for (n, node) in &inst.params {
            scope.insert(n.clone(), Item::Node(*node));
        }
        for (n, nested) in &inst.nested {
            scope.insert(n.clone(), Item::Instance(nested.clone()));
        }
        self.scopes.push(scope);
        let result = (|| -> Result<NodeId, RunError> {
            for stmt in &decl.body {
                match &stmt.kind {
                    StmtKind::Binding { name, value, .. } => {
                        let node = self.expr(value)?;
                        self.bind(&name.name, Item::Node(node));
                    }
                    StmtKind::Return(e) => return self.expr(e),
                    _ => {}
                }
            }
            Err(internal(
                span,
                GraphError::Internal("layer without return".into()),
            ))
        })();
        self.scopes.pop();
        result
    }

    fn assert_close(&mut self, e: &Expr) -> Result<AssertClose, RunError> {
        let ExprKind::Call { args, .. } = &e.strip_parens().kind else {
            return Err(internal(
                e.span,
                GraphError::Internal("assert without close".into()),
            ));
        };
        let positional: Vec<&Arg> = args.iter().filter(|a| a.name.is_none()).collect();
        let [a, b] = positional.as_slice() else {
            return Err(internal(
                e.span,
                GraphError::Internal("close takes two values".into()),
            ));
        };
        let option = |name: &str| {
            args.iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.name == name))
                .and_then(|a| number(&a.value))
        };
        Ok(AssertClose {
            a: self.expr(&a.value)?,
            b: self.expr(&b.value)?,
            a_span: a.value.span,
            b_span: b.value.span,
            span: e.span,
            rtol: option("rtol"),
            atol: option("atol"),
        })
    }

    fn expr(&mut self, e: &Expr) -> Result<NodeId, RunError> {
        let node = self.expr_inner(e)?;
        self.check_size(node, e.span)
    }

    fn expr_inner(&mut self, e: &Expr) -> Result<NodeId, RunError> {
        let span = e.span;
        let g = |r: Result<NodeId, GraphError>| r.map_err(|err| internal(span, err));
        match &e.kind {
            ExprKind::Number(v) => Ok(self.g.scalar(*v)),
            ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Name(n) => match self.lookup(n) {
                Some(Item::Node(node)) => Ok(node),
                Some(Item::Dim(v)) => Ok(self.g.scalar(v as f64)),
                Some(Item::Instance(_)) => Err(internal(
                    span,
                    GraphError::Internal(format!("{n} is an instance")),
                )),
                None => Err(self.unbound_dim(n, span)),
            },
            ExprKind::Neg(inner) => {
                let x = self.expr(inner)?;
                g(self.g.neg(x))
            }
            ExprKind::Binary { op, lhs, rhs, .. } => {
                let (a, b) = (self.expr(lhs)?, self.expr(rhs)?);
                g(match op {
                    BinOp::Add => self.g.add(a, b),
                    BinOp::Sub => self.g.sub(a, b),
                    BinOp::Mul => self.g.mul(a, b),
                    BinOp::Div => self.g.div(a, b),
                    BinOp::MatMul => self.g.matmul(a, b),
                    BinOp::Pow => self.g.pow(a, b),
                })
            }
            ExprKind::Member { base, member } => {
                if let Some(node) = self.instance_param(e)? {
                    return Ok(node);
                }
                if member.name == "T" {
                    let x = self.expr(base)?;
                    return g(self.g.reverse_axes(x));
                }
                Err(internal(
                    span,
                    GraphError::Internal("unknown member".into()),
                ))
            }
            ExprKind::Call { callee, args } => self.call(callee, args, span),
            ExprKind::Bool(_) | ExprKind::List(_) => {
                Err(internal(span, GraphError::Internal("not a tensor".into())))
            }
        }
    }

    /// `fc1.W` / `fc1.inner.W`, or `None` if `e` is not an instance path.
    fn instance_param(&mut self, e: &Expr) -> Result<Option<NodeId>, RunError> {
        let Some(path) = e.as_path() else {
            return Ok(None);
        };
        let Some(Item::Instance(mut inst)) = self.lookup(path[0].0) else {
            return Ok(None);
        };
        for (i, (name, _)) in path.iter().enumerate().skip(1) {
            if i == path.len() - 1 {
                return Ok(inst.params.get(*name).copied());
            }
            match inst.nested.get(*name) {
                Some(n) => inst = n.clone(),
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The node of a derivative's variable (a name or an instance parameter).
    fn variable(&mut self, x: &Expr) -> Result<NodeId, RunError> {
        if let Some(node) = self.instance_param(x)? {
            return Ok(node);
        }
        self.expr(x)
    }

    fn call(&mut self, callee: &Expr, args: &[Arg], span: Span) -> Result<NodeId, RunError> {
        let g = |r: Result<NodeId, GraphError>| r.map_err(|err| internal(span, err));
        let ExprKind::Name(name) = &callee.kind else {
            return Err(internal(span, GraphError::Internal("bad callee".into())));
        };
        if let Some(Item::Instance(inst)) = self.lookup(name) {
            return self.call_instance(&inst, args, span);
        }
        let pos: Vec<&Expr> = args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
            .collect();
        let opt = |n: &str| {
            args.iter()
                .find(|a| a.name.as_ref().is_some_and(|x| x.name == n))
                .map(|a| &a.value)
        };
        let keepdims = matches!(
            opt("keepdims").map(|e| &e.strip_parens().kind),
            Some(ExprKind::Bool(true))
        );
        let arg = |k: usize| -> Result<&Expr, RunError> {
            pos.get(k)
                .copied()
                .ok_or_else(|| internal(span, GraphError::Internal("missing argument".into())))
        };
        match name.as_str() {
            "exp" | "log" | "sqrt" | "tanh" | "sigmoid" | "relu" | "abs" | "sin" | "cos"
            | "neg" => {
                let x = self.expr(arg(0)?)?;
                g(match name.as_str() {
                    "exp" => self.g.exp(x),
                    "log" => self.g.log(x),
                    "sqrt" => self.g.sqrt(x),
                    "tanh" => self.g.tanh(x),
                    "sigmoid" => self.g.sigmoid(x),
                    "relu" => self.g.relu(x),
                    "abs" => self.g.abs(x),
                    "sin" => self.g.sin(x),
                    "cos" => self.g.cos(x),
                    _ => self.g.neg(x),
                })
            }
            "maximum" | "minimum" => {
                let (a, b) = (self.expr(arg(0)?)?, self.expr(arg(1)?)?);
                g(if name == "maximum" {
                    self.g.maximum(a, b)
                } else {
                    self.g.minimum(a, b)
                })
            }
            "sum" | "mean" | "max" | "min" => {
                let x = self.expr(arg(0)?)?;
                let rank = self.g.shape(x).len();
                let axes = match opt("axis") {
                    Some(e) => axes(e, rank),
                    None => (0..rank).collect(),
                };
                g(match name.as_str() {
                    "sum" => self.g.sum(x, &axes, keepdims),
                    "mean" => self.g.mean(x, &axes, keepdims),
                    "max" => self.g.max(x, &axes, keepdims),
                    _ => self.g.min(x, &axes, keepdims),
                })
            }
            "softmax" | "log_softmax" | "logsumexp" => {
                let x = self.expr(arg(0)?)?;
                let rank = self.g.shape(x).len();
                let axis = opt("axis")
                    .map(|e| axes(e, rank))
                    .and_then(|a| a.first().copied())
                    .unwrap_or(rank.saturating_sub(1));
                g(match name.as_str() {
                    "softmax" => self.g.softmax(x, axis),
                    "log_softmax" => self.g.log_softmax(x, axis),
                    _ => self.g.logsumexp(x, axis, keepdims),
                })
            }
            "transpose" => {
                let x = self.expr(arg(0)?)?;
                let rank = self.g.shape(x).len();
                let perm = axes_in_order(arg(1)?, rank);
                g(self.g.transpose(x, &perm))
            }
            "reshape" => {
                let x = self.expr(arg(0)?)?;
                let shape = self.shape(arg(1)?)?;
                g(self.g.reshape(x, shape))
            }
            "cross_entropy" => {
                let (logits, labels) = (self.expr(arg(0)?)?, self.expr(arg(1)?)?);
                // [.., C] logits and [..] labels: flatten the leading axes.
                let shape = self.g.shape(logits).to_vec();
                if shape.len() != 2 {
                    let classes = shape.last().copied().unwrap_or(1);
                    let rows = shape[..shape.len().saturating_sub(1)].iter().product();
                    let l2 = g(self.g.reshape(logits, vec![rows, classes]))?;
                    let t1 = g(self.g.reshape(labels, vec![rows]))?;
                    return g(self.g.cross_entropy(l2, t1));
                }
                g(self.g.cross_entropy(logits, labels))
            }
            "mse" => {
                let (a, b) = (self.expr(arg(0)?)?, self.expr(arg(1)?)?);
                g(self.g.mse(a, b))
            }
            "one_hot" => {
                let labels = self.expr(arg(0)?)?;
                let classes = self.dim(arg(1)?)?;
                g(self.g.one_hot(labels, classes))
            }
            "tensordot" => {
                let (a, b) = (self.expr(arg(0)?)?, self.expr(arg(1)?)?);
                let k = number(arg(2)?).unwrap_or(0.0) as usize;
                g(self.g.tensordot(a, b, k))
            }
            "zeros" | "ones" => {
                let shape = self.shape(arg(0)?)?;
                let node = self
                    .g
                    .constant(if name == "ones" { 1.0 } else { 0.0 }, shape);
                Ok(node)
            }
            "grad" | "hessian" | "jacobian" => {
                let y = self.expr(arg(0)?)?;
                let x = self.variable(arg(1)?)?;
                match name.as_str() {
                    "grad" => {
                        let result = g(self.g.grad(y, x))?;
                        self.derivatives.push(DerivativeSite {
                            kind: DerivativeKind::Grad,
                            y,
                            x,
                            direction: None,
                            result,
                            span,
                        });
                        Ok(result)
                    }
                    "jacobian" => {
                        self.check_jacobian_size(self.g.jacobian_elements(y, x), span, name)?;
                        g(self.g.jacobian(y, x))
                    }
                    _ => {
                        self.check_jacobian_size(self.g.jacobian_elements(x, x), span, name)?;
                        g(self.g.hessian(y, x))
                    }
                }
            }
            "vjp" | "jvp" => {
                let y = self.expr(arg(0)?)?;
                let x = self.variable(arg(1)?)?;
                let v = self.expr(arg(2)?)?;
                let (kind, result) = if name == "vjp" {
                    (DerivativeKind::Vjp, g(self.g.vjp(y, x, v))?)
                } else {
                    (DerivativeKind::Jvp, g(self.g.jvp(y, x, v))?)
                };
                self.derivatives.push(DerivativeSite {
                    kind,
                    y,
                    x,
                    direction: Some(v),
                    result,
                    span,
                });
                Ok(result)
            }
            _ => Err(internal(
                span,
                GraphError::Internal(format!("unknown function {name}")),
            )),
        }
    }

    /// E0606: refuse a materialized derivative above `--max-jacobian-bytes`.
    fn check_jacobian_size(&self, elements: u128, span: Span, name: &str) -> Result<(), RunError> {
        let bytes = elements.saturating_mul(self.opts.element_bytes);
        if bytes <= self.opts.max_jacobian_bytes {
            return Ok(());
        }
        let dtype = if self.opts.element_bytes == 8 {
            "f64"
        } else {
            "f32"
        };
        Err(Diagnostic::error(
            Code::E0606,
            span,
            format!(
                "this {name} would hold {} values ({} as {dtype}), above the limit of {}",
                thousands(elements),
                human_bytes(bytes),
                human_bytes(self.opts.max_jacobian_bytes)
            ),
        )
        .with_primary_label(format!("{} as {dtype}", human_bytes(bytes)))
        .with_help("use grad(sum(y), x), vjp(y, x, v) or jvp(y, x, u): they never form the Jacobian; or raise --max-jacobian-bytes")
        .into())
    }
}

fn number(e: &Expr) -> Option<f64> {
    match &e.strip_parens().kind {
        ExprKind::Number(v) => Some(*v),
        ExprKind::Neg(inner) => number(inner).map(|v| -v),
        _ => None,
    }
}

/// An `axis=` value (an integer or a list), normalized and sorted.
fn axes(e: &Expr, rank: usize) -> Vec<usize> {
    let mut out = axes_in_order(e, rank);
    out.sort_unstable();
    out.dedup();
    out
}

fn axes_in_order(e: &Expr, rank: usize) -> Vec<usize> {
    let items: Vec<&Expr> = match &e.strip_parens().kind {
        ExprKind::List(items) => items.iter().collect(),
        _ => vec![e],
    };
    items
        .iter()
        .filter_map(|i| number(i))
        .map(|k| {
            if k < 0.0 {
                (k + rank as f64) as usize
            } else {
                k as usize
            }
        })
        .collect()
}
