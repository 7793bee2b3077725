//! Lowering: the checker's typed program, with every dimension bound to a
//! number, becomes a graph of primitives. Layers are inlined at each call (an
//! instance's parameters are shared leaves); derivatives become graph
//! transformations.
//!
//! Lowering is a translation, not a second reading of the language: names are
//! already ids, options already evaluated, generic dimensions already bound to
//! expressions of the caller's. What it adds is numbers: every dimension
//! expression is evaluated under the bound values. And it enforces the contract
//! with the checker: every expression's concrete shape must equal its checked
//! type with the dimensions substituted, or lowering stops with an internal
//! error naming it.

use super::init::Init;
use super::RunError;
use crate::check::dims::{DimId, DimKind, Poly};
use crate::check::typed::Padding;
use crate::check::typed::{DerivativeKind, InstanceId, LayerId, TExpr, TExprKind, TStmt, TensorId};
use crate::check::types::Elem;
use crate::check::{Builtin, Checked};
use crate::diagnostics::units::{human_bytes, thousands};
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::graph::{DType, Graph, GraphError, NodeId, Shape, Window};
use crate::syntax::ast::BinOp;
use std::collections::HashMap;
use std::rc::Rc;

/// The padding before and after window axis `a` of length `n`: the explicit
/// value at both ends, or SAME's `max((out - 1) s + d (k - 1) + 1 - n, 0)` with
/// `out = ceil(n / s)`, split with the extra one at the end (TensorFlow, JAX).
fn pads(padding: Padding, a: usize, n: usize, win: &Window) -> (usize, usize) {
    match padding {
        Padding::Explicit(p) => (p[a] as usize, p[a] as usize),
        Padding::Same => {
            let s = win.stride[a].max(1);
            let out = n.div_ceil(s);
            let span = win.dilation[a] * (win.size[a].max(1) - 1) + 1;
            let total = ((out.max(1) - 1) * s + span).saturating_sub(n);
            (total / 2, total - total / 2)
        }
    }
}

/// A leaf of the graph: an input or a parameter, by its full name (`fc1.W`).
pub struct Leaf {
    pub name: String,
    pub node: NodeId,
    pub shape: Shape,
    pub is_int: bool,
    pub is_bool: bool,
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

/// A `dropout` in a training step: a leaf the loop fills with a fresh mask.
pub struct DropoutMask {
    pub node: NodeId,
    pub shape: Shape,
    /// The probability of zeroing an element.
    pub p: f64,
    pub span: Span,
}

pub struct Lowered {
    pub graph: Graph,
    /// Empty unless lowered for training ([`LowerOptions::training`]), in
    /// lowering order (a layer called twice has a mask per call).
    pub dropout_masks: Vec<DropoutMask>,
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
    /// Lower `dropout` as a mask to fill per step (`gradlang train`) instead
    /// of the identity.
    pub training: bool,
}

/// Dimension values by [`DimId`]: the bound globals, plus a layer's own
/// dimensions inside an inlined call.
type Env = Vec<Option<i64>>;

/// A layer instance at run time: its dimension values and its leaves.
struct RtInstance {
    layer: LayerId,
    /// The layer's dimension parameters bound (the globals as at instantiation).
    env: Env,
    /// The body's `param` tensors and their leaves.
    params: Vec<(TensorId, NodeId)>,
    /// The body's instances.
    nested: Vec<(InstanceId, Rc<RtInstance>)>,
    /// Every leaf it owns, in the order of the layer's `state` (`W`, `inner.W`).
    flat: Vec<(String, NodeId)>,
}

struct Lowerer<'a> {
    g: Graph,
    checked: &'a Checked,
    opts: &'a LowerOptions,
    /// The node of every tensor, by [`TensorId`]; layer-body tensors are set
    /// anew at each inlined call.
    nodes: Vec<Option<NodeId>>,
    instances: Vec<Option<Rc<RtInstance>>>,
    leaves: Vec<Leaf>,
    derivatives: Vec<DerivativeSite>,
    dropout_masks: Vec<DropoutMask>,
}

