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
pub mod consts;
mod decls;
mod derivatives;
mod derived;
pub mod dims;
mod expr;
mod layers;
mod suggest;
pub mod train;
pub mod typed;
pub mod types;

use crate::cancel::Cancel;
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::{BindingRole, Program, StmtKind, TensorRole};
use dims::{DimId, DimKind, Dims};
use std::collections::HashMap;
use typed::{Def, InstanceId, InstanceInfo, LayerId, LayerInfo, TStmt, TensorInfo, TensorKind};
use types::TensorTy;

pub use builtins::table::{
    self as builtin_table, Builtin, BuiltinDef, OptKind, Param, Role as BuiltinRole, Rule, BUILTINS,
};
pub use builtins::DEFAULT_MAX_JACOBIAN_BYTES;
pub use suggest::closest as closest_name;
pub use train::spec::TrainSpec;
pub use typed::TensorId;

/// What a name stands for in a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entity {
    Dim(DimId),
    /// A tensor; its type is `None` when its declaration had an error (uses are
    /// then silently poisoned, but still recorded as references).
    Tensor(TensorId),
    /// An instance; its layer is `None` when the declaration had an error.
    Instance(InstanceId),
    Layer(LayerId),
}

impl Entity {
    fn def(self) -> Def {
        match self {
            Entity::Dim(d) => Def::Dim(d),
            Entity::Tensor(t) => Def::Tensor(t),
            Entity::Instance(i) => Def::Instance(i),
            Entity::Layer(l) => Def::Layer(l),
        }
    }
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

/// A top-level binding (a view of the typed program, in source order).
#[derive(Clone, Debug)]
pub struct BindingInfo {
    pub name: String,
    pub span: Span,
    pub ty: TensorTy,
    /// A plain binding, the `loss` or a `metric`.
    pub role: BindingRole,
    pub tensor: TensorId,
}

/// A top-level input or parameter, instance parameters included (`fc1.W`).
#[derive(Clone, Debug)]
pub struct DeclInfo {
    pub name: String,
    pub kind: TensorKind,
    pub ty: TensorTy,
    pub span: Span,
    pub tensor: TensorId,
}

/// The result of checking a program: its diagnostics and the typed program.
#[derive(Default)]
pub struct Checked {
    pub diagnostics: Vec<Diagnostic>,
    pub dims: Dims,
    /// Every tensor, by [`TensorId`].
    pub tensors: Vec<TensorInfo>,
    /// Every instance declaration, by [`InstanceId`].
    pub instances: Vec<InstanceInfo>,
    /// Every layer, by [`LayerId`].
    pub layers: Vec<LayerInfo>,
    /// The top-level statements that checked without errors, in source order.
    pub stmts: Vec<TStmt>,
    /// Top-level bindings in source order.
    pub bindings: Vec<BindingInfo>,
    /// Top-level inputs and params, and every top-level instance's parameters.
    pub decls: Vec<DeclInfo>,
    /// The type of every expression that has one, by span (for hover).
    pub expr_types: Vec<(Span, TensorTy)>,
    /// Every name use (and every declaration) and what it refers to.
    pub references: Vec<(Span, Def)>,
    /// Explanations attached to spans, such as the rule a derivative's shape
    /// came from (`jacobian(y, x): [N, M] ++ [N, D]`); see [`Checked::note_text`].
    pub notes: Vec<(Span, Note)>,
    /// The `train` statement, resolved (SPEC section 11).
    pub train: Option<TrainSpec>,
}

/// An explanation attached to a span, shown on hover. Most are never shown,
/// so they are kept as data and worded by [`Checked::note_text`] on demand.
#[derive(Clone, Debug)]
pub enum Note {
    /// `fc1(x)`: the call's type, and the layer of the instance.
    InstanceCall { instance: InstanceId, ty: TensorTy },
    /// `jacobian(y, x)`: the rule of its shape, with the operands as written.
    Derivative {
        kind: typed::DerivativeKind,
        y: String,
        x: String,
        ty_y: TensorTy,
        ty_x: TensorTy,
    },
}

impl Checked {
    /// The words of a note: `fc1(x): [N, H] (an instance of Dense[I, O](..) -> ..)`.
    pub fn note_text(&self, note: &Note) -> String {
        match note {
            Note::InstanceCall { instance, ty } => {
                let info = self.instance(*instance);
                let shown = self.display(ty);
                match info.layer {
                    Some(l) => format!(
                        "{}: {shown} (an instance of {})",
                        info.name,
                        layer_signature(self.layer(l), self)
                    ),
                    None => format!("{}: {shown}", info.name),
                }
            }
            Note::Derivative {
                kind,
                y,
                x,
                ty_y,
                ty_x,
            } => {
                use typed::DerivativeKind as K;
                let (sy, sx) = (self.display(ty_y), self.display(ty_x));
                match kind {
                    K::Grad => format!("grad({y}, {x}): shape of {x} = {sx}"),
                    K::Hessian => format!("hessian({y}, {x}): {sx} ++ {sx}"),
                    K::Jacobian => format!("jacobian({y}, {x}): {sy} ++ {sx}"),
                    K::Vjp => format!("vjp({y}, {x}, v): v is {sy}, result is shape of {x} = {sx}"),
                    K::Jvp => format!("jvp({y}, {x}, u): u is {sx}, result is shape of {y} = {sy}"),
                }
            }
        }
    }

