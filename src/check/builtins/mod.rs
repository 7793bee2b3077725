//! Calls: what a callee name is (an instance, a builtin, or a mistake), the
//! arguments and options of a builtin read through its row of the table
//! (`table.rs`), and `assert close(...)`. Shape rules are in `rules.rs`,
//! derivatives in `../derivatives.rs`, instance calls in `../layers.rs`.

mod rules;
pub mod table;

use super::consts;
use super::typed::{AssertClose, Attrs, Padding, TExpr, TExprKind};
use super::types::{Elem, TensorTy};
use super::{Checker, Entity};
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::{Arg, Expr, ExprKind};
use table::{BuiltinDef, OptKind, Param, Role};

pub use table::Builtin;

/// Default `--max-jacobian-bytes`, used by the check-time warning too.
pub const DEFAULT_MAX_JACOBIAN_BYTES: u128 = 1 << 30;

/// Arguments split into positional values and `name=value` options.
pub(crate) struct CallArgs<'e> {
    pub positional: Vec<&'e Expr>,
    pub options: Vec<(&'e str, Span, &'e Expr)>,
}

impl<'e> CallArgs<'e> {
    pub fn option(&self, name: &str) -> Option<&'e Expr> {
        self.options
            .iter()
            .find(|(o, _, _)| *o == name)
            .map(|(_, _, e)| *e)
    }
}