/// Lowers a checked program without errors. `globals` are the values of the
/// global dimensions by name (those without one are `None` until needed).
pub fn lower(
    checked: &Checked,
    globals: &HashMap<String, usize>,
    opts: &LowerOptions,
) -> Result<Lowered, RunError> {
    let env = env_of(checked, globals);
    let mut l = Lowerer {
        g: Graph::new(),
        checked,
        opts,
        nodes: vec![None; checked.tensors.len()],
        instances: vec![None; checked.instances.len()],
        leaves: Vec::new(),
        derivatives: Vec::new(),
        dropout_masks: Vec::new(),
    };
    let mut outputs = Vec::new();
    let mut asserts = Vec::new();
    let mut named = HashMap::new();
    for stmt in &checked.stmts {
        match stmt {
            TStmt::Decl(t) => {
                let node = l.leaf(*t, &checked.tensor(*t).name, &env)?;
                named.insert(checked.tensor(*t).name.clone(), node);
            }
            TStmt::Binding { tensor, value } => {
                let node = l.binding(*tensor, value, &env)?;
                let info = checked.tensor(*tensor);
                outputs.push(Output {
                    name: info.name.clone(),
                    node,
                    span: info.span,
                });
                named.insert(info.name.clone(), node);
            }
            TStmt::Instance(id) => {
                let info = checked.instance(*id);
                let rt = l.instantiate(*id, &info.name, &env)?;
                l.bind_instance_params(*id, &rt)?;
                for (path, node) in &rt.flat {
                    named.insert(format!("{}.{path}", info.name), *node);
                }
                l.instances[id.0 as usize] = Some(rt);
            }
            TStmt::Assert(a) => asserts.push(AssertClose {
                a: l.expr(&a.a, &env)?,
                b: l.expr(&a.b, &env)?,
                a_span: a.a.span,
                b_span: a.b.span,
                span: a.span,
                rtol: a.rtol,
                atol: a.atol,
            }),
            TStmt::Return(e) => return Err(internal(e.span, "`return` at the top level")),
        }
    }
    Ok(Lowered {
        graph: l.g,
        dropout_masks: l.dropout_masks,
        derivatives: l.derivatives,
        leaves: l.leaves,
        outputs,
        asserts,
        named,
    })
}

/// An internal error: the checker proved something lowering finds false.
fn internal(span: Span, what: impl std::fmt::Display) -> RunError {
    Diagnostic::error(
        Code::E0699,
        span,
        format!("internal error while building the program: {what}"),
    )
    .with_primary_label("here")
    .with_help("this is a bug in gradlang; please report it with the program")
    .into()
}

/// An engine error while lowering. Shapes were proven by the checker, so the
/// only expected one is a derivative through a materialized jacobian (E0612).
fn engine(span: Span, e: GraphError) -> RunError {
    if let GraphError::Unsupported { .. } = &e {
        return Diagnostic::error(Code::E0612, span, "cannot differentiate through a materialized jacobian")
            .with_primary_label("this derivative flows through a jacobian or hessian value")
            .with_help(
                "a jacobian is a value, not a function: differentiate the expression it was computed from \
                 instead (grad of grad, jvp of grad, hessian)",
            )
            .into();
    }
    internal(span, e)
}

/// Dimension values by id. A derived dimension is computed from its
/// definition here, whatever `globals` says, so a training graph lowered for
/// another batch size (`over=N`) sees `dim M = N * 2` follow `N`.
fn env_of(checked: &Checked, globals: &HashMap<String, usize>) -> Env {
    let mut env: Env = checked
        .dims
        .iter()
        .map(|(_, info)| match info.kind {
            DimKind::Derived { .. } => None,
            _ => globals.get(&info.name).map(|v| *v as i64),
        })
        .collect();
    for (id, info) in checked.dims.iter() {
        if let DimKind::Derived { def: Some(def) } = &info.kind {
            let value = def.eval(&|d| env.get(d.0 as usize).copied().flatten());
            env[id.0 as usize] = value.and_then(|v| i64::try_from(v).ok());
        }
    }
    env
}

impl<'a> Lowerer<'a> {
    fn node(&self, t: TensorId, span: Span) -> Result<NodeId, RunError> {
        self.nodes[t.0 as usize].ok_or_else(|| {
            internal(
                span,
                format!("`{}` has no value here", self.checked.tensor(t).name),
            )
        })
    }

