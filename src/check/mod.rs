//! The checker: names, layers and symbolic shapes (SPEC sections 3-7).
//!
//! Invariants:
//! - Checking is pure and fast and never evaluates anything (an editor runs it on
//!   every keystroke). It knows nothing of values: dimensions are symbols.
//! - Every independent error is reported. An expression whose type could not be
//!   determined is "poisoned" (`None`) and produces no further diagnostics, so one
//!   mistake gives one error.
//! - Layers are checked once, generically; calls are checked against signatures.

mod builtins;
mod decls;
pub mod dims;
mod expr;
mod layers;
mod suggest;
pub mod types;

use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::{Program, StmtKind, TensorRole};
use dims::{DimId, DimKind, Dims, Poly};
use std::collections::HashMap;
use std::rc::Rc;
use types::TensorTy;

pub use builtins::{human_bytes, thousands, BUILTIN_NAMES, DEFAULT_MAX_JACOBIAN_BYTES};
pub use layers::{LayerSig, StateParam};
pub use suggest::closest as closest_name;

/// Index of a tensor in the dependency graph (inputs, params, bindings, layer
/// arguments and instance parameters all get one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TensorId(pub u32);

/// What kind of declared tensor a [`DeclInfo`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Input,
    Param,
    /// A parameter owned by an instance (`fc1.W`).
    InstanceParam,
}

/// An instance of a layer (`fc1 = Dense[D, 512]`).
#[derive(Clone, Debug)]
pub struct Instance {
    pub name: String,
    pub layer: usize,
    /// One per dimension parameter of the layer, in the declaring scope's symbols.
    pub dim_args: Vec<Poly>,
    /// Every parameter it owns, nested instances included: (`W` or `inner.W`, type, id).
    pub params: Vec<(String, TensorTy, TensorId)>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub(crate) enum Entity {
    Dim(DimId),
    Tensor {
        ty: TensorTy,
        id: TensorId,
        span: Span,
    },
    Instance(Rc<Instance>),
    Layer(usize),
    /// A declaration that failed: uses are silently poisoned.
    Poisoned,
}

/// FNV-1a: names are short and come from the checker's own tables, so a fast
/// hash beats the default DoS-resistant SipHash here.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

#[derive(Default)]
pub(crate) struct Scope {
    names: FastMap<String, Entity>,
    /// Names bound later in this scope, for "used before it is bound".
    later: FastMap<String, Span>,
    /// Declaration spans, for "bound twice" and go-to-definition.
    decl_spans: FastMap<String, Span>,
    /// Names used so far (for unused-binding warnings in layer bodies).
    used: std::collections::HashSet<String, std::hash::BuildHasherDefault<Fnv>>,
}

/// What the checker learned about one top-level binding.
#[derive(Clone, Debug)]
pub struct BindingInfo {
    pub name: String,
    pub span: Span,
    pub ty: TensorTy,
    pub is_loss: bool,
}

/// A declared input or parameter, instance parameters included (`fc1.W`).
#[derive(Clone, Debug)]
pub struct DeclInfo {
    pub name: String,
    pub role: Role,
    pub ty: TensorTy,
    pub span: Span,
}

/// The result of checking a program.
#[derive(Default)]
pub struct Checked {
    pub diagnostics: Vec<Diagnostic>,
    pub dims: Dims,
    /// Top-level bindings in source order.
    pub bindings: Vec<BindingInfo>,
    /// Top-level inputs and params, and every instance parameter.
    pub decls: Vec<DeclInfo>,
    pub layers: Vec<LayerSig>,
    /// The type of every expression that has one, by span (for hover).
    pub expr_types: Vec<(Span, TensorTy)>,
    /// Every name use and the span of its declaration (for go-to-definition).
    pub references: Vec<(Span, Span)>,
    /// Explanations attached to spans, such as the rule a derivative's shape
    /// came from (`jacobian(y, x): [N, M] ++ [N, D]`).
    pub notes: Vec<(Span, String)>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        crate::diagnostics::has_errors(&self.diagnostics)
    }

    /// Renders a type with this program's dimension names.
    pub fn display(&self, ty: &TensorTy) -> String {
        ty.display(&self.dims)
    }
}

/// Parses and checks `src`: the diagnostics of both stages, sorted by position.
pub fn check_source(src: &str) -> (Program, Checked) {
    let parsed = crate::syntax::parse(src);
    let mut checked = check(&parsed.program, src);
    let mut all = parsed.diagnostics;
    all.append(&mut checked.diagnostics);
    all.sort_by_key(Diagnostic::sort_key);
    checked.diagnostics = all;
    (parsed.program, checked)
}

