//! Layers: checked once, generically; instances fix their dimension parameters;
//! calls infer the per-call (generic) dimensions by unification.

use super::dims::{DimId, DimKind, Poly};
use super::types::{shape_display, Shape, TensorTy};
use super::{Checker, Entity, Instance, Role, Scope};
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::{Arg, Ident, LayerDecl, StmtKind, TensorRole};
use std::collections::HashMap;
use std::rc::Rc;

/// A parameter owned by every instance of a layer: `W`, or `inner.W` for a
/// nested instance's parameter. Its type uses the layer's symbols.
#[derive(Clone, Debug)]
pub struct StateParam {
    pub path: String,
    pub ty: TensorTy,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Unchecked,
    InProgress,
    Done,
}

/// What a layer looks like from outside.
#[derive(Clone, Debug)]
pub struct LayerSig {
    pub name: String,
    pub header_span: Span,
    pub dim_params: Vec<(String, DimId)>,
    /// Call arguments: name, type (layer symbols), span.
    pub args: Vec<(String, TensorTy, Span)>,
    pub ret: Option<Shape>,
    pub state: Vec<StateParam>,
    /// Dimensions inferred per call (`B`).
    pub generic: Vec<DimId>,
    /// False when the signature itself has errors: calls are then not checked.
    pub ok: bool,
    status: Status,
    decl_index: usize,
}

impl<'a> Checker<'a> {
    pub(crate) fn register_layer(&mut self, decl: &LayerDecl) {
        let index = self.layers.len();
        self.layers.push(LayerSig {
            name: decl.name.name.clone(),
            header_span: decl.header_span,
            dim_params: Vec::new(),
            args: Vec::new(),
            ret: None,
            state: Vec::new(),
            generic: Vec::new(),
            ok: false,
            status: Status::Unchecked,
            decl_index: index,
        });
        self.layer_decls.push(decl.clone());
        self.layer_by_name
            .entry(decl.name.name.clone())
            .or_insert(index);
        self.bind(&decl.name.name, decl.name.span, Entity::Layer(index));
    }

