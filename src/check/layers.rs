//! Layers: checked once, generically; instances fix their dimension parameters;
//! calls infer the per-call (generic) dimensions by unification.

use super::dims::{DimId, DimKind, Poly};
use super::typed::{
    InstanceId, InstanceInfo, LayerId, LayerInfo, StateParam, TExpr, TExprKind, TStmt, TensorKind,
};
use super::types::{shape_display, Shape, TensorTy};
use super::{Checker, Entity, Scope};
use crate::diagnostics::{Code, Diagnostic, Severity, Span};
use crate::syntax::ast::{Arg, BindingRole, Ident, LayerDecl, StmtKind, TensorRole};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Unchecked,
    InProgress,
    Done,
}

/// What the body of a layer declares and computes.
struct Body {
    state: Vec<StateParam>,
    params: Vec<super::TensorId>,
    instances: Vec<InstanceId>,
    stmts: Vec<TStmt>,
}

impl<'a> Checker<'a> {
    pub(crate) fn register_layer(&mut self, decl: &LayerDecl, _stmt: Span) {
        let id = LayerId(self.out.layers.len() as u32);
        self.out.layers.push(LayerInfo {
            name: decl.name.name.clone(),
            span: decl.name.span,
            header_span: decl.header_span,
            dim_params: Vec::new(),
            args: Vec::new(),
            ret: None,
            generic: Vec::new(),
            state: Vec::new(),
            params: Vec::new(),
            instances: Vec::new(),
            body: None,
            ok: false,
        });
        self.layer_decls.push(decl.clone());
        self.layer_status.push(Status::Unchecked);
        self.layer_by_name
            .entry(decl.name.name.clone())
            .or_insert(id);
        self.bind(&decl.name.name, decl.name.span, Entity::Layer(id));
    }

    pub(crate) fn layer_info(&self, id: LayerId) -> &LayerInfo {
        &self.out.layers[id.0 as usize]
    }

    /// Checks layer `i` if needed; false if it cannot be used (recursion, or
    /// already known broken). `from` is the instance declaration asking for it.
    pub(crate) fn ensure_layer_checked(&mut self, i: LayerId, from: Option<(Span, &str)>) -> bool {
        match self.layer_status[i.0 as usize] {
            Status::Done => true,
            Status::InProgress => {
                if let Some((span, outer)) = from {
                    let name = self.layer_info(i).name.clone();
                    let header = self.layer_info(i).header_span;
                    let msg = if outer == name {
                        format!("layer `{name}` instantiates itself")
                    } else {
                        format!("layers `{name}` and `{outer}` instantiate each other")
                    };
                    self.report(
                        Diagnostic::error(Code::E0505, span, msg)
                            .with_primary_label("recursive instance")
                            .with_label(header, format!("`{name}` is declared here"))
                            .with_help("layers cannot be recursive: a layer's parameters would be infinite"),
                    );
                }
                false
            }
            Status::Unchecked => {
                self.check_layer(i);
                true
            }
        }
    }