/// Checks a parsed program. `src` is used for snippets in messages.
pub fn check(program: &Program, src: &str) -> Checked {
    let mut c = Checker::new(src);
    c.program(program);
    let mut out = c.out;
    out.dims = c.dims;
    out.layers = c.layers;
    out.diagnostics = c.diags;
    out.diagnostics.sort_by_key(Diagnostic::sort_key);
    out
}

pub(crate) struct Checker<'a> {
    src: &'a str,
    dims: Dims,
    diags: Vec<Diagnostic>,
    layers: Vec<LayerSig>,
    layer_by_name: HashMap<String, usize>,
    /// The declarations behind `layers`, by `LayerSig::decl_index`.
    layer_decls: Vec<crate::syntax::ast::LayerDecl>,
    /// Direct dependencies of every tensor.
    deps: Vec<Vec<TensorId>>,
    /// Tensors referenced by the expression being checked.
    collected: Vec<TensorId>,
    scopes: Vec<Scope>,
    out: Checked,
}

impl<'a> Checker<'a> {
    fn new(src: &'a str) -> Self {
        Checker {
            src,
            dims: Dims::default(),
            diags: Vec::new(),
            layers: Vec::new(),
            layer_by_name: HashMap::new(),
            layer_decls: Vec::new(),
            deps: Vec::new(),
            collected: Vec::new(),
            scopes: vec![Scope::default()],
            out: Checked::default(),
        }
    }