    /// Checks layer `i` if needed; false if it cannot be used (recursion, or
    /// already known broken). `from` is the instance declaration asking for it.
    pub(crate) fn ensure_layer_checked(&mut self, i: usize, from: Option<(Span, &str)>) -> bool {
        match self.layers[i].status {
            Status::Done => true,
            Status::InProgress => {
                if let Some((span, outer)) = from {
                    let name = self.layers[i].name.clone();
                    let header = self.layers[i].header_span;
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

    fn check_layer(&mut self, i: usize) {
        self.layers[i].status = Status::InProgress;
        let decl = self.layer_decls[self.layers[i].decl_index].clone();
        let saved_collected = std::mem::take(&mut self.collected);
        self.scopes.push(Scope::default());
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
            match self.shape_of(&p.shape, true) {
                Some(shape) => {
                    let ty = TensorTy {
                        shape,
                        elem: if p.is_int {
                            super::types::Elem::Int
                        } else {
                            super::types::Elem::Float
                        },
                    };
                    let id = self.new_tensor(Vec::new());
                    self.bind(
                        &p.name.name,
                        p.name.span,
                        Entity::Tensor {
                            ty: ty.clone(),
                            id,
                            span: p.name.span,
                        },
                    );
                    self.scope().used.remove(&p.name.name);
                    args.push((p.name.name.clone(), ty, p.name.span));
                }
                None => {
                    ok = false;
                    self.bind(&p.name.name, p.name.span, Entity::Poisoned);
                }
            }
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
        self.layers[i].dim_params = dim_params;
        self.layers[i].args = args;
        self.layers[i].generic = generic.clone();
        self.layers[i].ret = ret.clone();
        let state = self.layer_body(&decl, ret.as_ref(), &generic);
        self.warn_unused_locals(&decl);
        self.scopes.pop();
        self.collected = saved_collected;
        let sig = &mut self.layers[i];
        sig.state = state;
        sig.ok = ok;
        sig.status = Status::Done;
    }

    fn layer_body(
        &mut self,
        decl: &LayerDecl,
        ret: Option<&Shape>,
        generic: &[DimId],
    ) -> Vec<StateParam> {
        let mut state = Vec::new();
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
                    self.tensor_decl(d);
                    if let Some(Entity::Tensor { ty, .. }) =
                        self.scope().names.get(&d.name.name).cloned()
                    {
                        if self.uses_generic(&ty, generic, d.shape.span, &d.name.name) {
                            continue;
                        }
                        self.scope().used.remove(&d.name.name);
                        state.push(StateParam {
                            path: d.name.name.clone(),
                            ty,
                            span: d.name.span,
                        });
                    }
                }
                StmtKind::Tensor(d) => {
                    not_here(
                        self,
                        "`input`",
                        "pass the value as an argument of the layer",
                    );
                    // Uses of the name are then silent, not "used before bound".
                    self.bind(&d.name.name, d.name.span, Entity::Poisoned);
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
                StmtKind::Binding { is_loss: true, .. } => {
                    not_here(self, "`loss`", "compute the loss at the top level")
                }
                StmtKind::Binding { name, value, .. } => {
                    self.collected.clear();
                    let ty = self.expr(value);
                    let deps = std::mem::take(&mut self.collected);
                    match ty {
                        Some(ty) => {
                            let id = self.new_tensor(deps);
                            self.bind(
                                &name.name,
                                name.span,
                                Entity::Tensor {
                                    ty,
                                    id,
                                    span: name.span,
                                },
                            );
                            self.scope().used.remove(&name.name);
                        }
                        None => self.bind(&name.name, name.span, Entity::Poisoned),
                    }
                }
                StmtKind::Instance { name, layer, args } => {
                    self.instance_decl(name, layer, args);
                    if let Some(Entity::Instance(inst)) =
                        self.scope().names.get(&name.name).cloned()
                    {
                        self.scope().used.remove(&name.name);
                        for (path, ty, _) in &inst.params {
                            if self.uses_generic(
                                ty,
                                generic,
                                layer.span,
                                &format!("{}.{path}", name.name),
                            ) {
                                break;
                            }
                            state.push(StateParam {
                                path: format!("{}.{path}", name.name),
                                ty: ty.clone(),
                                span: name.span,
                            });
                        }
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
                    let Some(ty) = self.expr(e) else { continue };
                    let Some(ret) = ret else { continue };
                    if &ty.shape != ret {
                        let (got, want) = (self.show(&ty), shape_display(ret, &self.dims));
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
                    }
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
        state
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
                    is_loss: false,
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

    pub(crate) fn instance_decl(&mut self, name: &Ident, layer: &Ident, args: &[Arg]) {
        let Some(&li) = self.layer_by_name.get(&layer.name) else {
            match self.lookup(&layer.name) {
                Some(Entity::Poisoned) => {}
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
                    let names: Vec<String> = self.layers.iter().map(|l| l.name.clone()).collect();
                    let mut d = Diagnostic::error(
                        Code::E0201,
                        layer.span,
                        format!("unknown layer `{}`", layer.name),
                    )
                    .with_primary_label("no layer with this name");
                    if let Some(best) =
                        super::suggest::closest(&layer.name, names.iter().map(String::as_str))
                    {
                        d = d.with_help(format!("did you mean `{best}`?"));
                    }
                    self.report(d);
                }
            }
            self.bind(&name.name, name.span, Entity::Poisoned);
            return;
        };
        self.out
            .references
            .push((layer.span, self.layers[li].header_span));
        let outer = self.current_layer_name();
        if !self.ensure_layer_checked(
            li,
            Some((layer.span, outer.as_deref().unwrap_or(&layer.name))),
        ) {
            self.bind(&name.name, name.span, Entity::Poisoned);
            return;
        }
        let sig = self.layers[li].clone();
        let Some(dim_args) = self.dim_args(&sig, layer, args) else {
            self.bind(&name.name, name.span, Entity::Poisoned);
            return;
        };
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
                self.bind(&name.name, name.span, Entity::Poisoned);
                return;
            };
            let ty = TensorTy {
                shape,
                elem: sp.ty.elem,
            };
            let id = self.new_tensor(Vec::new());
            self.record_decl(
                format!("{}.{}", name.name, sp.path),
                Role::InstanceParam,
                ty.clone(),
                sp.span,
            );
            params.push((sp.path.clone(), ty, id));
        }
        let inst = Instance {
            name: name.name.clone(),
            layer: li,
            dim_args,
            params,
            span: name.span,
        };
        self.out.references.push((name.span, name.span));
        self.bind(&name.name, name.span, Entity::Instance(Rc::new(inst)));
    }

    fn current_layer_name(&self) -> Option<String> {
        if !self.in_layer() {
            return None;
        }
        self.layers
            .iter()
            .find(|l| l.status == Status::InProgress)
            .map(|l| l.name.clone())
    }

    /// Dimension arguments by position (`Dense[D, 512]`) or name (`Dense[I=512, O=C]`).
    fn dim_args(&mut self, sig: &LayerSig, layer: &Ident, args: &[Arg]) -> Option<Vec<Poly>> {
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
                                d = d.with_help(format!("did you mean `{best}`?"));
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
    pub(crate) fn call_instance(
        &mut self,
        inst: &Instance,
        callee: Span,
        args: &[Arg],
        span: Span,
    ) -> Option<TensorTy> {
        let sig = self.layers[inst.layer].clone();
        let signature = self.signature_text(&sig);
        let mut slots: Vec<Option<&crate::syntax::ast::Expr>> = vec![None; sig.args.len()];
        let mut arity_ok = true;
        for (k, a) in args.iter().enumerate() {
            let slot = match &a.name {
                None => Some(k).filter(|k| *k < slots.len()),
                Some(n) => sig.args.iter().position(|(p, _, _)| *p == n.name),
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
                        sig.args.len(),
                        if sig.args.len() == 1 { "" } else { "s" },
                        args.len(),
                        if args.len() == 1 { "was" } else { "were" }
                    ),
                )
                .with_primary_label(format!("{} given", args.len()))
                .with_label(sig.header_span, format!("signature: {signature}")),
            );
            for a in args {
                self.expr(&a.value);
            }
            return None;
        }
        let mut arg_types = Vec::new();
        for e in slots.iter().flatten() {
            arg_types.push((self.expr(e), e.span));
        }
        for (_, _, id) in &inst.params {
            self.collected.push(*id);
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
        for (k, ((ty, aspan), (pname, pty, _))) in arg_types.iter().zip(&sig.args).enumerate() {
            let Some(ty) = ty else {
                failed = true;
                continue;
            };
            if ty.elem != pty.elem || ty.rank() != pty.rank() {
                self.signature_mismatch(
                    inst, &sig, &signature, k, ty, &bound, *aspan, callee, pname,
                );
                failed = true;
                continue;
            }
            for axis in 0..pty.rank() {
                match unify_axis(&pty.shape[axis], &ty.shape[axis], &sig.generic, &mut bound) {
                    Unify::Ok => {}
                    Unify::Later => pending.push((k, axis)),
                    Unify::Mismatch => {
                        self.signature_mismatch(
                            inst, &sig, &signature, k, ty, &bound, *aspan, callee, pname,
                        );
                        failed = true;
                        break;
                    }
                }
            }
        }
        for (k, axis) in pending {
            let (Some(ty), aspan) = (&arg_types[k].0, arg_types[k].1) else {
                continue;
            };
            let (pname, pty, _) = &sig.args[k];
            match unify_axis(&pty.shape[axis], &ty.shape[axis], &sig.generic, &mut bound) {
                Unify::Ok => {}
                Unify::Mismatch => {
                    self.signature_mismatch(
                        inst, &sig, &signature, k, ty, &bound, aspan, callee, pname,
                    );
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
                        .with_label(sig.header_span, format!("signature: {signature}"))
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
        self.note(
            span,
            format!(
                "{}: {} (an instance of {signature})",
                inst.name,
                self.show(&TensorTy::float(shape.clone()))
            ),
        );
        Some(TensorTy::float(shape))
    }

    #[allow(clippy::too_many_arguments)]
    fn signature_mismatch(
        &mut self,
        inst: &Instance,
        sig: &LayerSig,
        signature: &str,
        k: usize,
        got: &TensorTy,
        bound: &HashMap<DimId, Poly>,
        aspan: Span,
        callee: Span,
        pname: &str,
    ) {
        let expected = &sig.args[k].1;
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
        .with_label(sig.header_span, format!("signature: {signature}"));
        if got.rank() == 2
            && want.rank() == 2
            && got.shape[1] == want.shape[0]
            && got.shape[0] == want.shape[1]
        {
            if let Some(t) = self.snippet(aspan) {
                d = d.with_help(format!("did you mean `{t}.T`?"));
            }
        }
        self.report(d);
    }

    fn signature_text(&self, sig: &LayerSig) -> String {
        let dims = sig
            .dim_params
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let args = sig
            .args
            .iter()
            .map(|(n, t, _)| format!("{n}: {}", self.show(t)))
            .collect::<Vec<_>>()
            .join(", ");
        let ret = sig
            .ret
            .as_ref()
            .map(|r| shape_display(r, &self.dims))
            .unwrap_or_else(|| "?".into());
        if dims.is_empty() {
            format!("{}({args}) -> {ret}", sig.name)
        } else {
            format!("{}[{dims}]({args}) -> {ret}", sig.name)
        }
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