    fn check_layer(&mut self, i: LayerId) {
        self.layer_status[i.0 as usize] = Status::InProgress;
        let decl = self.layer_decls[i.0 as usize].clone();
        let saved_collected = std::mem::take(&mut self.collected);
        self.scopes.push(Scope::default());
        self.layer_stack.push(i);
        for stmt in &decl.body {
            if let StmtKind::Binding { name, .. } | StmtKind::Instance { name, .. } = &stmt.kind {
                self.scope()
                    .later
                    .entry(name.name.clone())
                    .or_insert(name.span);
            }
            if let StmtKind::Tensor(d) = &stmt.kind {
                self.scope()
                    .later
                    .entry(d.name.name.clone())
                    .or_insert(d.name.span);
            }
        }
        let mut ok = true;
        let mut dim_params = Vec::new();
        for d in &decl.dim_params {
            let id = self.dims.add(&d.name, DimKind::LayerParam, d.span);
            self.bind(&d.name, d.span, Entity::Dim(id));
            dim_params.push((d.name.clone(), id));
        }
        let first_generic = self.dims.iter().count();
        let mut args = Vec::new();
        for p in &decl.params {
            let ty = self.shape_of(&p.shape, true).map(|shape| TensorTy {
                shape,
                elem: match p.elem {
                    crate::syntax::ast::DeclElem::Float => super::types::Elem::Float,
                    crate::syntax::ast::DeclElem::Int => super::types::Elem::Int,
                    crate::syntax::ast::DeclElem::Bool => super::types::Elem::Bool,
                },
            });
            ok &= ty.is_some();
            let id = self.new_tensor(
                p.name.name.clone(),
                TensorKind::LayerArg,
                ty,
                p.name.span,
                Vec::new(),
            );
            self.bind(&p.name.name, p.name.span, Entity::Tensor(id));
            self.scope().used.remove(&p.name.name);
            args.push(id);
        }
        let generic_before_ret: Vec<DimId> = self
            .dims
            .iter()
            .skip(first_generic)
            .map(|(id, _)| id)
            .collect();
        let ret = self.shape_of(&decl.ret, true);
        let generic: Vec<DimId> = self
            .dims
            .iter()
            .skip(first_generic)
            .map(|(id, _)| id)
            .collect();
        for &g in generic.iter().filter(|g| !generic_before_ret.contains(g)) {
            let info = self.dims.info(g).clone();
            self.report(
                Diagnostic::error(Code::E0508, info.span, format!("cannot infer `{}`: it appears only in the return shape", info.name))
                    .with_primary_label("not in any argument's shape")
                    .with_help(format!("make `{}` a dimension parameter (`layer {}[..., {}]`) or declare it with `dim`", info.name, decl.name.name, info.name)),
            );
            ok = false;
        }
        // A return shape with an uninferable dimension is not compared with the body.
        let ret = ret.filter(|_| ok);
        ok &= ret.is_some();
        {
            let info = &mut self.out.layers[i.0 as usize];
            info.dim_params = dim_params;
            info.args = args;
            info.generic = generic.clone();
            info.ret = ret.clone();
        }
        let errors_before = self.error_count();
        let body = self.layer_body(&decl, ret.as_ref(), &generic);
        let body_ok = self.error_count() == errors_before;
        self.warn_unused_locals(&decl);
        self.layer_stack.pop();
        self.scopes.pop();
        self.collected = saved_collected;
        let info = &mut self.out.layers[i.0 as usize];
        info.state = body.state;
        info.params = body.params;
        info.instances = body.instances;
        info.body = body_ok.then(|| std::sync::Arc::new(body.stmts));
        info.ok = ok;
        self.layer_status[i.0 as usize] = Status::Done;
    }

    fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    fn layer_body(&mut self, decl: &LayerDecl, ret: Option<&Shape>, generic: &[DimId]) -> Body {
        let mut body = Body {
            state: Vec::new(),
            params: Vec::new(),
            instances: Vec::new(),
            stmts: Vec::new(),
        };
        let mut returned = false;
        let last = decl.body.len().saturating_sub(1);
        for (k, stmt) in decl.body.iter().enumerate() {
            let not_here = |c: &mut Self, what: &str, help: &str| {
                c.report(
                    Diagnostic::error(
                        Code::E0103,
                        stmt.span,
                        format!("{what} is not allowed in a layer body"),
                    )
                    .with_primary_label("inside layer")
                    .with_label(decl.header_span, format!("layer `{}`", decl.name.name))
                    .with_help(help.to_string()),
                )
            };
            match &stmt.kind {
                StmtKind::Tensor(d) if d.role == TensorRole::Param => {
                    let Some(id) = self.tensor_decl(d) else {
                        continue;
                    };
                    let Some(ty) = self.tensor_ty(id).cloned() else {
                        continue;
                    };
                    if self.uses_generic(&ty, generic, d.shape.span, &d.name.name) {
                        continue;
                    }
                    self.scope().used.remove(&d.name.name);
                    body.state.push(StateParam {
                        path: d.name.name.clone(),
                        ty,
                        span: d.name.span,
                        def: id,
                    });
                    body.params.push(id);
                    body.stmts.push(TStmt::Decl(id));
                }
                StmtKind::Tensor(d) => {
                    not_here(
                        self,
                        "`input`",
                        "pass the value as an argument of the layer",
                    );
                    // Uses of the name are then silent, not "used before bound".
                    self.bind_poisoned(&d.name.name, d.name.span, TensorKind::Input);
                }
                StmtKind::Dim(_) => not_here(
                    self,
                    "`dim`",
                    "declare dimensions at the top level or as layer parameters `layer L[D]`",
                ),
                StmtKind::Layer(_) => not_here(
                    self,
                    "a layer declaration",
                    "declare layers at the top level",
                ),
                StmtKind::Assert(_) => not_here(
                    self,
                    "`assert`",
                    "assert on the layer's output at the top level",
                ),
                StmtKind::Binding {
                    role: BindingRole::Loss,
                    ..
                } => not_here(self, "`loss`", "compute the loss at the top level"),
                StmtKind::Binding {
                    role: BindingRole::Metric,
                    ..
                } => not_here(self, "`metric`", "compute metrics at the top level"),
                StmtKind::Train(_) => not_here(
                    self,
                    "`train`",
                    "say how the program is trained at the top level",
                ),
                StmtKind::Binding { name, value, .. } => {
                    if let Some(b) = self.binding(name, value, BindingRole::Plain) {
                        body.stmts.push(b);
                    }
                    self.scope().used.remove(&name.name);
                }
                StmtKind::Instance { name, layer, args } if self.indexes(layer) => {
                    let value = super::index_expr(layer, args, stmt.span);
                    if let Some(b) = self.binding(name, &value, BindingRole::Plain) {
                        body.stmts.push(b);
                    }
                    self.scope().used.remove(&name.name);
                }
                StmtKind::Instance { name, layer, args } => {
                    let Some(id) = self.instance_decl(name, layer, args) else {
                        continue;
                    };
                    body.instances.push(id);
                    body.stmts.push(TStmt::Instance(id));
                    self.scope().used.remove(&name.name);
                    let inst = self.out.instances[id.0 as usize].clone();
                    let Some(inner) = inst.layer else { continue };
                    let inner_state = self.layer_info(inner).state.clone();
                    for ((path, ty, _), sp) in inst.params.iter().zip(&inner_state) {
                        if self.uses_generic(
                            ty,
                            generic,
                            layer.span,
                            &format!("{}.{path}", name.name),
                        ) {
                            break;
                        }
                        body.state.push(StateParam {
                            path: format!("{}.{path}", name.name),
                            ty: ty.clone(),
                            span: name.span,
                            def: sp.def,
                        });
                    }
                }
                StmtKind::Return(e) => {
                    if returned || k != last {
                        self.report(
                            Diagnostic::error(Code::E0506, stmt.span, "`return` must be the last statement of a layer body, and the only one")
                                .with_primary_label(if returned { "a second return" } else { "statements follow it" })
                                .with_label(decl.header_span, format!("layer `{}`", decl.name.name)),
                        );
                    }
                    returned = true;
                    let Some(typed) = self.expr(e) else { continue };
                    let Some(ret) = ret else { continue };
                    if &typed.ty.shape != ret {
                        let (got, want) = (self.show(&typed.ty), shape_display(ret, &self.dims));
                        self.report(
                            Diagnostic::error(
                                Code::E0507,
                                e.span,
                                format!(
                                    "layer `{}` returns {got} but declares {want}",
                                    decl.name.name
                                ),
                            )
                            .with_primary_label(format!("this is {got}"))
                            .with_label(decl.ret.span, format!("declared {want}")),
                        );
                        continue;
                    }
                    body.stmts.push(TStmt::Return(typed));
                }
            }
        }
        if !returned {
            self.report(
                Diagnostic::error(
                    Code::E0506,
                    decl.header_span,
                    format!("layer `{}` has no `return`", decl.name.name),
                )
                .with_primary_label("no return in this body")
                .with_help("end the body with `return <expression>`"),
            );
        }
        body
    }

    /// E0509 when a parameter's shape depends on a per-call dimension.
    fn uses_generic(&mut self, ty: &TensorTy, generic: &[DimId], span: Span, name: &str) -> bool {
        let Some(g) = ty
            .shape
            .iter()
            .flat_map(|d| d.vars())
            .find(|v| generic.contains(v))
        else {
            return false;
        };
        let gname = self.dims.name(g).to_string();
        self.report(
            Diagnostic::error(Code::E0509, span, format!("parameter `{name}` depends on `{gname}`, which is inferred per call"))
                .with_primary_label(format!("shape uses `{gname}`"))
                .with_help(format!("parameters are created once per instance; make `{gname}` a dimension parameter of the layer")),
        );
        true
    }