    /// The value of a dimension expression under `env`.
    fn dim(&self, p: &Poly, env: &Env, span: Span) -> Result<i64, RunError> {
        let declared = |d: DimId| env.get(d.0 as usize).copied().flatten();
        if let Some(v) = p.eval(&declared) {
            return i64::try_from(v)
                .ok()
                .filter(|v| v.abs() < 1 << 62)
                .ok_or_else(|| {
                    Diagnostic::error(Code::E0610, span, "dimension arithmetic overflows")
                        .with_primary_label("too large")
                        .into()
                });
        }
        let missing = p.vars().into_iter().find(|d| declared(*d).is_none());
        match missing {
            Some(d) => Err(self.unbound_dim(d, span)),
            None if !p.divides_by_less_than_one(&declared) => {
                Err(
                    Diagnostic::error(Code::E0610, span, "dimension arithmetic overflows")
                        .with_primary_label("too large")
                        .into(),
                )
            }
            // every dimension has a value: a divisor is below 1 (`H / (W - 3)`)
            None => Err(Diagnostic::error(
                Code::E0613,
                span,
                format!(
                    "the dimension `{}` divides by a value below 1 with {}",
                    p.display(&self.checked.dims),
                    self.values_of(p, env)
                ),
            )
            .with_primary_label("division by a value below 1")
            .with_help("choose other dimension values (--dim), or change the expression")
            .into()),
        }
    }

    /// A dimension expression used as a size: non-negative.
    fn size(&self, p: &Poly, env: &Env, span: Span) -> Result<usize, RunError> {
        let v = self.dim(p, env, span)?;
        if v < 1 && p.as_const().is_none() {
            let shown = p.display(&self.checked.dims);
            return Err(Diagnostic::error(
                Code::E0613,
                span,
                format!(
                    "the dimension `{shown}` is {v} with {}: dimensions must be at least 1",
                    self.values_of(p, env)
                ),
            )
            .with_primary_label(format!("`{shown}` = {v}"))
            .with_help("choose larger dimension values (--dim), or change the expression")
            .into());
        }
        usize::try_from(v).map_err(|_| {
            Diagnostic::error(
                Code::E0604,
                span,
                format!("`{}` evaluates to {v}", p.display(&self.checked.dims)),
            )
            .with_primary_label("not a valid size")
            .with_help("dimension values are non-negative integers")
            .into()
        })
    }

    fn shape(&self, shape: &[Poly], env: &Env, span: Span) -> Result<Shape, RunError> {
        shape.iter().map(|p| self.size(p, env, span)).collect()
    }

    /// `H=3, W=4`: the values of the dimensions `p` names.
    fn values_of(&self, p: &Poly, env: &Env) -> String {
        let mut vars = p.vars();
        vars.sort();
        vars.dedup();
        let values: Vec<String> = vars
            .iter()
            .filter_map(|d| {
                let v = env.get(d.0 as usize).copied().flatten()?;
                Some(format!("{}={v}", self.checked.dims.name(*d)))
            })
            .collect();
        values.join(", ")
    }