    pub(crate) fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The source text of a span, if it is short enough to quote in a message.
    pub(crate) fn snippet(&self, span: Span) -> Option<&'a str> {
        let text = self.src.get(span.start..span.end)?;
        (text.len() <= 32 && !text.contains('\n')).then_some(text)
    }

    /// `` `x` `` or "this operand", for messages.
    pub(crate) fn quote(&self, span: Span) -> String {
        match self.snippet(span) {
            Some(t) => format!("`{t}`"),
            None => "this operand".to_string(),
        }
    }

    pub(crate) fn show(&self, ty: &TensorTy) -> String {
        ty.display(&self.dims)
    }

    pub(crate) fn new_tensor(&mut self, deps: Vec<TensorId>) -> TensorId {
        self.deps.push(deps);
        TensorId(self.deps.len() as u32 - 1)
    }

    /// True when the tensor with direct dependencies `roots` depends on `target`.
    pub(crate) fn depends_on(&self, roots: &[TensorId], target: TensorId) -> bool {
        let mut seen = vec![false; self.deps.len()];
        let mut stack: Vec<TensorId> = roots.to_vec();
        while let Some(t) = stack.pop() {
            if t == target {
                return true;
            }
            let i = t.0 as usize;
            if i >= seen.len() || seen[i] {
                continue;
            }
            seen[i] = true;
            stack.extend(self.deps[i].iter().copied());
        }
        false
    }

    fn scope(&mut self) -> &mut Scope {
        self.scopes
            .last_mut()
            .expect("the global scope is never popped")
    }

    pub(crate) fn in_layer(&self) -> bool {
        self.scopes.len() > 1
    }

    /// Looks a name up; layer bodies see only dimensions and layers globally.
    pub(crate) fn lookup(&mut self, name: &str) -> Option<Entity> {
        let scope = self.scopes.last_mut().expect("global scope");
        if let Some(e) = scope.names.get(name) {
            if !scope.used.contains(name) {
                scope.used.insert(name.to_string());
            }
            return Some(e.clone());
        }
        if self.scopes.len() > 1 {
            if let Some(e @ (Entity::Dim(_) | Entity::Layer(_))) = self.scopes[0].names.get(name) {
                return Some(e.clone());
            }
        }
        None
    }

    pub(crate) fn decl_span(&self, name: &str) -> Option<Span> {
        let top = self.scopes.last()?;
        top.decl_spans
            .get(name)
            .or_else(|| self.scopes[0].decl_spans.get(name))
            .copied()
    }

    /// Binds a name in the innermost scope, reporting E0203 if it is taken.
    pub(crate) fn bind(&mut self, name: &str, span: Span, entity: Entity) {
        if let Some(first) = self
            .decl_span(name)
            .filter(|_| self.scope().names.contains_key(name))
        {
            self.report(
                Diagnostic::error(Code::E0203, span, format!("`{name}` is bound twice"))
                    .with_primary_label("second binding")
                    .with_label(first, "first bound here")
                    .with_help("every name is bound once; choose a new name for the second value"),
            );
            return;
        }
        let scope = self.scope();
        scope.later.remove(name);
        scope.decl_spans.insert(name.to_string(), span);
        scope.names.insert(name.to_string(), entity);
    }

    /// Names visible here, for "did you mean".
    pub(crate) fn visible_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .scopes
            .last()
            .map(|s| s.names.keys().cloned().collect())
            .unwrap_or_default();
        if self.scopes.len() > 1 {
            names.extend(
                self.scopes[0]
                    .names
                    .iter()
                    .filter(|(_, e)| matches!(e, Entity::Dim(_) | Entity::Layer(_)))
                    .map(|(n, _)| n.clone()),
            );
        }
        names.sort();
        names
    }

    fn program(&mut self, program: &Program) {
        // Pass 1: dimensions and layers are visible throughout the file.
        for stmt in &program.stmts {
            match &stmt.kind {
                StmtKind::Dim(items) => self.declare_dims(items),
                StmtKind::Layer(layer) => self.register_layer(layer),
                _ => {}
            }
        }
        // Names bound later, for "used before it is bound".
        for stmt in &program.stmts {
            if let Some((name, span)) = bound_name(&stmt.kind) {
                self.scopes[0].later.entry(name.to_string()).or_insert(span);
            }
        }
        // Pass 2: every layer, once, generically.
        for i in 0..self.layers.len() {
            self.ensure_layer_checked(i, None);
        }
        // Pass 3: statements in order.
        for stmt in &program.stmts {
            match &stmt.kind {
                StmtKind::Dim(_) | StmtKind::Layer(_) => {}
                StmtKind::Tensor(decl) => self.tensor_decl(decl),
                StmtKind::Binding {
                    name,
                    value,
                    is_loss,
                } => {
                    if let Some(ty) = self.binding(name, value, *is_loss) {
                        self.out.bindings.push(BindingInfo {
                            name: name.name.clone(),
                            span: name.span,
                            ty,
                            is_loss: *is_loss,
                        });
                    }
                }
                StmtKind::Instance { name, layer, args } => self.instance_decl(name, layer, args),
                StmtKind::Assert(e) => self.assert_stmt(e),
                StmtKind::Return(e) => self.report(
                    Diagnostic::error(Code::E0103, stmt.span, "`return` outside a layer body")
                        .with_primary_label("only a layer body can return")
                        .with_help(format!(
                            "bind the value instead: `out = {}`",
                            self.snippet(e.span).unwrap_or("...")
                        )),
                ),
            }
        }
        self.warn_unused_instances();
    }

    fn declare_dims(&mut self, items: &[crate::syntax::ast::DimItem]) {
        for item in items {
            let default = match &item.default {
                None => None,
                Some(e) => self.dim_default(e),
            };
            let id = self
                .dims
                .add(&item.name.name, DimKind::Global { default }, item.name.span);
            self.bind(&item.name.name, item.name.span, Entity::Dim(id));
        }
    }

    /// A dimension's default: a positive integer (literal arithmetic allowed).
    fn dim_default(&mut self, e: &crate::syntax::ast::Expr) -> Option<i64> {
        match const_int(e) {
            Some(v) if v >= 1 => Some(v),
            Some(v) => {
                self.report(
                    Diagnostic::error(
                        Code::E0313,
                        e.span,
                        format!("a dimension must be at least 1, not {v}"),
                    )
                    .with_primary_label("dimension values are positive integers"),
                );
                None
            }
            // An integer (or integer arithmetic) beyond what a dimension can be.
            None if const_f64(e).is_some_and(|v| v.fract() == 0.0 || v.is_infinite()) => {
                self.report(
                    Diagnostic::error(
                        Code::E0313,
                        e.span,
                        "this number is too large for a dimension",
                    )
                    .with_primary_label("more than 9e15")
                    .with_help("a dimension is the length of an axis; no value may exceed 16 GiB"),
                );
                None
            }
            None => {
                self.report(
                    Diagnostic::error(
                        Code::E0313,
                        e.span,
                        "a dimension's default must be a positive integer",
                    )
                    .with_primary_label("not an integer constant")
                    .with_help("write an integer such as `dim D = 4096`"),
                );
                None
            }
        }
    }

    fn binding(
        &mut self,
        name: &crate::syntax::ast::Ident,
        value: &crate::syntax::ast::Expr,
        is_loss: bool,
    ) -> Option<TensorTy> {
        self.collected.clear();
        let ty = self.expr(value);
        let deps = std::mem::take(&mut self.collected);
        let Some(ty) = ty else {
            self.bind(&name.name, name.span, Entity::Poisoned);
            return None;
        };
        let mut ty = ty;
        if is_loss && !ty.is_scalar() {
            let shown = self.show(&ty);
            self.report(
                Diagnostic::error(
                    Code::E0308,
                    value.span,
                    format!(
                        "the loss `{}` must be a scalar, but it has shape {shown}",
                        name.name
                    ),
                )
                .with_primary_label(format!("this has shape {shown}"))
                .with_label(name.span, "declared as a loss here")
                .with_help(format!(
                    "reduce it: `loss {} = mean(...)` or `sum(...)`",
                    name.name
                )),
            );
            // Keep checking uses of the loss as the scalar it should be.
            ty = TensorTy::scalar();
        }
        let id = self.new_tensor(deps);
        self.out.references.push((name.span, name.span));
        self.bind(
            &name.name,
            name.span,
            Entity::Tensor {
                ty: ty.clone(),
                id,
                span: name.span,
            },
        );
        Some(ty)
    }

    fn assert_stmt(&mut self, e: &crate::syntax::ast::Expr) {
        use crate::syntax::ast::ExprKind;
        if let ExprKind::Call { callee, args } = &e.strip_parens().kind {
            if matches!(&callee.kind, ExprKind::Name(n) if n == "close") {
                self.close(args, e.span);
                return;
            }
        }
        self.report(
            Diagnostic::error(Code::E0206, e.span, "`assert` takes `close(a, b)`")
                .with_primary_label("not a `close(...)` call")
                .with_help("write `assert close(a, b)` (options: rtol=, atol=)"),
        );
    }

    fn warn_unused_instances(&mut self) {
        let scope = &self.scopes[0];
        let mut unused: Vec<(String, Span)> = scope
            .names
            .iter()
            .filter(|(n, e)| matches!(e, Entity::Instance(_)) && !scope.used.contains(*n))
            .map(|(n, e)| match e {
                Entity::Instance(i) => (n.clone(), i.span),
                _ => (n.clone(), Span::default()),
            })
            .collect();
        unused.sort_by_key(|(_, s)| s.start);
        for (name, span) in unused {
            self.report(
                Diagnostic::warning(
                    Code::W0001,
                    span,
                    format!("instance `{name}` is never used"),
                )
                .with_primary_label("declared here")
                .with_help(format!("call it (`{name}(x)`) or remove it")),
            );
        }
    }

    /// Records that `use_span` refers to the declaration of `name`.
    pub(crate) fn reference(&mut self, name: &str, use_span: Span) {
        if let Some(def) = self.decl_span(name) {
            self.out.references.push((use_span, def));
        }
    }

    pub(crate) fn note(&mut self, span: Span, text: String) {
        self.out.notes.push((span, text));
    }

    pub(crate) fn record_type(&mut self, span: Span, ty: &TensorTy) {
        self.out.expr_types.push((span, ty.clone()));
    }

    pub(crate) fn record_decl(&mut self, name: String, role: Role, ty: TensorTy, span: Span) {
        if !self.in_layer() {
            self.out.decls.push(DeclInfo {
                name,
                role,
                ty,
                span,
            });
        }
    }
}