    pub fn has_errors(&self) -> bool {
        crate::diagnostics::has_errors(&self.diagnostics)
    }

    /// Renders a type with this program's dimension names.
    pub fn display(&self, ty: &TensorTy) -> String {
        ty.display(&self.dims)
    }

    pub fn tensor(&self, id: TensorId) -> &TensorInfo {
        &self.tensors[id.0 as usize]
    }

    pub fn instance(&self, id: InstanceId) -> &InstanceInfo {
        &self.instances[id.0 as usize]
    }

    pub fn layer(&self, id: LayerId) -> &LayerInfo {
        &self.layers[id.0 as usize]
    }

    /// The name and declaration span of what a reference points to.
    pub fn def_site(&self, def: Def) -> (&str, Span) {
        match def {
            Def::Dim(d) => {
                let info = self.dims.info(d);
                (&info.name, info.span)
            }
            Def::Tensor(t) => {
                let info = self.tensor(t);
                (&info.name, info.span)
            }
            Def::Layer(l) => {
                let info = self.layer(l);
                (&info.name, info.span)
            }
            Def::Instance(i) => {
                let info = self.instance(i);
                (&info.name, info.span)
            }
        }
    }
}

/// Parses and checks `src`: the diagnostics of both stages, sorted by position.
pub fn check_source(src: &str) -> (Program, Checked) {
    parse_and_check(src, &Cancel::new())
}

/// [`check_source`], given up as soon as `cancel` is set (then `None`): the
/// parser and the checker poll it once per statement.
pub fn check_source_unless(src: &str, cancel: &Cancel) -> Option<(Program, Checked)> {
    let result = parse_and_check(src, cancel);
    (!cancel.is_cancelled()).then_some(result)
}

fn parse_and_check(src: &str, cancel: &Cancel) -> (Program, Checked) {
    let parsed = crate::syntax::parse_unless(src, cancel);
    let mut checked = check_unless(&parsed.program, src, cancel);
    let mut all = parsed.diagnostics;
    all.append(&mut checked.diagnostics);
    all.sort_by_key(Diagnostic::sort_key);
    checked.diagnostics = all;
    (parsed.program, checked)
}

/// Checks a parsed program. `src` is used for snippets in messages.
pub fn check(program: &Program, src: &str) -> Checked {
    check_unless(program, src, &Cancel::new())
}

/// [`check`], stopping at the next statement once `cancel` is set (the result
/// is then truncated, for the caller to throw away).
fn check_unless(program: &Program, src: &str, cancel: &Cancel) -> Checked {
    let mut c = Checker::new(src, cancel);
    c.program(program);
    let mut out = c.out;
    out.dims = c.dims;
    out.diagnostics = c.diags;
    out.diagnostics.sort_by_key(Diagnostic::sort_key);
    out
}

pub(crate) struct Checker<'a> {
    src: &'a str,
    dims: Dims,
    diags: Vec<Diagnostic>,
    layer_by_name: HashMap<String, LayerId>,
    /// The declarations behind `out.layers`, by [`LayerId`].
    layer_decls: Vec<crate::syntax::ast::LayerDecl>,
    layer_status: Vec<layers::Status>,
    /// Direct dependencies of every tensor, by [`TensorId`].
    deps: Vec<Vec<TensorId>>,
    /// Tensors referenced by the expression being checked.
    collected: Vec<TensorId>,
    scopes: Vec<Scope>,
    /// The layer whose body is being checked, innermost last.
    layer_stack: Vec<LayerId>,
    cancel: &'a Cancel,
    out: Checked,
}