    fn warn_unused_locals(&mut self, decl: &LayerDecl) {
        for stmt in &decl.body {
            let (name, what) = match &stmt.kind {
                StmtKind::Binding {
                    name,
                    role: BindingRole::Plain,
                    ..
                } => (name, "binding"),
                StmtKind::Tensor(d) if d.role == TensorRole::Param => (&d.name, "param"),
                StmtKind::Instance { name, .. } => (name, "instance"),
                _ => continue,
            };
            let scope = self.scopes.last().expect("layer scope");
            if scope.names.contains_key(&name.name) && !scope.used.contains(&name.name) {
                self.report(
                    Diagnostic::warning(
                        Code::W0001,
                        name.span,
                        format!("{what} `{}` is never used", name.name),
                    )
                    .with_primary_label("unused")
                    .with_help("remove it, or use it in the returned value"),
                );
            }
        }
    }

    /// An instance declaration (`fc1 = Dense[D, 512]`): its id when it checked.
    /// A failed declaration still binds the name (to an instance without a
    /// layer), so its uses are poisoned and its references kept.
    pub(crate) fn instance_decl(
        &mut self,
        name: &Ident,
        layer: &Ident,
        args: &[Arg],
    ) -> Option<InstanceId> {
        let checked = self.instance_parts(name, layer, args);
        let (layer_id, dim_args, params) = match checked {
            Some((l, d, p)) => (Some(l), d, p),
            None => (None, Vec::new(), Vec::new()),
        };
        let id = InstanceId(self.out.instances.len() as u32);
        self.out.instances.push(InstanceInfo {
            name: name.name.clone(),
            layer: layer_id,
            dim_args,
            params,
            span: name.span,
            scope: self.layer_stack.last().copied(),
        });
        self.bind(&name.name, name.span, Entity::Instance(id));
        layer_id.map(|_| id)
    }

    /// The layer, dimension arguments and parameters of an instance declaration.
    #[allow(clippy::type_complexity)]
    fn instance_parts(
        &mut self,
        name: &Ident,
        layer: &Ident,
        args: &[Arg],
    ) -> Option<(LayerId, Vec<Poly>, Vec<(String, TensorTy, super::TensorId)>)> {
        let Some(&li) = self.layer_by_name.get(&layer.name) else {
            let entity = self.lookup(&layer.name);
            if let Some(entity) = entity {
                self.reference(layer.span, entity);
            }
            match entity {
                Some(Entity::Tensor(t)) if self.tensor_ty(t).is_none() => {}
                Some(Entity::Instance(i)) if self.out.instances[i.0 as usize].layer.is_none() => {}
                Some(_) => self.report(
                    Diagnostic::error(
                        Code::E0204,
                        layer.span,
                        format!("`{}` is not a layer", layer.name),
                    )
                    .with_primary_label("expected a layer name")
                    .with_help("an instance is declared from a layer: `fc1 = Dense[D, 512]`"),
                ),
                None => {
                    let names: Vec<String> =
                        self.out.layers.iter().map(|l| l.name.clone()).collect();
                    let mut d = Diagnostic::error(
                        Code::E0201,
                        layer.span,
                        format!("unknown layer `{}`", layer.name),
                    )
                    .with_primary_label("no layer with this name");
                    if let Some(best) =
                        super::suggest::closest(&layer.name, names.iter().map(String::as_str))
                    {
                        d = d
                            .with_help(format!("did you mean `{best}`?"))
                            .with_suggestion(layer.span, best);
                    }
                    self.report(d);
                }
            }
            return None;
        };
        self.reference(layer.span, Entity::Layer(li));
        let outer = self.current_layer_name();
        if !self.ensure_layer_checked(
            li,
            Some((layer.span, outer.as_deref().unwrap_or(&layer.name))),
        ) {
            return None;
        }
        let sig = self.layer_info(li).clone();
        let dim_args = self.dim_args(&sig, layer, args)?;
        let subst: HashMap<DimId, Poly> = sig
            .dim_params
            .iter()
            .map(|(_, id)| *id)
            .zip(dim_args.iter().cloned())
            .collect();
        let mut params = Vec::new();
        for sp in &sig.state {
            let Some(shape) = subst_shape(&sp.ty.shape, &subst) else {
                self.report(
                    Diagnostic::error(Code::E0313, name.span, "dimension arithmetic overflows")
                        .with_primary_label("too large"),
                );
                return None;
            };
            let ty = TensorTy {
                shape,
                elem: sp.ty.elem,
            };
            let full = format!("{}.{}", name.name, sp.path);
            let id = self.new_tensor(
                full,
                TensorKind::InstanceParam,
                Some(ty.clone()),
                sp.span,
                Vec::new(),
            );
            self.record_decl(id);
            params.push((sp.path.clone(), ty, id));
        }
        Some((li, dim_args, params))
    }