    fn unbound_dim(&self, d: DimId, span: Span) -> RunError {
        let info = self.checked.dims.info(d);
        let name = &info.name;
        Diagnostic::error(Code::E0605, span, format!("dimension `{name}` has no value"))
            .with_primary_label("needed here")
            .with_label(info.span, "declared here without a value")
            .with_help(format!("give it one with --dim {name}=VALUE, a default (`dim {name} = 64`), or an input file whose shape binds it"))
            .into()
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

    /// The contract: the node's shape is the checked type under `env`.
    fn verify(
        &self,
        node: NodeId,
        ty: &[Poly],
        env: &Env,
        span: Span,
        what: &str,
    ) -> Result<(), RunError> {
        let expected = self.shape(ty, env, span)?;
        let actual = self.g.shape(node);
        if actual != expected.as_slice() {
            let checked = crate::check::types::shape_display(ty, &self.checked.dims);
            return Err(internal(
                span,
                format!("{what} was checked as {checked} = {expected:?} but computes {actual:?}"),
            ));
        }
        Ok(())
    }

    /// Creates the leaf of an input or param (`name` is its full name).
    fn leaf(&mut self, t: TensorId, name: &str, env: &Env) -> Result<NodeId, RunError> {
        let info = self.checked.tensor(t);
        let ty = info
            .ty
            .as_ref()
            .ok_or_else(|| internal(info.span, format!("`{name}` has no type")))?;
        let shape = self.shape(&ty.shape, env, info.span)?;
        let is_int = ty.elem == Elem::Int;
        let dtype = if is_int { DType::Int } else { DType::Float };
        let node = self.g.leaf(name, shape.clone(), dtype);
        self.check_size(node, info.span)?;
        let init = Init::from_typed(info.init.as_ref(), &|d| {
            env.get(d.0 as usize).copied().flatten()
        })
        .map_err(|d| self.unbound_dim(d, info.span))?;
        self.leaves.push(Leaf {
            name: name.to_string(),
            node,
            shape,
            is_int,
            is_bool: ty.elem == Elem::Bool,
            is_input: info.kind == crate::check::typed::TensorKind::Input,
            init,
            span: info.span,
        });
        self.nodes[t.0 as usize] = Some(node);
        Ok(node)
    }

    fn binding(&mut self, tensor: TensorId, value: &TExpr, env: &Env) -> Result<NodeId, RunError> {
        let node = self.expr(value, env)?;
        let info = self.checked.tensor(tensor);
        if let Some(ty) = &info.ty {
            self.verify(node, &ty.shape, env, info.span, &format!("`{}`", info.name))?;
        }
        self.nodes[tensor.0 as usize] = Some(node);
        Ok(node)
    }

    /// `fc1 = Dense[D, 512]`: creates the instance's leaves (and nested ones).
    fn instantiate(
        &mut self,
        id: InstanceId,
        full_name: &str,
        env: &Env,
    ) -> Result<Rc<RtInstance>, RunError> {
        let info = self.checked.instance(id);
        let layer = info
            .layer
            .ok_or_else(|| internal(info.span, "an instance without a layer"))?;
        let def = self.checked.layer(layer);
        let mut inner = env.clone();
        for ((_, d), arg) in def.dim_params.iter().zip(&info.dim_args) {
            inner[d.0 as usize] = Some(self.dim(arg, env, info.span)?);
        }
        let body = def
            .body
            .clone()
            .ok_or_else(|| internal(info.span, "a layer body with errors"))?;
        let mut params = Vec::new();
        let mut nested = Vec::new();
        let mut flat = Vec::new();
        for stmt in body.iter() {
            match stmt {
                TStmt::Decl(t) => {
                    let local = &self.checked.tensor(*t).name;
                    let node = self.leaf(*t, &format!("{full_name}.{local}"), &inner)?;
                    params.push((*t, node));
                    flat.push((local.clone(), node));
                }
                TStmt::Instance(n) => {
                    let local = &self.checked.instance(*n).name;
                    let rt = self.instantiate(*n, &format!("{full_name}.{local}"), &inner)?;
                    flat.extend(
                        rt.flat
                            .iter()
                            .map(|(p, node)| (format!("{local}.{p}"), *node)),
                    );
                    nested.push((*n, rt));
                }
                _ => {}
            }
        }
        Ok(Rc::new(RtInstance {
            layer,
            env: inner,
            params,
            nested,
            flat,
        }))
    }

    /// Points the tensors of an instance's parameters (`fc1.W`) at its leaves.
    fn bind_instance_params(&mut self, id: InstanceId, rt: &RtInstance) -> Result<(), RunError> {
        let info = self.checked.instance(id);
        if info.params.len() != rt.flat.len() {
            return Err(internal(
                info.span,
                "an instance's parameters do not match its layer",
            ));
        }
        for ((path, _, t), (flat_path, node)) in info.params.iter().zip(&rt.flat) {
            if path != flat_path {
                return Err(internal(
                    info.span,
                    format!("instance parameter `{path}` found as `{flat_path}`"),
                ));
            }
            self.nodes[t.0 as usize] = Some(*node);
        }
        Ok(())
    }

    /// `fc1(x)`: the layer body, inlined.
    fn call(
        &mut self,
        instance: InstanceId,
        args: &[TExpr],
        generic: &[(DimId, Poly)],
        env: &Env,
        span: Span,
    ) -> Result<NodeId, RunError> {
        let rt = self.instances[instance.0 as usize]
            .clone()
            .ok_or_else(|| internal(span, "an instance called before it is created"))?;
        let arg_nodes = args
            .iter()
            .map(|a| self.expr(a, env))
            .collect::<Result<Vec<_>, _>>()?;
        let mut inner = rt.env.clone();
        for (g, p) in generic {
            inner[g.0 as usize] = Some(self.dim(p, env, span)?);
        }
        let def = self.checked.layer(rt.layer);
        for (t, node) in def.args.iter().zip(&arg_nodes) {
            self.nodes[t.0 as usize] = Some(*node);
        }
        for (t, node) in &rt.params {
            self.nodes[t.0 as usize] = Some(*node);
        }
        for (n, nested) in &rt.nested {
            self.bind_instance_params(*n, nested)?;
            self.instances[n.0 as usize] = Some(nested.clone());
        }
        let body = def
            .body
            .clone()
            .ok_or_else(|| internal(span, "a layer body with errors"))?;
        for stmt in body.iter() {
            match stmt {
                TStmt::Binding { tensor, value } => {
                    self.binding(*tensor, value, &inner)?;
                }
                TStmt::Return(e) => return self.expr(e, &inner),
                TStmt::Decl(_) | TStmt::Instance(_) | TStmt::Assert(_) => {}
            }
        }
        Err(internal(span, "a layer without `return`"))
    }

    fn expr(&mut self, e: &TExpr, env: &Env) -> Result<NodeId, RunError> {
        let node = self.expr_inner(e, env)?;
        self.check_size(node, e.span)?;
        self.verify(node, &e.ty.shape, env, e.span, "this expression")?;
        Ok(node)
    }

    fn expr_inner(&mut self, e: &TExpr, env: &Env) -> Result<NodeId, RunError> {
        let span = e.span;
        let g = |r: Result<NodeId, GraphError>| r.map_err(|err| engine(span, err));
        match &e.kind {
            TExprKind::Number(v) => Ok(self.g.scalar(*v)),
            TExprKind::Dim(p) => {
                let v = self.dim(p, env, span)?;
                Ok(self.g.scalar(v as f64))
            }
            TExprKind::Tensor(t) => self.node(*t, span),
            TExprKind::Neg(x) => {
                let x = self.expr(x, env)?;
                g(self.g.neg(x))
            }
            TExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.expr(lhs, env)?, self.expr(rhs, env)?);
                g(match op {
                    BinOp::Add => self.g.add(a, b),
                    BinOp::Sub => self.g.sub(a, b),
                    BinOp::Mul => self.g.mul(a, b),
                    BinOp::Div => self.g.div(a, b),
                    BinOp::MatMul => self.g.matmul(a, b),
                    BinOp::Pow => self.g.pow(a, b),
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne => {
                        let a = self.as_number(a, lhs, span)?;
                        let b = self.as_number(b, rhs, span)?;
                        self.compare(*op, a, b)
                    }
                })
            }
            TExprKind::Index { base, items } => {
                let x = self.expr(base, env)?;
                self.index(x, items, env, span)
            }
            TExprKind::Transpose(x) => {
                let x = self.expr(x, env)?;
                g(self.g.reverse_axes(x))
            }
            TExprKind::Builtin {
                builtin,
                args,
                attrs,
            } => {
                let nodes = args
                    .iter()
                    .map(|a| self.expr(a, env))
                    .collect::<Result<Vec<_>, _>>()?;
                if matches!(
                    builtin,
                    Builtin::Conv1d | Builtin::Conv2d | Builtin::MaxPool2d | Builtin::AvgPool2d
                ) {
                    // A window that does not fit the bound sizes is an output
                    // size below 1: E0613 naming it, before the engine refuses.
                    self.shape(&e.ty.shape, env, span)?;
                }
                self.builtin(*builtin, &nodes, attrs, env, span)
            }
            TExprKind::Derivative {
                kind,
                y,
                x,
                direction,
            } => {
                let y = self.expr(y, env)?;
                let x = self.node(*x, span)?;
                let direction = match direction {
                    Some(d) => Some(self.expr(d, env)?),
                    None => None,
                };
                self.derivative(*kind, y, x, direction, span)
            }
            TExprKind::Call {
                instance,
                args,
                generic,
            } => self.call(*instance, args, generic, env, span),
        }
    }

    /// An int operand of a comparison as floats (bool and float are floats already).
    fn as_number(&mut self, n: NodeId, e: &TExpr, span: Span) -> Result<NodeId, RunError> {
        if e.ty.elem == Elem::Int {
            self.g.int_to_float(n).map_err(|err| engine(span, err))
        } else {
            Ok(n)
        }
    }

    /// A comparison as a 0/1 float mask, without a derivative.
    fn compare(&mut self, op: BinOp, a: NodeId, b: NodeId) -> Result<NodeId, GraphError> {
        let m = match op {
            BinOp::Gt => self.g.greater(a, b)?,
            BinOp::Lt => self.g.greater(b, a)?,
            // exclusive cases added: NaN compares false, as in NumPy
            BinOp::Ge => {
                let (gt, eq) = (self.g.greater(a, b)?, self.g.equal(a, b)?);
                self.g.add(gt, eq)?
            }
            BinOp::Le => {
                let (lt, eq) = (self.g.greater(b, a)?, self.g.equal(a, b)?);
                self.g.add(lt, eq)?
            }
            BinOp::Eq => self.g.equal(a, b)?,
            _ => {
                let eq = self.g.equal(a, b)?;
                let one = self.g.scalar(1.0);
                self.g.sub(one, eq)?
            }
        };
        self.g.stop_gradient(m)
    }

    /// `x[..]`: bounds evaluated, clamped as in NumPy; a length other than the
    /// checked one (a bound outside the axis) is an error.
    fn index(
        &mut self,
        x: NodeId,
        items: &[crate::check::typed::TIndex],
        env: &Env,
        span: Span,
    ) -> Result<NodeId, RunError> {
        use crate::check::typed::TIndex;
        let shape = self.g.shape(x).to_vec();
        let mut ranges = Vec::with_capacity(shape.len());
        let mut out_shape = Vec::new();
        for (axis, &n) in shape.iter().enumerate() {
            let n_i = n as i64;
            match items.get(axis) {
                None => {
                    ranges.push((0, n, 1));
                    out_shape.push(n);
                }
                Some(TIndex::Single(p)) => {
                    let i = self.dim(p, env, span)?;
                    let k = if i < 0 { i + n_i } else { i };
                    if k < 0 || k >= n_i {
                        return Err(Diagnostic::error(
                            Code::E0613,
                            span,
                            format!("index {i} is outside axis {axis} of length {n}"),
                        )
                        .with_primary_label("out of range")
                        .into());
                    }
                    ranges.push((k as usize, 1, 1));
                }
                Some(TIndex::Slice {
                    start,
                    stop,
                    step,
                    len,
                }) => {
                    let clamp = |v: i64| {
                        let v = if v < 0 { v + n_i } else { v };
                        v.clamp(0, n_i)
                    };
                    let a = match start {
                        Some(p) => clamp(self.dim(p, env, span)?),
                        None => 0,
                    };
                    let b = match stop {
                        Some(p) => clamp(self.dim(p, env, span)?),
                        None => n_i,
                    };
                    let count = if b > a { (b - a + step - 1) / step } else { 0 };
                    let want = self.dim(len, env, span)?;
                    if count != want || count < 1 {
                        let shown = len.display(&self.checked.dims);
                        return Err(Diagnostic::error(
                            Code::E0613,
                            span,
                            format!("this slice of axis {axis} (length {n}) selects {count} elements, but its checked length `{shown}` is {want} here: a bound is outside the axis"),
                        )
                        .with_primary_label("bound outside the axis")
                        .with_help("slice bounds must lie within the axis for the checked shape to hold; choose dimension values that fit")
                        .into());
                    }
                    ranges.push((a as usize, count as usize, *step as usize));
                    out_shape.push(count as usize);
                }
            }
        }
        let g = |r: Result<NodeId, GraphError>| r.map_err(|err| engine(span, err));
        let s = g(self.g.slice(x, ranges))?;
        if self.g.shape(s) == out_shape.as_slice() {
            Ok(s)
        } else {
            g(self.g.reshape(s, out_shape))
        }
    }

    /// A builtin call: one arm per builtin of the table.
    fn builtin(
        &mut self,
        builtin: Builtin,
        x: &[NodeId],
        attrs: &crate::check::typed::Attrs,
        env: &Env,
        span: Span,
    ) -> Result<NodeId, RunError> {
        let g = |r: Result<NodeId, GraphError>| r.map_err(|err| engine(span, err));
        let axis = || attrs.axes.first().copied().unwrap_or(0);
        let number = |default: f64| attrs.number.unwrap_or(default);
        match builtin {
            Builtin::Softplus => g(self.g.softplus(x[0])),
            Builtin::Log1p => g(self.g.log1p(x[0])),
            Builtin::Expm1 => g(self.g.expm1(x[0])),
            Builtin::Erf => g(self.g.erf(x[0])),
            Builtin::Silu => g(self.g.silu(x[0])),
            Builtin::Sign => g(self.g.sign(x[0])),
            Builtin::Floor => g(self.g.floor(x[0])),
            Builtin::Ceil => g(self.g.ceil(x[0])),
            Builtin::Round => g(self.g.round(x[0])),
            Builtin::Gelu => g(self.g.gelu(x[0], attrs.flag)),
            Builtin::LeakyRelu => g(self.g.leaky_relu(x[0], number(0.01))),
            Builtin::Elu => g(self.g.elu(x[0], number(1.0))),
            Builtin::Clip => g(self.g.clip(x[0], x[1], x[2])),
            Builtin::Var | Builtin::Std => {
                let v = g(self.g.var(x[0], &attrs.axes, attrs.keepdims, number(0.0)))?;
                if builtin == Builtin::Std {
                    g(self.g.sqrt(v))
                } else {
                    Ok(v)
                }
            }
            Builtin::Norm => g(self.g.norm(x[0], &attrs.axes, attrs.keepdims)),
            Builtin::Argmax | Builtin::Argmin => {
                g(self.g.arg_reduce(x[0], axis(), builtin == Builtin::Argmax))
            }
            Builtin::Accuracy => {
                let (logits, labels) = (x[0], x[1]);
                let shape = self.g.shape(logits).to_vec();
                if shape.len() == 2 {
                    return g(self.g.accuracy(logits, labels));
                }
                // [.., C] logits and [..] labels: flatten the leading axes
                let classes = shape.last().copied().unwrap_or(1);
                let rows = shape[..shape.len().saturating_sub(1)].iter().product();
                let l2 = g(self.g.reshape(logits, vec![rows, classes]))?;
                let t1 = g(self.g.reshape(labels, vec![rows]))?;
                g(self.g.accuracy(l2, t1))
            }
            Builtin::Concat => g(self.g.concat(x, axis())),
            Builtin::Stack => g(self.g.stack(x, axis())),
            Builtin::Tril | Builtin::Triu => {
                g(self.g.triangle(x[0], attrs.int, builtin == Builtin::Triu))
            }
            Builtin::Arange | Builtin::Eye => {
                let size = attrs
                    .size
                    .as_ref()
                    .ok_or_else(|| internal(span, "arange/eye without a size"))?;
                let n = self.size(size, env, span)?;
                if builtin == Builtin::Arange {
                    g(self.g.arange(n))
                } else {
                    g(self.g.eye(n))
                }
            }
            Builtin::Conv1d | Builtin::Conv2d => {
                let spatial = if builtin == Builtin::Conv1d { 1 } else { 2 };
                let xs = self.g.shape(x[0]).to_vec();
                let ws = self.g.shape(x[1]).to_vec();
                let mut win = Window {
                    size: [1, 1],
                    stride: [1, 1],
                    dilation: [1, 1],
                    pad_lo: [0, 0],
                    pad_hi: [0, 0],
                };
                for a in 0..spatial {
                    let slot = a + 2 - spatial;
                    let n = xs[xs.len() - 1 - spatial + a];
                    win.size[slot] = ws[a];
                    win.stride[slot] = attrs.stride[slot] as usize;
                    win.dilation[slot] = attrs.dilation[slot] as usize;
                    let (lo, hi) = pads(attrs.padding, slot, n, &win);
                    win.pad_lo[slot] = lo;
                    win.pad_hi[slot] = hi;
                }
                if spatial == 1 {
                    g(self.g.conv1d(
                        x[0],
                        x[1],
                        win.stride[1],
                        (win.pad_lo[1], win.pad_hi[1]),
                        win.dilation[1],
                    ))
                } else {
                    g(self.g.conv2d(x[0], x[1], &win))
                }
            }
            Builtin::MaxPool2d | Builtin::AvgPool2d => {
                let xs = self.g.shape(x[0]).to_vec();
                let mut win = Window {
                    size: [attrs.window[0] as usize, attrs.window[1] as usize],
                    stride: [attrs.stride[0] as usize, attrs.stride[1] as usize],
                    dilation: [1, 1],
                    pad_lo: [0, 0],
                    pad_hi: [0, 0],
                };
                for a in 0..2 {
                    let (lo, hi) = pads(attrs.padding, a, xs[xs.len() - 3 + a], &win);
                    win.pad_lo[a] = lo;
                    win.pad_hi[a] = hi;
                }
                if builtin == Builtin::MaxPool2d {
                    g(self.g.max_pool2d(x[0], &win))
                } else {
                    g(self.g.avg_pool2d(x[0], &win))
                }
            }
            // The identity outside training; in a training step, `x` times a
            // mask of 0 and 1/(1-p) that the loop draws per step (SPEC section 11).
            Builtin::Dropout => {
                let p = attrs.number.unwrap_or(0.5);
                if !self.opts.training || p == 0.0 {
                    return Ok(x[0]);
                }
                let shape = self.g.shape(x[0]).to_vec();
                let name = format!("dropout#{}", self.dropout_masks.len());
                let mask = self.g.leaf(&name, shape.clone(), DType::Float);
                self.dropout_masks.push(DropoutMask {
                    node: mask,
                    shape,
                    p,
                    span,
                });
                g(self.g.mul(x[0], mask))
            }
            Builtin::Exp => g(self.g.exp(x[0])),
            Builtin::Log => g(self.g.log(x[0])),
            Builtin::Sqrt => g(self.g.sqrt(x[0])),
            Builtin::Tanh => g(self.g.tanh(x[0])),
            Builtin::Sigmoid => g(self.g.sigmoid(x[0])),
            Builtin::Relu => g(self.g.relu(x[0])),
            Builtin::Abs => g(self.g.abs(x[0])),
            Builtin::Sin => g(self.g.sin(x[0])),
            Builtin::Cos => g(self.g.cos(x[0])),
            Builtin::Neg => g(self.g.neg(x[0])),
            Builtin::Maximum => g(self.g.maximum(x[0], x[1])),
            Builtin::Minimum => g(self.g.minimum(x[0], x[1])),
            Builtin::Sum => g(self.g.sum(x[0], &attrs.axes, attrs.keepdims)),
            Builtin::Mean => g(self.g.mean(x[0], &attrs.axes, attrs.keepdims)),
            Builtin::Max => g(self.g.max(x[0], &attrs.axes, attrs.keepdims)),
            Builtin::Min => g(self.g.min(x[0], &attrs.axes, attrs.keepdims)),
            Builtin::Logsumexp => g(self.g.logsumexp(x[0], axis(), attrs.keepdims)),
            Builtin::Softmax => g(self.g.softmax(x[0], axis())),
            Builtin::LogSoftmax => g(self.g.log_softmax(x[0], axis())),
            Builtin::Transpose => g(self.g.transpose(x[0], &attrs.axes)),
            Builtin::Reshape => {
                let shape = self.shape(&attrs.shape, env, span)?;
                g(self.g.reshape(x[0], shape))
            }
            Builtin::CrossEntropy => {
                let (logits, labels) = (x[0], x[1]);
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
            Builtin::Mse => g(self.g.mse(x[0], x[1])),
            Builtin::OneHot => {
                let size = attrs
                    .size
                    .as_ref()
                    .ok_or_else(|| internal(span, "one_hot without a class count"))?;
                let classes = self.size(size, env, span)?;
                g(self.g.one_hot(x[0], classes))
            }
            Builtin::Tensordot => g(self.g.tensordot(x[0], x[1], attrs.count)),
            Builtin::Zeros | Builtin::Ones => {
                let shape = self.shape(&attrs.shape, env, span)?;
                let value = if builtin == Builtin::Ones { 1.0 } else { 0.0 };
                Ok(self.g.constant(value, shape))
            }
            Builtin::Where => g(self.g.select(x[0], x[1], x[2])),
            Builtin::ToFloat => {
                if self.g.dtype(x[0]) == DType::Int {
                    g(self.g.int_to_float(x[0]))
                } else {
                    // a bool mask is 0/1 floats already; float(float) is the identity
                    Ok(x[0])
                }
            }
            Builtin::Take => g(self.g.take(x[0], x[1], axis())),
            Builtin::Gather => g(self.g.gather(x[0], x[1], axis())),
            Builtin::Flatten => {
                let s = self.g.shape(x[0]).to_vec();
                let start = axis();
                let mut shape = s[..start].to_vec();
                shape.push(s[start..].iter().product());
                g(self.g.reshape(x[0], shape))
            }
        }
    }

    fn derivative(
        &mut self,
        kind: DerivativeKind,
        y: NodeId,
        x: NodeId,
        direction: Option<NodeId>,
        span: Span,
    ) -> Result<NodeId, RunError> {
        let g = |r: Result<NodeId, GraphError>| r.map_err(|err| engine(span, err));
        let name = kind.name();
        let result = match (kind, direction) {
            (DerivativeKind::Grad, _) => g(self.g.grad(y, x))?,
            (DerivativeKind::Jacobian, _) => {
                self.check_jacobian_size(self.g.jacobian_elements(y, x), span, name)?;
                return g(self.g.jacobian(y, x));
            }
            (DerivativeKind::Hessian, _) => {
                self.check_jacobian_size(self.g.jacobian_elements(x, x), span, name)?;
                return g(self.g.hessian(y, x));
            }
            (DerivativeKind::Vjp, Some(v)) => g(self.g.vjp(y, x, v))?,
            (DerivativeKind::Jvp, Some(u)) => g(self.g.jvp(y, x, u))?,
            (DerivativeKind::Vjp | DerivativeKind::Jvp, None) => {
                return Err(internal(span, format!("`{name}` without a direction")))
            }
        };
        self.derivatives.push(DerivativeSite {
            kind,
            y,
            x,
            direction,
            result,
            span,
        });
        Ok(result)
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