impl<'a> Checker<'a> {
    fn new(src: &'a str, cancel: &'a Cancel) -> Self {
        Checker {
            src,
            cancel,
            dims: Dims::default(),
            diags: Vec::new(),
            layer_by_name: HashMap::new(),
            layer_decls: Vec::new(),
            layer_status: Vec::new(),
            deps: Vec::new(),
            collected: Vec::new(),
            scopes: vec![Scope::default()],
            layer_stack: Vec::new(),
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

    /// A new tensor with its direct dependencies.
    pub(crate) fn new_tensor(
        &mut self,
        name: String,
        kind: TensorKind,
        ty: Option<TensorTy>,
        span: Span,
        deps: Vec<TensorId>,
    ) -> TensorId {
        let id = TensorId(self.out.tensors.len() as u32);
        self.out.tensors.push(TensorInfo {
            name,
            kind,
            ty,
            span,
            layer: self.layer_stack.last().copied(),
            init: None,
        });
        self.deps.push(deps);
        id
    }

    pub(crate) fn tensor_ty(&self, id: TensorId) -> Option<&TensorTy> {
        self.out.tensors[id.0 as usize].ty.as_ref()
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
            return Some(*e);
        }
        if self.scopes.len() > 1 {
            if let Some(e @ (Entity::Dim(_) | Entity::Layer(_))) = self.scopes[0].names.get(name) {
                return Some(*e);
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
    /// The declaration is recorded as a reference to itself (go-to-definition
    /// and rename work from the declaration too).
    pub(crate) fn bind(&mut self, name: &str, span: Span, entity: Entity) {
        self.out.references.push((span, entity.def()));
        if let Some(value) = predefined_constant(name) {
            self.report(
                Diagnostic::error(
                    Code::E0203,
                    span,
                    format!("`{name}` is a predefined constant ({value}) and cannot be bound"),
                )
                .with_primary_label("already means a number")
                .with_help(format!(
                    "choose another name, such as `{name}2` or `my_{name}`"
                )),
            );
        }
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

    /// Binds a tensor whose declaration failed: uses are poisoned, references kept.
    pub(crate) fn bind_poisoned(&mut self, name: &str, span: Span, kind: TensorKind) -> TensorId {
        let id = self.new_tensor(name.to_string(), kind, None, span, Vec::new());
        self.bind(name, span, Entity::Tensor(id));
        id
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
        // Pass 1: dimensions and layers are visible throughout the file, so
        // derived dimensions are defined once every name is known.
        let mut derived = Vec::new();
        for stmt in &program.stmts {
            match &stmt.kind {
                StmtKind::Dim(items) => self.declare_dims(items, &mut derived),
                StmtKind::Layer(layer) => self.register_layer(layer, stmt.span),
                _ => {}
            }
        }
        self.define_derived(&derived);
        // Names bound later, for "used before it is bound".
        for stmt in &program.stmts {
            if let Some((name, span)) = bound_name(&stmt.kind) {
                self.scopes[0].later.entry(name.to_string()).or_insert(span);
            }
        }
        // Pass 2: every layer, once, generically.
        for i in 0..self.out.layers.len() {
            if self.cancel.is_cancelled() {
                return;
            }
            self.ensure_layer_checked(LayerId(i as u32), None);
        }
        // Pass 3: statements in order; `train` last, as it speaks of the
        // whole program wherever it stands.
        let mut trains = Vec::new();
        for stmt in &program.stmts {
            if self.cancel.is_cancelled() {
                return;
            }
            match &stmt.kind {
                StmtKind::Dim(_) | StmtKind::Layer(_) => {}
                StmtKind::Tensor(decl) => {
                    if let Some(id) = self.tensor_decl(decl) {
                        self.out.stmts.push(TStmt::Decl(id));
                    }
                }
                StmtKind::Binding { name, value, role } => {
                    if let Some(b) = self.binding(name, value, *role) {
                        self.out.stmts.push(b);
                    }
                }
                StmtKind::Instance { name, layer, args } if self.indexes(layer) => {
                    let value = index_expr(layer, args, stmt.span);
                    if let Some(b) = self.binding(name, &value, BindingRole::Plain) {
                        self.out.stmts.push(b);
                    }
                }
                StmtKind::Train(t) => trains.push((t, stmt.span)),
                StmtKind::Instance { name, layer, args } => {
                    if let Some(id) = self.instance_decl(name, layer, args) {
                        self.out.stmts.push(TStmt::Instance(id));
                    }
                }
                StmtKind::Assert(e) => {
                    if let Some(a) = self.assert_stmt(e) {
                        self.out.stmts.push(TStmt::Assert(a));
                    }
                }
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
        self.train_statements(&trains);
        self.warn_unused_instances();
    }

    /// `a = m[0]`: indexing when `m` is not a layer but a tensor (SPEC section 5).
    pub(crate) fn indexes(&mut self, m: &crate::syntax::ast::Ident) -> bool {
        !self.layer_by_name.contains_key(&m.name)
            && matches!(self.lookup(&m.name), Some(Entity::Tensor(_)))
    }

    /// `dim N, D = 64, Ho = (H - 1) / 2 + 1`: a value that names a dimension
    /// makes a derived dimension, defined later (into `derived`); literal
    /// arithmetic is a default.
    fn declare_dims<'p>(
        &mut self,
        items: &'p [crate::syntax::ast::DimItem],
        derived: &mut Vec<(DimId, &'p crate::syntax::ast::Expr)>,
    ) {
        for item in items {
            let (name, span) = (&item.name.name, item.name.span);
            let id = match &item.default {
                Some(e) if derived::names_something(e) => {
                    let id = self.dims.add(name, DimKind::Derived { def: None }, span);
                    derived.push((id, e));
                    id
                }
                Some(e) => {
                    let default = self.dim_default(e);
                    self.dims.add(name, DimKind::Global { default }, span)
                }
                None => self.dims.add(name, DimKind::Global { default: None }, span),
            };
            self.bind(name, span, Entity::Dim(id));
        }
    }

    /// A dimension's default: a positive integer (literal arithmetic allowed).
    fn dim_default(&mut self, e: &crate::syntax::ast::Expr) -> Option<i64> {
        match consts::int(e) {
            Ok(v) if v >= 1 => Some(v),
            Ok(v) => {
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
            Err(err) => {
                self.report(err.diagnostic(
                    Code::E0313,
                    "a dimension's default",
                    "`dim D = 4096` or `dim D = 4 * 1024`",
                ));
                None
            }
        }
    }

    /// A binding (`y = ...`, `loss L = ...`, `metric acc = ...`), at the top
    /// level or in a layer body: the statement, when it checked without errors.
    pub(crate) fn binding(
        &mut self,
        name: &crate::syntax::ast::Ident,
        value: &crate::syntax::ast::Expr,
        role: BindingRole,
    ) -> Option<TStmt> {
        self.collected.clear();
        let typed = self.expr(value);
        let deps = std::mem::take(&mut self.collected);
        let kind = match role {
            BindingRole::Plain => TensorKind::Binding,
            BindingRole::Loss => TensorKind::Loss,
            BindingRole::Metric => TensorKind::Metric,
        };
        let Some(mut typed) = typed else {
            self.bind_poisoned(&name.name, name.span, kind);
            return None;
        };
        let mut ok = true;
        if role == BindingRole::Metric && !typed.ty.is_scalar() {
            let shown = self.show(&typed.ty);
            self.report(
                Diagnostic::error(
                    Code::E0707,
                    value.span,
                    format!(
                        "the metric `{}` must be a scalar, but it has shape {shown}",
                        name.name
                    ),
                )
                .with_primary_label(format!("this has shape {shown}"))
                .with_label(name.span, "declared as a metric here")
                .with_help("a metric is one number per batch: reduce it with `mean(...)`"),
            );
            typed.ty = TensorTy::scalar();
            ok = false;
        }
        if role == BindingRole::Loss && !typed.ty.is_scalar() {
            let shown = self.show(&typed.ty);
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
            typed.ty = TensorTy::scalar();
            ok = false;
        }
        let ty = typed.ty.clone();
        let id = self.new_tensor(name.name.clone(), kind, Some(ty.clone()), name.span, deps);
        self.bind(&name.name, name.span, Entity::Tensor(id));
        if !self.in_layer() {
            self.out.bindings.push(BindingInfo {
                name: name.name.clone(),
                span: name.span,
                ty,
                role,
                tensor: id,
            });
        }
        ok.then_some(TStmt::Binding {
            tensor: id,
            value: typed,
        })
    }

    fn assert_stmt(&mut self, e: &crate::syntax::ast::Expr) -> Option<typed::AssertClose> {
        use crate::syntax::ast::ExprKind;
        if let ExprKind::Call { callee, args } = &e.strip_parens().kind {
            if matches!(&callee.kind, ExprKind::Name(n) if n == "close") {
                return self.close(args, e.span);
            }
        }
        self.report(
            Diagnostic::error(Code::E0206, e.span, "`assert` takes `close(a, b)`")
                .with_primary_label("not a `close(...)` call")
                .with_help("write `assert close(a, b)` (options: rtol=, atol=)"),
        );
        None
    }

    fn warn_unused_instances(&mut self) {
        let scope = &self.scopes[0];
        let mut unused: Vec<(String, Span)> = scope
            .names
            .iter()
            .filter(|(n, _)| !scope.used.contains(*n))
            .filter_map(|(n, e)| match e {
                // A failed declaration was reported already.
                Entity::Instance(i) => {
                    let info = &self.out.instances[i.0 as usize];
                    info.layer.map(|_| (n.clone(), info.span))
                }
                _ => None,
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

    /// Records that `use_span` refers to `entity`.
    pub(crate) fn reference(&mut self, use_span: Span, entity: Entity) {
        self.out.references.push((use_span, entity.def()));
    }

    pub(crate) fn record_type(&mut self, span: Span, ty: &TensorTy) {
        self.out.expr_types.push((span, ty.clone()));
    }

    pub(crate) fn record_decl(&mut self, tensor: TensorId) {
        if self.in_layer() {
            return;
        }
        let info = &self.out.tensors[tensor.0 as usize];
        if let Some(ty) = &info.ty {
            self.out.decls.push(DeclInfo {
                name: info.name.clone(),
                kind: info.kind,
                ty: ty.clone(),
                span: info.span,
                tensor,
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

impl From<TensorRole> for TensorKind {
    fn from(r: TensorRole) -> TensorKind {
        match r {
            TensorRole::Input => TensorKind::Input,
            TensorRole::Param => TensorKind::Param,
        }
    }
}

/// `Dense[I, O](x: [B, I]) -> [B, O]`: a layer's signature with dimension names.
pub fn layer_signature(layer: &LayerInfo, checked: &Checked) -> String {
    layers::signature_text(layer, &checked.tensors, &checked.dims)
}

/// `pi` and `inf` (SPEC section 2): names that are scalar constants everywhere.
pub(crate) fn predefined_constant(name: &str) -> Option<f64> {
    match name {
        "pi" => Some(std::f64::consts::PI),
        "inf" => Some(f64::INFINITY),
        _ => None,
    }
}

/// `m[a, b]` parsed as an instance declaration, as the indexing expression it is.
pub(crate) fn index_expr(
    base: &crate::syntax::ast::Ident,
    args: &[crate::syntax::ast::Arg],
    stmt: Span,
) -> crate::syntax::ast::Expr {
    use crate::syntax::ast::{Expr, ExprKind, IndexItem};
    Expr {
        kind: ExprKind::Index {
            base: Box::new(Expr {
                kind: ExprKind::Name(base.name.clone()),
                span: base.span,
            }),
            items: args
                .iter()
                .map(|a| IndexItem::Single(a.value.clone()))
                .collect(),
        },
        span: Span::new(base.span.start, stmt.end),
    }
}