/// The name a top-level statement binds, if any.
fn bound_name(kind: &StmtKind) -> Option<(&str, Span)> {
    match kind {
        StmtKind::Tensor(d) => Some((&d.name.name, d.name.span)),
        StmtKind::Binding { name, .. } | StmtKind::Instance { name, .. } => {
            Some((&name.name, name.span))
        }
        _ => None,
    }
}

/// An integer constant from literal arithmetic (`4096`, `2 * 8`, `-1`).
/// `e` evaluated in floating point when it is number arithmetic (for messages).
fn const_f64(e: &crate::syntax::ast::Expr) -> Option<f64> {
    use crate::syntax::ast::{BinOp, ExprKind};
    match &e.kind {
        ExprKind::Number(v) => Some(*v),
        ExprKind::Neg(inner) => const_f64(inner).map(|v| -v),
        ExprKind::Paren(inner) => const_f64(inner),
        ExprKind::Binary { op, lhs, rhs, .. } => {
            let (a, b) = (const_f64(lhs)?, const_f64(rhs)?);
            match op {
                BinOp::Add => Some(a + b),
                BinOp::Sub => Some(a - b),
                BinOp::Mul => Some(a * b),
                _ => None,
            }
        }
        _ => None,
    }
}

pub(crate) fn const_int(e: &crate::syntax::ast::Expr) -> Option<i64> {
    use crate::syntax::ast::{BinOp, ExprKind};
    match &e.kind {
        ExprKind::Number(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Some(*v as i64),
        ExprKind::Neg(inner) => const_int(inner)?.checked_neg(),
        ExprKind::Paren(inner) => const_int(inner),
        ExprKind::Binary { op, lhs, rhs, .. } => {
            let (a, b) = (const_int(lhs)?, const_int(rhs)?);
            match op {
                BinOp::Add => a.checked_add(b),
                BinOp::Sub => a.checked_sub(b),
                BinOp::Mul => a.checked_mul(b),
                _ => None,
            }
        }
        _ => None,
    }
}

impl From<TensorRole> for Role {
    fn from(r: TensorRole) -> Role {
        match r {
            TensorRole::Input => Role::Input,
            TensorRole::Param => Role::Param,
        }
    }
}