impl Checker<'_> {
    pub(crate) fn call(&mut self, callee: &Expr, args: &[Arg], span: Span) -> Option<TExpr> {
        let ExprKind::Name(name) = &callee.kind else {
            self.report(
                Diagnostic::error(
                    Code::E0204,
                    callee.span,
                    "only functions and layer instances can be called",
                )
                .with_primary_label("not callable"),
            );
            return None;
        };
        if let Some(entity) = self.lookup(name) {
            self.reference(callee.span, entity);
            return self.call_entity(entity, name, callee.span, args, span);
        }
        let Some(def) = table::lookup(name) else {
            self.unknown_name(name, callee.span, "function");
            return None;
        };
        match def.role {
            Role::AssertOnly => {
                self.report(
                    Diagnostic::error(Code::E0206, callee.span, "`close` is only for asserts")
                        .with_primary_label("not an assert")
                        .with_help("write `assert close(a, b)`"),
                );
                return None;
            }
            Role::InitializerOnly => {
                self.report(
                    Diagnostic::error(
                        Code::E0206,
                        callee.span,
                        format!("`{name}` is only an initializer"),
                    )
                    .with_primary_label("not allowed in an expression")
                    .with_help(format!(
                        "declare a tensor with it: `param w: [D] = {name}(0, 1)`"
                    )),
                );
                return None;
            }
            Role::Function(..) | Role::Derivative(_) => {}
        }
        let call = self.split_args(args)?;
        let positional = self.arguments(def, &call, span)?;
        match def.role {
            Role::Function(builtin, rule) => {
                self.builtin(def, builtin, rule, &call, &positional, span)
            }
            Role::Derivative(kind) => self.derivative(kind, &positional, span),
            Role::AssertOnly | Role::InitializerOnly => None,
        }
    }

    /// A call whose callee is a name in scope: an instance, or a mistake.
    fn call_entity(
        &mut self,
        entity: Entity,
        name: &str,
        callee: Span,
        args: &[Arg],
        span: Span,
    ) -> Option<TExpr> {
        match entity {
            Entity::Instance(inst) => self.call_instance(inst, callee, args, span),
            Entity::Tensor(id) => {
                if self.tensor_ty(id).is_some() {
                    let def = self.out.tensors[id.0 as usize].span;
                    self.report(
                        Diagnostic::error(
                            Code::E0204,
                            callee,
                            format!("`{name}` is a tensor and cannot be called"),
                        )
                        .with_primary_label("called here")
                        .with_label(def, "declared here")
                        .with_help("for a product write `*` or `@`"),
                    );
                }
                None
            }
            Entity::Dim(_) => {
                self.report(
                    Diagnostic::error(
                        Code::E0204,
                        callee,
                        format!("`{name}` is a dimension and cannot be called"),
                    )
                    .with_primary_label("called here"),
                );
                None
            }
            Entity::Layer(i) => {
                let header = self.out.layers[i.0 as usize].header_span;
                self.report(
                    Diagnostic::error(
                        Code::E0204,
                        callee,
                        format!("`{name}` is a layer; call an instance of it"),
                    )
                    .with_primary_label("a layer, not an instance")
                    .with_label(header, "layer declared here")
                    .with_help(format!(
                        "declare an instance first: `f = {name}[...]`, then call `f(...)`"
                    )),
                );
                None
            }
        }
    }

    pub(crate) fn split_args<'e>(&mut self, args: &'e [Arg]) -> Option<CallArgs<'e>> {
        let mut call = CallArgs {
            positional: Vec::new(),
            options: Vec::new(),
        };
        for a in args {
            match &a.name {
                Some(n) => {
                    if call.options.iter().any(|(o, _, _)| *o == n.name) {
                        self.report(
                            Diagnostic::error(
                                Code::E0206,
                                n.span,
                                format!("option `{}` is given twice", n.name),
                            )
                            .with_primary_label("repeated"),
                        );
                        return None;
                    }
                    call.options.push((&n.name, n.span, &a.value));
                }
                None => {
                    if let Some((_, first, _)) = call.options.first() {
                        self.report(
                            Diagnostic::error(
                                Code::E0206,
                                a.span,
                                "positional argument after a named one",
                            )
                            .with_primary_label("positional")
                            .with_label(*first, "named argument here")
                            .with_help(
                                "put positional arguments first, then options as `name=value`",
                            ),
                        );
                        return None;
                    }
                    call.positional.push(&a.value);
                }
            }
        }
        Some(call)
    }

    /// The positional arguments of a call to `def`, after checking that every
    /// option is one of its own and that the count is right.
    fn arguments<'e>(
        &mut self,
        def: &BuiltinDef,
        call: &CallArgs<'e>,
        span: Span,
    ) -> Option<Vec<&'e Expr>> {
        let name = def.name;
        for (opt, ospan, _) in &call.options {
            if def.option(opt).is_none() {
                let allowed: Vec<&str> = def.options.iter().map(|o| o.name).collect();
                let mut d = Diagnostic::error(
                    Code::E0206,
                    *ospan,
                    format!("`{name}` has no option `{opt}`"),
                )
                .with_primary_label("unknown option");
                d = match super::suggest::closest(opt, allowed.iter().copied()) {
                    Some(best) => d
                        .with_help(format!("did you mean `{best}`?"))
                        .with_suggestion(*ospan, best),
                    None if allowed.is_empty() => {
                        d.with_help(format!("`{name}` takes no options: {}", def.signature()))
                    }
                    None => d.with_help(format!("its options are: {}", allowed.join(", "))),
                };
                self.report(d);
                return None;
            }
        }
        let (want, given) = (def.params.len(), call.positional.len());
        if want != given {
            self.report(
                Diagnostic::error(
                    Code::E0206,
                    span,
                    format!(
                        "`{name}` takes {want} argument{}, but {given} {} given",
                        if want == 1 { "" } else { "s" },
                        if given == 1 { "was" } else { "were" }
                    ),
                )
                .with_primary_label(format!("{given} given"))
                .with_help(format!("usage: {}", def.signature())),
            );
            return None;
        }
        Some(call.positional.clone())
    }

    /// A builtin function call: its arguments by their kinds, its options
    /// evaluated, then its shape rule.
    fn builtin(
        &mut self,
        def: &BuiltinDef,
        builtin: Builtin,
        rule: table::Rule,
        call: &CallArgs<'_>,
        positional: &[&Expr],
        span: Span,
    ) -> Option<TExpr> {
        let mut attrs = Attrs::default();
        let mut tensors: Vec<Option<TExpr>> = Vec::new();
        // The kind of each tensor argument (a list's items are floats).
        let mut kinds: Vec<Param> = Vec::new();
        let mut ok = true;
        let mut permutation = None;
        for (param, e) in def.params.iter().zip(positional) {
            match param {
                Param::Float(_)
                | Param::Labels(_)
                | Param::Any(_)
                | Param::Mask(_)
                | Param::Variable(_) => {
                    tensors.push(self.expr(e));
                    kinds.push(*param);
                }
                Param::Shape if builtin == Builtin::Reshape => match self.reshape_target(e) {
                    Some((s, infer)) => {
                        attrs.shape = s;
                        attrs.infer = infer;
                    }
                    None => ok = false,
                },
                Param::Tensors(_) => match &e.strip_parens().kind {
                    ExprKind::List(items) if !items.is_empty() => {
                        for item in items {
                            tensors.push(self.expr(item));
                            kinds.push(Param::Float("tensor"));
                        }
                    }
                    _ => {
                        self.report(
                            Diagnostic::error(
                                Code::E0206,
                                e.span,
                                format!("`{}` takes a list of tensors", def.name),
                            )
                            .with_primary_label("not a list of tensors")
                            .with_help(format!("write `{}([a, b], axis=0)`", def.name)),
                        );
                        ok = false;
                    }
                },
                Param::Window(_) => match self.pair(e, def.name, 1, "size") {
                    Some((p, _)) => attrs.window = p,
                    None => ok = false,
                },
                Param::Number(n) => match consts::number(e) {
                    Some(v) if (0.0..1.0).contains(&v) => attrs.number = Some(v),
                    _ => {
                        self.report(
                            Diagnostic::error(
                                Code::E0206,
                                e.span,
                                format!("`{n}` must be a number in [0, 1)"),
                            )
                            .with_primary_label("not a number in [0, 1)"),
                        );
                        ok = false;
                    }
                },
                Param::Shape => match self.shape_of(e, false) {
                    Some(s) => attrs.shape = s,
                    None => ok = false,
                },
                Param::Size(_) => match self.dim_expr(e, false) {
                    Some(p) => attrs.size = Some(p),
                    None => ok = false,
                },
                Param::Count(_) => match consts::int(e) {
                    Ok(k) if k >= 0 => attrs.count = k as usize,
                    Ok(_) | Err(_) => {
                        self.report(
                            Diagnostic::error(
                                Code::E0206,
                                e.span,
                                "the number of contracted axes must be a non-negative integer",
                            )
                            .with_primary_label("not a non-negative integer"),
                        );
                        ok = false;
                    }
                },
                Param::Permutation => permutation = Some(*e),
            }
        }
        let tensors: Vec<TExpr> = tensors.into_iter().collect::<Option<_>>()?;
        if !ok {
            return None;
        }
        // Element types, each argument reported on its own.
        let mut elems_ok = true;
        for (param, t) in kinds.iter().zip(&tensors) {
            let fine = match param {
                Param::Float(_) if t.ty.elem != Elem::Float => {
                    let what = if def.params.len() > 1
                        && matches!(rule, table::Rule::CrossEntropy | table::Rule::Accuracy)
                    {
                        format!("`{}` {}", def.name, param.name())
                    } else {
                        format!("`{}`", def.name)
                    };
                    self.require_float(&t.ty, t.span, &what).is_some()
                }
                Param::Labels(_) => self.require_int(&t.ty, t.span, def.name).is_some(),
                Param::Mask(_) => self.require_bool(&t.ty, t.span, def.name).is_some(),
                _ => true,
            };
            elems_ok &= fine;
        }
        if !elems_ok {
            return None;
        }
        // Options that depend on the first tensor's rank.
        let first = tensors.first().map(|t| (t.ty.clone(), t.span));
        if let Some(perm) = permutation {
            let (ty, operand) = first.clone()?;
            attrs.axes = self.permutation(perm, &ty, operand)?;
        }
        for spec in def.options {
            let given = call.option(spec.name);
            match spec.kind {
                OptKind::Keepdims => attrs.keepdims = self.bool_option(given, spec.name)?,
                OptKind::Axes | OptKind::Axis => {
                    let (ty, operand) = first.clone()?;
                    attrs.axes = match given {
                        Some(e) => self.axes(e, &ty, operand)?,
                        None if spec.default == "all" => (0..ty.rank()).collect(),
                        None if spec.default == "0" && ty.rank() > 0 => vec![0],
                        None => self.default_last_axis(&ty, operand, def.name)?,
                    };
                    if spec.kind == OptKind::Axis && attrs.axes.len() != 1 {
                        let e = given?;
                        self.report(
                            Diagnostic::error(
                                Code::E0304,
                                e.span,
                                format!("`{}` takes one axis", def.name),
                            )
                            .with_primary_label("a list of axes"),
                        );
                        return None;
                    }
                }
                OptKind::Tolerance => {}
                OptKind::StartAxis => {
                    let (ty, operand) = first.clone()?;
                    attrs.axes = match given {
                        Some(e) => self.axes(e, &ty, operand)?,
                        None if ty.rank() > 1 => vec![1],
                        None => vec![0],
                    };
                    if attrs.axes.len() != 1 || ty.rank() == 0 {
                        let at = given.map_or(operand, |e| e.span);
                        self.report(
                            Diagnostic::error(
                                Code::E0304,
                                at,
                                format!(
                                    "`{}` takes one start axis of a tensor with axes",
                                    def.name
                                ),
                            )
                            .with_primary_label("not one axis"),
                        );
                        return None;
                    }
                }
                OptKind::Number => {
                    attrs.number = match given {
                        Some(e) => match consts::number(e) {
                            Some(v) => Some(v),
                            None => {
                                self.report(
                                    Diagnostic::error(
                                        Code::E0206,
                                        e.span,
                                        format!("`{}` must be a number", spec.name),
                                    )
                                    .with_primary_label("not a number"),
                                );
                                return None;
                            }
                        },
                        None => spec.default.parse().ok(),
                    }
                }
                OptKind::Flag => attrs.flag = self.bool_option(given, spec.name)?,
                OptKind::Int => {
                    attrs.int = match given {
                        Some(e) => match consts::int(e) {
                            Ok(k) => k,
                            Err(err) => {
                                self.report(err.diagnostic(Code::E0206, "an integer", "`k=-1`"));
                                return None;
                            }
                        },
                        None => 0,
                    }
                }
                OptKind::NewAxis => {
                    let (ty, operand) = first.clone()?;
                    let rank = ty.rank() as i64 + 1;
                    let k = match given {
                        Some(e) => match consts::int(e) {
                            Ok(k) => k,
                            Err(err) => {
                                self.report(err.diagnostic(Code::E0206, "an axis", "`axis=0`"));
                                return None;
                            }
                        },
                        None => 0,
                    };
                    let norm = if k < 0 { k + rank } else { k };
                    if norm < 0 || norm >= rank {
                        let shown = self.show(&ty);
                        let e = given?;
                        self.report(
                            Diagnostic::error(
                                Code::E0304,
                                e.span,
                                format!(
                                    "axis {k} is out of range for stacking tensors of rank {}",
                                    rank - 1
                                ),
                            )
                            .with_primary_label(format!(
                                "valid axes are 0..{} (or -{rank}..-1)",
                                rank - 1
                            ))
                            .with_label(operand, format!("{} is {shown}", self.quote(operand))),
                        );
                        return None;
                    }
                    attrs.axes = vec![norm as usize];
                }
                OptKind::Pair => {
                    let min = 1;
                    let value = match given {
                        Some(e) => self.pair(e, def.name, min, spec.name)?.0,
                        None if spec.default == "size" => attrs.window,
                        None => [1, 1],
                    };
                    if spec.name == "dilation" {
                        attrs.dilation = value;
                    } else {
                        attrs.stride = value;
                    }
                }
                OptKind::Padding => {
                    attrs.padding = match given {
                        None => Padding::Explicit([0, 0]),
                        Some(e) => match &e.strip_parens().kind {
                            ExprKind::Name(n) if n == "same" => Padding::Same,
                            ExprKind::Name(n) if n == "valid" => Padding::Explicit([0, 0]),
                            _ => Padding::Explicit(self.pair(e, def.name, 0, "padding")?.0),
                        },
                    }
                }
            }
        }
        let ty = self.rule(rule, def, &tensors, &attrs, positional, span)?;
        if builtin == Builtin::Reshape {
            // `-1` was inferred by the rule: lowering reads the whole shape.
            attrs.shape = ty.shape.clone();
            attrs.infer = None;
        }
        Some(TExpr {
            kind: TExprKind::Builtin {
                builtin,
                args: tensors,
                attrs,
            },
            ty,
            span,
        })
    }

    /// An integer or a pair `[a, b]` of integers `>= min` (`stride=2`,
    /// `padding=[1, 0]`); a single integer is used for both axes. `conv1d` takes
    /// one integer only. Also says whether a pair was written.
    fn pair(&mut self, e: &Expr, func: &str, min: i64, what: &str) -> Option<([i64; 2], bool)> {
        let items: Vec<&Expr> = match &e.strip_parens().kind {
            ExprKind::List(items) => items.iter().collect(),
            _ => vec![e],
        };
        let one_d = func == "conv1d";
        let count_ok = items.len() == 1 || (items.len() == 2 && !one_d);
        let values: Option<Vec<i64>> = items
            .iter()
            .map(|i| consts::int(i).ok().filter(|v| *v >= min && *v < 1 << 31))
            .collect();
        match values {
            Some(v) if count_ok => {
                let pair = [v[0], *v.last().unwrap_or(&v[0])];
                Some((pair, v.len() == 2))
            }
            _ => {
                let kind = if min > 0 {
                    "a positive integer"
                } else {
                    "a non-negative integer"
                };
                let (msg, example) = if one_d {
                    (
                        format!("`{what}` of `{func}` must be {kind}"),
                        format!("`{what}=1`"),
                    )
                } else {
                    (
                        format!("`{what}` of `{func}` must be {kind} or a pair of them"),
                        if what == "padding" {
                            "`padding=1`, `padding=[1, 0]`, `padding=same` or `padding=valid`"
                                .to_string()
                        } else {
                            format!("`{what}=2` or `{what}=[2, 1]`")
                        },
                    )
                };
                self.report(
                    Diagnostic::error(Code::E0206, e.span, msg)
                        .with_primary_label(format!("not {kind}"))
                        .with_help(format!("write {example}")),
                );
                None
            }
        }
    }

    fn bool_option(&mut self, e: Option<&Expr>, name: &str) -> Option<bool> {
        match e {
            None => Some(false),
            Some(e) => match &e.strip_parens().kind {
                ExprKind::Bool(b) => Some(*b),
                _ => {
                    self.report(
                        Diagnostic::error(
                            Code::E0206,
                            e.span,
                            format!("`{name}` must be `true` or `false`"),
                        )
                        .with_primary_label("not a boolean"),
                    );
                    None
                }
            },
        }
    }

    fn default_last_axis(&mut self, t: &TensorTy, span: Span, name: &str) -> Option<Vec<usize>> {
        if t.is_scalar() {
            self.report(
                Diagnostic::error(
                    Code::E0304,
                    span,
                    format!("`{name}` needs a tensor with at least one axis"),
                )
                .with_primary_label("this is a scalar"),
            );
            return None;
        }
        Some(vec![t.rank() - 1])
    }

    /// An axis or a list of axes, normalized (negative axes count from the end),
    /// sorted and checked for range and duplicates.
    fn axes(&mut self, e: &Expr, t: &TensorTy, operand: Span) -> Option<Vec<usize>> {
        let items: Vec<&Expr> = match &e.strip_parens().kind {
            ExprKind::List(items) => items.iter().collect(),
            _ => vec![e],
        };
        let rank = t.rank() as i64;
        let mut out = Vec::new();
        for item in items {
            let k = match consts::int(item) {
                Ok(k) => k,
                Err(err) => {
                    self.report(err.diagnostic(
                        Code::E0206,
                        "an axis",
                        "`axis=1`, `axis=-1` or `axis=[0, 2]`",
                    ));
                    return None;
                }
            };
            let norm = if k < 0 { k + rank } else { k };
            if norm < 0 || norm >= rank {
                let shown = self.show(t);
                self.report(
                    Diagnostic::error(
                        Code::E0304,
                        item.span,
                        format!("axis {k} is out of range for a tensor of rank {rank}"),
                    )
                    .with_primary_label(format!(
                        "valid axes are {}..{} (or -{rank}..-1)",
                        0,
                        rank.max(1) - 1
                    ))
                    .with_label(operand, format!("{} is {shown}", self.quote(operand))),
                );
                return None;
            }
            let norm = norm as usize;
            if out.contains(&norm) {
                self.report(
                    Diagnostic::error(
                        Code::E0304,
                        item.span,
                        if k < 0 {
                            format!("axis {k} is axis {norm}, which is already listed")
                        } else {
                            format!("axis {k} is listed twice")
                        },
                    )
                    .with_primary_label("repeated axis"),
                );
                return None;
            }
            out.push(norm);
        }
        out.sort_unstable();
        Some(out)
    }

    /// A permutation of every axis of `t`, in its order.
    fn permutation(&mut self, e: &Expr, t: &TensorTy, operand: Span) -> Option<Vec<usize>> {
        let ExprKind::List(items) = &e.strip_parens().kind else {
            self.report(
                Diagnostic::error(
                    Code::E0306,
                    e.span,
                    "a permutation is a list of axes such as `[1, 0]`",
                )
                .with_primary_label("not a list"),
            );
            return None;
        };
        let rank = t.rank();
        let mut perm = Vec::new();
        for item in items {
            let k = consts::int(item)
                .ok()
                .map(|k| if k < 0 { k + rank as i64 } else { k });
            match k {
                Some(k) if k >= 0 && (k as usize) < rank && !perm.contains(&(k as usize)) => {
                    perm.push(k as usize)
                }
                _ => {
                    perm.clear();
                    break;
                }
            }
        }
        if perm.len() != rank || items.len() != rank {
            let shown = self.show(t);
            self.report(
                Diagnostic::error(
                    Code::E0306,
                    e.span,
                    format!(
                        "`{}` is not a permutation of the {rank} axes of {shown}",
                        self.snippet(e.span).unwrap_or("this")
                    ),
                )
                .with_primary_label(format!(
                    "expected each of 0..{} exactly once",
                    rank.max(1) - 1
                ))
                .with_label(operand, format!("{} is {shown}", self.quote(operand))),
            );
            return None;
        }
        Some(perm)
    }

    pub(crate) fn require_bool(&mut self, t: &TensorTy, span: Span, func: &str) -> Option<()> {
        if t.elem != Elem::Bool {
            let shown = self.show(t);
            self.report(
                Diagnostic::error(
                    Code::E0330,
                    span,
                    format!(
                        "`{func}` needs a bool condition, but {} is {shown}",
                        self.quote(span)
                    ),
                )
                .with_primary_label(format!("this is {shown}"))
                .with_help("compare to make a mask: `where(x > 0, x, 0)`"),
            );
            return None;
        }
        Some(())
    }

    /// `reshape`'s target: dimension expressions, at most one `-1` (its index).
    fn reshape_target(
        &mut self,
        e: &Expr,
    ) -> Option<(Vec<crate::check::dims::Poly>, Option<usize>)> {
        let ExprKind::List(items) = &e.strip_parens().kind else {
            return self.shape_of(e, false).map(|s| (s, None));
        };
        let minus_one = |x: &Expr| matches!(consts::int(x), Ok(-1));
        let holes: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, x)| minus_one(x))
            .map(|(i, _)| i)
            .collect();
        if holes.len() > 1 {
            self.report(
                Diagnostic::error(
                    Code::E0305,
                    items[holes[1]].span,
                    "`reshape` can infer one `-1`, not two",
                )
                .with_primary_label("a second -1")
                .with_label(items[holes[0]].span, "the first -1")
                .with_help("name all but one of the dimensions"),
            );
            return None;
        }
        let mut shape = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if holes.contains(&i) {
                shape.push(crate::check::dims::Poly::constant(1));
            } else {
                shape.push(self.dim_expr(item, false)?);
            }
        }
        Some((shape, holes.first().copied()))
    }

    pub(crate) fn require_int(&mut self, t: &TensorTy, span: Span, func: &str) -> Option<()> {
        if t.elem != Elem::Int {
            let shown = self.show(t);
            self.report(
                Diagnostic::error(
                    Code::E0310,
                    span,
                    format!(
                        "`{func}` needs int labels, but {} is a float tensor",
                        self.quote(span)
                    ),
                )
                .with_primary_label(format!("this is {shown}"))
                .with_help("declare labels as `input t: [N] int`"),
            );
            return None;
        }
        Some(())
    }

    pub(crate) fn same_shape(
        &mut self,
        a: &TensorTy,
        b: &TensorTy,
        aspan: Span,
        bspan: Span,
        what: &str,
        code: Code,
    ) -> Option<()> {
        if a.shape == b.shape {
            return Some(());
        }
        let (sa, sb) = (self.show(a), self.show(b));
        let mut d = Diagnostic::error(
            code,
            bspan,
            format!("`{what}` compares {sa} with {sb}: the shapes must be equal"),
        )
        .with_primary_label(format!("{} is {sb}", self.quote(bspan)))
        .with_label(aspan, format!("{} is {sa}", self.quote(aspan)));
        if a.rank() == b.rank() && a.shape.iter().rev().eq(b.shape.iter()) && a.rank() >= 2 {
            if let Some(t) = self.snippet(bspan) {
                d = d
                    .with_help(format!("did you mean `{t}.T`?"))
                    .with_suggestion(bspan, super::suggest::transposed(t));
            }
        }
        self.report(d);
        None
    }

    /// `assert close(a, b, rtol=, atol=)`.
    pub(crate) fn close(&mut self, args: &[Arg], span: Span) -> Option<AssertClose> {
        let def = table::lookup("close").expect("`close` is in the builtin table");
        let call = self.split_args(args)?;
        let positional = self.arguments(def, &call, span)?;
        let mut tolerances = [None, None];
        for (k, opt) in ["rtol", "atol"].into_iter().enumerate() {
            if let Some(e) = call.option(opt) {
                match consts::non_negative_number(e) {
                    Some(v) => tolerances[k] = Some(v),
                    None => self.report(
                        Diagnostic::error(
                            Code::E0206,
                            e.span,
                            format!("`{opt}` must be a non-negative number"),
                        )
                        .with_primary_label("not a number"),
                    ),
                }
            }
        }
        self.collected.clear();
        let (a, b) = (self.expr(positional[0]), self.expr(positional[1]));
        let (a, b) = (a?, b?);
        self.same_shape(&a.ty, &b.ty, a.span, b.span, "close", Code::E0307)?;
        let given = |k: usize| call.option(["rtol", "atol"][k]).is_some();
        if (given(0) && tolerances[0].is_none()) || (given(1) && tolerances[1].is_none()) {
            return None;
        }
        Some(AssertClose {
            a,
            b,
            rtol: tolerances[0],
            atol: tolerances[1],
            span,
        })
    }
}