    fn current_layer_name(&self) -> Option<String> {
        let id = self.layer_stack.last()?;
        Some(self.layer_info(*id).name.clone())
    }

    /// Dimension arguments by position (`Dense[D, 512]`) or name (`Dense[I=512, O=C]`).
    fn dim_args(&mut self, sig: &LayerInfo, layer: &Ident, args: &[Arg]) -> Option<Vec<Poly>> {
        let expected = sig.dim_params.len();
        let params_text = sig
            .dim_params
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if args.len() != expected {
            self.report(
                Diagnostic::error(
                    Code::E0501,
                    layer.span,
                    format!(
                        "`{}` takes {expected} dimension argument{}, but {} {} given",
                        sig.name,
                        if expected == 1 { "" } else { "s" },
                        args.len(),
                        if args.len() == 1 { "was" } else { "were" }
                    ),
                )
                .with_primary_label(format!("{} given", args.len()))
                .with_label(
                    sig.header_span,
                    format!("`{}[{params_text}]` declared here", sig.name),
                ),
            );
            return None;
        }
        let mut values: Vec<Option<Poly>> = vec![None; expected];
        let mut seen_named = false;
        let mut ok = true;
        for (k, a) in args.iter().enumerate() {
            let slot = match &a.name {
                None if seen_named => {
                    self.report(
                        Diagnostic::error(
                            Code::E0502,
                            a.span,
                            "positional dimension argument after a named one",
                        )
                        .with_primary_label("positional")
                        .with_help("give all dimension arguments by position or all by name"),
                    );
                    return None;
                }
                None => k,
                Some(n) => {
                    seen_named = true;
                    match sig.dim_params.iter().position(|(p, _)| *p == n.name) {
                        Some(slot) if values[slot].is_none() => slot,
                        Some(_) => {
                            self.report(
                                Diagnostic::error(
                                    Code::E0502,
                                    n.span,
                                    format!("dimension `{}` is given twice", n.name),
                                )
                                .with_primary_label("repeated"),
                            );
                            return None;
                        }
                        None => {
                            let mut d = Diagnostic::error(
                                Code::E0502,
                                n.span,
                                format!("`{}` has no dimension parameter `{}`", sig.name, n.name),
                            )
                            .with_primary_label("unknown dimension parameter")
                            .with_label(
                                sig.header_span,
                                format!("`{}[{params_text}]` declared here", sig.name),
                            );
                            if let Some(best) = super::suggest::closest(
                                &n.name,
                                sig.dim_params.iter().map(|(p, _)| p.as_str()),
                            ) {
                                d = d
                                    .with_help(format!("did you mean `{best}`?"))
                                    .with_suggestion(n.span, best);
                            }
                            self.report(d);
                            return None;
                        }
                    }
                }
            };
            match self.dim_expr(&a.value, false) {
                Some(p) => values[slot] = Some(p),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        values.into_iter().collect()
    }

    /// `fc1(x)`: arity, then unification of argument shapes with the signature.
    /// The name and type (layer symbols) of each argument of a layer.
    fn layer_args(&self, sig: &LayerInfo) -> Vec<(String, Option<TensorTy>)> {
        sig.args
            .iter()
            .map(|id| {
                let t = &self.out.tensors[id.0 as usize];
                (t.name.clone(), t.ty.clone())
            })
            .collect()
    }

    /// `fc1(x)`: arity, then unification of argument shapes with the signature.
    pub(crate) fn call_instance(
        &mut self,
        id: InstanceId,
        callee: Span,
        args: &[Arg],
        span: Span,
    ) -> Option<TExpr> {
        let inst = self.out.instances[id.0 as usize].clone();
        let Some(layer) = inst.layer else {
            // A failed declaration: check the arguments, report nothing more.
            for a in args {
                self.expr(&a.value);
            }
            return None;
        };
        let sig = self.layer_info(layer).clone();
        let sig_args = self.layer_args(&sig);
        let mut slots: Vec<Option<&crate::syntax::ast::Expr>> = vec![None; sig_args.len()];
        let mut arity_ok = true;
        for (k, a) in args.iter().enumerate() {
            let slot = match &a.name {
                None => Some(k).filter(|k| *k < slots.len()),
                Some(n) => sig_args.iter().position(|(p, _)| *p == n.name),
            };
            match slot {
                Some(s) if slots[s].is_none() => slots[s] = Some(&a.value),
                _ => arity_ok = false,
            }
        }
        if !arity_ok || slots.iter().any(Option::is_none) {
            self.report(
                Diagnostic::error(
                    Code::E0503,
                    span,
                    format!(
                        "`{}` takes {} argument{}, but {} {} given",
                        inst.name,
                        sig_args.len(),
                        if sig_args.len() == 1 { "" } else { "s" },
                        args.len(),
                        if args.len() == 1 { "was" } else { "were" }
                    ),
                )
                .with_primary_label(format!("{} given", args.len()))
                .with_label(
                    sig.header_span,
                    format!("signature: {}", self.signature_text(&sig)),
                ),
            );
            for a in args {
                self.expr(&a.value);
            }
            return None;
        }
        let mut typed_args = Vec::new();
        for e in slots.iter().flatten() {
            typed_args.push((self.expr(e), e.span));
        }
        for (_, _, pid) in &inst.params {
            self.collected.push(*pid);
        }
        if !sig.ok {
            return None;
        }
        // Dimension parameters are fixed by the instance; generic ones are inferred.
        let mut bound: HashMap<DimId, Poly> = sig
            .dim_params
            .iter()
            .map(|(_, id)| *id)
            .zip(inst.dim_args.iter().cloned())
            .collect();
        let mut pending: Vec<(usize, usize)> = Vec::new();
        let mut failed = false;
        for (k, ((typed, aspan), (pname, pty))) in typed_args.iter().zip(&sig_args).enumerate() {
            let (Some(typed), Some(pty)) = (typed, pty) else {
                failed = true;
                continue;
            };
            let ty = &typed.ty;
            if ty.elem != pty.elem || ty.rank() != pty.rank() {
                self.signature_mismatch(&inst, &sig, pty, ty, &bound, *aspan, callee, pname);
                failed = true;
                continue;
            }
            for axis in 0..pty.rank() {
                match unify_axis(&pty.shape[axis], &ty.shape[axis], &sig.generic, &mut bound) {
                    Unify::Ok => {}
                    Unify::Later => pending.push((k, axis)),
                    Unify::Mismatch => {
                        self.signature_mismatch(
                            &inst, &sig, pty, ty, &bound, *aspan, callee, pname,
                        );
                        failed = true;
                        break;
                    }
                }
            }
        }
        for (k, axis) in pending {
            let (Some(typed), aspan) = (&typed_args[k].0, typed_args[k].1) else {
                continue;
            };
            let ty = &typed.ty;
            let (pname, Some(pty)) = &sig_args[k] else {
                continue;
            };
            match unify_axis(&pty.shape[axis], &ty.shape[axis], &sig.generic, &mut bound) {
                Unify::Ok => {}
                Unify::Mismatch => {
                    self.signature_mismatch(&inst, &sig, pty, ty, &bound, aspan, callee, pname);
                    failed = true;
                }
                Unify::Later => {
                    self.report(
                        Diagnostic::error(
                            Code::E0508,
                            aspan,
                            format!("cannot infer the dimensions of `{}` in this call", pname),
                        )
                        .with_primary_label(format!("this is {}", self.show(ty)))
                        .with_label(
                            sig.header_span,
                            format!("signature: {}", self.signature_text(&sig)),
                        )
                        .with_help(
                            "a per-call dimension must appear alone on some axis of an argument",
                        ),
                    );
                    failed = true;
                }
            }
        }
        if failed {
            return None;
        }
        let ret = sig.ret.as_ref()?;
        let shape = subst_shape(ret, &bound)?;
        self.out.notes.push((
            span,
            super::Note::InstanceCall {
                instance: id,
                ty: TensorTy::float(shape.clone()),
            },
        ));
        let generic = sig
            .generic
            .iter()
            .map(|g| bound.get(g).cloned().map(|p| (*g, p)))
            .collect::<Option<Vec<_>>>()?;
        Some(TExpr {
            kind: TExprKind::Call {
                instance: id,
                args: typed_args.into_iter().filter_map(|(t, _)| t).collect(),
                generic,
            },
            ty: TensorTy::float(shape),
            span,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn signature_mismatch(
        &mut self,
        inst: &InstanceInfo,
        sig: &LayerInfo,
        expected: &TensorTy,
        got: &TensorTy,
        bound: &HashMap<DimId, Poly>,
        aspan: Span,
        callee: Span,
        pname: &str,
    ) {
        let want = subst_shape(&expected.shape, bound)
            .map(|s| TensorTy {
                shape: s,
                elem: expected.elem,
            })
            .unwrap_or_else(|| expected.clone());
        let (got_s, want_s) = (self.show(got), self.show(&want));
        let args_text = inst
            .dim_args
            .iter()
            .map(|d| d.display(&self.dims))
            .collect::<Vec<_>>()
            .join(", ");
        let mut d = Diagnostic::error(
            Code::E0504,
            aspan,
            format!(
                "argument `{pname}` of `{}` must be {want_s}, but {} is {got_s}",
                inst.name,
                self.quote(aspan)
            ),
        )
        .with_primary_label(format!("this is {got_s}"))
        .with_label(
            callee,
            format!("`{}` is {}[{args_text}]", inst.name, sig.name),
        )
        .with_label(
            sig.header_span,
            format!("signature: {}", self.signature_text(sig)),
        );
        if got.rank() == 2
            && want.rank() == 2
            && got.shape[1] == want.shape[0]
            && got.shape[0] == want.shape[1]
        {
            if let Some(t) = self.snippet(aspan) {
                d = d
                    .with_help(format!("did you mean `{t}.T`?"))
                    .with_suggestion(aspan, super::suggest::transposed(t));
            }
        }
        self.report(d);
    }

    /// `Dense[I, O](x: [B, I]) -> [B, O]`.
    pub(crate) fn signature_text(&self, sig: &LayerInfo) -> String {
        signature_text(sig, &self.out.tensors, &self.dims)
    }
}

/// `Dense[I, O](x: [B, I]) -> [B, O]`, from a layer's signature.
pub fn signature_text(
    sig: &LayerInfo,
    tensors: &[super::typed::TensorInfo],
    dims: &super::dims::Dims,
) -> String {
    let dim_params = sig
        .dim_params
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let args = sig
        .args
        .iter()
        .map(|id| {
            let t = &tensors[id.0 as usize];
            let ty = t.ty.as_ref().map(|t| t.display(dims));
            format!("{}: {}", t.name, ty.as_deref().unwrap_or("?"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let ret = sig
        .ret
        .as_ref()
        .map(|r| shape_display(r, dims))
        .unwrap_or_else(|| "?".into());
    if dim_params.is_empty() {
        format!("{}({args}) -> {ret}", sig.name)
    } else {
        format!("{}[{dim_params}]({args}) -> {ret}", sig.name)
    }
}

enum Unify {
    Ok,
    Later,
    Mismatch,
}

/// Matches one axis of a signature (pattern, layer symbols) against an actual
/// dimension, binding a generic symbol that stands alone on the axis.
fn unify_axis(
    pattern: &Poly,
    actual: &Poly,
    generic: &[DimId],
    bound: &mut HashMap<DimId, Poly>,
) -> Unify {
    let Some(p) = pattern.subst(&|d| bound.get(&d).cloned()) else {
        return Unify::Mismatch;
    };
    let unbound: Vec<DimId> = p
        .vars()
        .into_iter()
        .filter(|v| generic.contains(v) && !bound.contains_key(v))
        .collect();
    if unbound.is_empty() {
        return if &p == actual {
            Unify::Ok
        } else {
            Unify::Mismatch
        };
    }
    match p.as_var() {
        Some(g) if generic.contains(&g) => {
            bound.insert(g, actual.clone());
            Unify::Ok
        }
        _ => Unify::Later,
    }
}

fn subst_shape(shape: &[Poly], map: &HashMap<DimId, Poly>) -> Option<Shape> {
    shape
        .iter()
        .map(|d| d.subst(&|v| map.get(&v).cloned()))
        .collect()
}
