//! Checking the `train` statement (SPEC section 11): what is learned (the loss,
//! the trained and decayed params), from which data (inputs whose first axis is
//! the `over` dimension) and how (optimizer, schedule, clipping). The result is
//! the typed program's [`TrainSpec`]; every problem is an E07xx diagnostic.

mod batch_scale;
pub mod spec;

use super::dims::DimKind;
use super::suggest::closest;
use super::typed::{TensorId, TensorKind};
use super::{Checker, Entity};
use crate::diagnostics::{Code, Diagnostic, Span};
use crate::syntax::ast::{Arg, Expr, ExprKind, TrainStmt};
use spec::{
    optimizer_kind, resolve_optimizer, resolve_schedule, Optimizer, OptionDef, OptionKind, Recipe,
    Schedule, TrainSpec, OPTIMIZERS, SCHEDULES, TRAIN_OPTIONS,
};

impl Checker<'_> {
    /// Checks every `train` statement (at most one may exist) once all
    /// top-level statements are checked, so it may stand anywhere in the file.
    pub(crate) fn train_statements(&mut self, stmts: &[(&TrainStmt, Span)]) {
        let Some(((first, span), rest)) = stmts.split_first() else {
            return;
        };
        for (_, other) in rest {
            self.report(
                Diagnostic::error(
                    Code::E0706,
                    *other,
                    "a program has at most one `train` statement",
                )
                .with_primary_label("second `train` statement")
                .with_label(*span, "the first one is here")
                .with_help("merge them into one statement"),
            );
        }
        if let Some(spec) = self.train_stmt(first, *span) {
            self.warn_batch_scaled_loss(&spec);
            self.out.train = Some(spec);
        }
    }

    fn train_stmt(&mut self, stmt: &TrainStmt, span: Span) -> Option<TrainSpec> {
        let mut ok = true;
        let mut loss = None;
        let mut over = None;
        let mut optimizer = Some(Optimizer::default());
        let mut schedule = Some(Schedule::Constant);
        let mut clip_norm = None;
        let mut params_arg = None;
        let mut decay_arg = None;
        let mut epochs = None;
        let mut batch_size = None;
        let mut seen: Vec<(&str, Span)> = Vec::new();
        let mut over_span = span;
        for (i, arg) in stmt.args.iter().enumerate() {
            let Some(name) = &arg.name else {
                if i == 0 {
                    loss = self.train_loss(&arg.value);
                    ok &= loss.is_some();
                } else {
                    ok = false;
                    self.report(
                        Diagnostic::error(
                            Code::E0704,
                            arg.span,
                            "`train` takes the loss, then named options",
                        )
                        .with_primary_label("a second unnamed argument")
                        .with_help("name it: `train(L, over=N, optimizer=adam(lr=1e-3))`"),
                    );
                }
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name.name) {
                ok = false;
                self.report(
                    Diagnostic::error(
                        Code::E0704,
                        name.span,
                        format!("`{}` is given twice", name.name),
                    )
                    .with_primary_label("given again here")
                    .with_label(*first, "first given here"),
                );
                continue;
            }
            seen.push((&name.name, name.span));
            let value = &arg.value;
            match name.name.as_str() {
                "over" => {
                    over = self.train_over(value);
                    over_span = value.span;
                }
                "optimizer" => optimizer = self.train_optimizer(value),
                "schedule" => schedule = self.train_schedule(value),
                "clip_norm" => {
                    clip_norm = self.train_number(value, "clip_norm", OptionKind::Positive)
                }
                "epochs" => epochs = self.train_number(value, "epochs", OptionKind::Count),
                "batch_size" => {
                    batch_size = self.train_number(value, "batch_size", OptionKind::Count)
                }
                "params" => params_arg = Some(self.param_list(value, "params")),
                "decay" => decay_arg = Some(self.param_list(value, "decay")),
                other => {
                    ok = false;
                    let names = TRAIN_OPTIONS.iter().map(|(n, _)| *n);
                    let mut d = Diagnostic::error(
                        Code::E0704,
                        name.span,
                        format!("`train` has no option `{other}`"),
                    )
                    .with_primary_label("unknown option");
                    d = match suggestion(other, names) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help(format!(
                            "the options are {}",
                            list(TRAIN_OPTIONS.iter().map(|(n, _)| *n))
                        )),
                    };
                    self.report(d);
                }
            }
            ok &= match name.name.as_str() {
                "over" => over.is_some(),
                "optimizer" => optimizer.is_some(),
                "schedule" => schedule.is_some(),
                "clip_norm" => clip_norm.is_some(),
                "epochs" => epochs.is_some(),
                "batch_size" => batch_size.is_some(),
                "params" => params_arg.as_ref().is_some_and(Option::is_some),
                "decay" => decay_arg.as_ref().is_some_and(Option::is_some),
                _ => false,
            };
        }
        if loss.is_none() && stmt.args.first().is_none_or(|a| a.name.is_some()) {
            ok = false;
            let losses: Vec<&str> = self
                .out
                .bindings
                .iter()
                .filter(|b| b.role == crate::syntax::ast::BindingRole::Loss)
                .map(|b| b.name.as_str())
                .collect();
            let help = match losses.first() {
                Some(l) => format!("name the loss first: `train({l}, over=...)`"),
                None => "declare one (`loss L = mean(...)`) and name it first: `train(L, over=N)`"
                    .to_string(),
            };
            self.report(
                Diagnostic::error(
                    Code::E0701,
                    stmt.keyword,
                    "`train` needs the loss it minimizes",
                )
                .with_primary_label("no loss given")
                .with_help(help),
            );
        }
        if over.is_none() && !seen.iter().any(|(n, _)| *n == "over") {
            ok = false;
            let mut d = Diagnostic::error(
                Code::E0702,
                stmt.keyword,
                "`train` needs `over=`: the dimension of the examples",
            )
            .with_primary_label("no `over=` option");
            d = match self.first_axis_candidate() {
                Some(n) => d.with_help(format!(
                    "the data's first axis is `{n}`: write `train(..., over={n})`"
                )),
                None => d.with_help("name the dimension the data inputs have first: `over=N`"),
            };
            self.report(d);
        }
        let (loss, over) = (loss?, over?);
        let over_ok = self.check_over(over, over_span);
        let params = match params_arg {
            Some(list) => list?,
            None => self.all_params(),
        };
        let decay = match decay_arg {
            Some(list) => {
                let list = list?;
                let untrained: Vec<TensorId> = list
                    .iter()
                    .copied()
                    .filter(|t| !params.contains(t))
                    .collect();
                if let Some(&t) = untrained.first() {
                    let name = self.out.tensors[t.0 as usize].name.clone();
                    self.report(
                        Diagnostic::error(
                            Code::E0705,
                            span,
                            format!("`{name}` is in `decay=` but is not trained"),
                        )
                        .with_primary_label("`decay=` names a param missing from `params=`")
                        .with_help("weight decay applies only to trained params: add it to `params=` or remove it from `decay=`"),
                    );
                    return None;
                }
                list
            }
            None => params.clone(),
        };
        if !(ok && over_ok) {
            return None;
        }
        Some(TrainSpec {
            loss,
            over,
            optimizer: optimizer?,
            schedule: schedule?,
            clip_norm,
            params,
            decay,
            epochs: epochs.map(|v| v as u64),
            batch_size: batch_size.map(|v| v as u64),
            span,
            over_span,
        })
    }

    /// The first argument: a `loss` binding.
    fn train_loss(&mut self, e: &Expr) -> Option<TensorId> {
        if let ExprKind::Name(name) = &e.strip_parens().kind {
            match self.lookup(name) {
                Some(Entity::Tensor(t)) => {
                    self.reference(e.span, Entity::Tensor(t));
                    let info = &self.out.tensors[t.0 as usize];
                    if info.kind == TensorKind::Loss {
                        // A loss whose declaration failed was reported already.
                        return info.ty.is_some().then_some(t);
                    }
                    self.report(
                        Diagnostic::error(Code::E0701, e.span, format!("`{name}` is not a loss"))
                            .with_primary_label("`train` minimizes a `loss` binding")
                            .with_label(info.span, "declared here without `loss`")
                            .with_help(format!("declare it as the objective: `loss {name} = ...`")),
                    );
                    return None;
                }
                Some(_) => {}
                None => {
                    self.report(
                        Diagnostic::error(Code::E0201, e.span, format!("unknown name `{name}`"))
                            .with_primary_label("not declared"),
                    );
                    return None;
                }
            }
        }
        self.report(
            Diagnostic::error(
                Code::E0701,
                e.span,
                "`train` minimizes a `loss` binding, named first",
            )
            .with_primary_label("not the name of a loss")
            .with_help("write `loss L = ...` and then `train(L, over=N)`"),
        );
        None
    }

    /// `over=N`: a global dimension.
    fn train_over(&mut self, e: &Expr) -> Option<super::dims::DimId> {
        if let ExprKind::Name(name) = &e.strip_parens().kind {
            if let Some(Entity::Dim(d)) = self.lookup(name) {
                self.reference(e.span, Entity::Dim(d));
                match self.dims.info(d).kind {
                    DimKind::Global { .. } => return Some(d),
                    DimKind::Derived { .. } => {
                        self.report(
                            Diagnostic::error(
                                Code::E0702,
                                e.span,
                                format!("`over=` needs the examples' own dimension, but `{name}` is derived"),
                            )
                            .with_primary_label("computed from other dimensions")
                            .with_help("the examples' dimension is declared free: `dim N` and `train(L, over=N)`"),
                        );
                        return None;
                    }
                    _ => {}
                }
            }
        }
        self.report(
            Diagnostic::error(
                Code::E0702,
                e.span,
                "`over=` names a dimension declared with `dim`",
            )
            .with_primary_label("not a dimension")
            .with_help("the examples' dimension: `dim N` and `train(L, over=N)`"),
        );
        None
    }

    /// No param mentions `over`, and every input mentioning it has it first.
    fn check_over(&mut self, over: super::dims::DimId, train: Span) -> bool {
        let name = self.dims.name(over).to_string();
        let mut ok = true;
        let mut data = 0;
        let decls = self.out.decls.clone();
        for d in &decls {
            let mentions = d.ty.shape.iter().any(|p| p.vars().contains(&over));
            if !mentions {
                continue;
            }
            let shown = self.show(&d.ty);
            match d.kind {
                TensorKind::Param | TensorKind::InstanceParam => {
                    ok = false;
                    self.report(
                        Diagnostic::error(
                            Code::E0702,
                            d.span,
                            format!("param `{}` has shape {shown}, which mentions `{name}`, the dimension of the examples", d.name),
                        )
                        .with_primary_label(format!("`{name}` changes with every batch"))
                        .with_label(train, format!("`{name}` is the example dimension here"))
                        .with_help("a param is the same for every batch: give it a shape without the example dimension"),
                    );
                }
                TensorKind::Input if d.ty.shape.first().and_then(|p| p.as_var()) == Some(over) => {
                    data += 1;
                }
                TensorKind::Input => {
                    ok = false;
                    self.report(
                        Diagnostic::error(
                            Code::E0703,
                            d.span,
                            format!("input `{}` has shape {shown}: a data input must have `{name}` as its first axis", d.name),
                        )
                        .with_primary_label(format!("`{name}` is not the first axis"))
                        .with_label(train, format!("minibatches are sliced along `{name}`"))
                        .with_help(format!("declare it with `{name}` first (store the data that way), or train over another dimension")),
                    );
                }
                _ => {}
            }
        }
        if ok && data == 0 {
            ok = false;
            self.report(
                Diagnostic::error(
                    Code::E0703,
                    train,
                    format!(
                        "no input has `{name}` as its first axis: there is no data to train on"
                    ),
                )
                .with_primary_label(format!("minibatches are sliced along `{name}`"))
                .with_help(format!(
                    "declare the data inputs with `{name}` first, e.g. `input x: [{name}, D]`"
                )),
            );
        }
        ok
    }

    /// The dimension most inputs have first (for "did you mean `over=N`").
    fn first_axis_candidate(&self) -> Option<String> {
        self.out.decls.iter().find_map(|d| {
            let first = d.ty.shape.first()?.as_var()?;
            (d.kind == TensorKind::Input).then(|| self.dims.name(first).to_string())
        })
    }

    /// Every param of the program (top-level and instance params), in order.
    fn all_params(&self) -> Vec<TensorId> {
        self.out
            .decls
            .iter()
            .filter(|d| matches!(d.kind, TensorKind::Param | TensorKind::InstanceParam))
            .map(|d| d.tensor)
            .collect()
    }

    /// `params=[fc1.W, b, fc2]`: params by full name; an instance stands for
    /// all of its params (PyTorch's `module.parameters()`).
    fn param_list(&mut self, e: &Expr, option: &str) -> Option<Vec<TensorId>> {
        let ExprKind::List(items) = &e.strip_parens().kind else {
            self.report(
                Diagnostic::error(
                    Code::E0705,
                    e.span,
                    format!("`{option}=` takes a list of params"),
                )
                .with_primary_label("not a list")
                .with_help(format!("write `{option}=[fc1.W, fc1.b]`")),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let full = item
                .as_path()
                .map(|p| p.iter().map(|(n, _)| *n).collect::<Vec<_>>().join("."));
            let Some(full) = full else {
                ok = false;
                self.report(
                    Diagnostic::error(
                        Code::E0705,
                        item.span,
                        format!("`{option}=` lists params by name"),
                    )
                    .with_primary_label("not a name")
                    .with_help("write the param's full name, such as `fc1.W`"),
                );
                continue;
            };
            let matches: Vec<TensorId> = self
                .out
                .decls
                .iter()
                .filter(|d| matches!(d.kind, TensorKind::Param | TensorKind::InstanceParam))
                .filter(|d| {
                    d.name == full
                        || d.name
                            .strip_prefix(full.as_str())
                            .is_some_and(|r| r.starts_with('.'))
                })
                .map(|d| d.tensor)
                .collect();
            if matches.is_empty() {
                ok = false;
                let params: Vec<&str> = self
                    .out
                    .decls
                    .iter()
                    .filter(|d| matches!(d.kind, TensorKind::Param | TensorKind::InstanceParam))
                    .map(|d| d.name.as_str())
                    .collect();
                let is_input = self.out.decls.iter().any(|d| d.name == full);
                let mut d = Diagnostic::error(
                    Code::E0705,
                    item.span,
                    format!("`{full}` in `{option}=` is not a param"),
                )
                .with_primary_label(if is_input {
                    "an input, not a param"
                } else {
                    "not a param"
                });
                d = match closest(&full, params.iter().copied()).filter(|_| !is_input) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("the params are {}", list(params.iter().copied()))),
                };
                self.report(d);
                continue;
            }
            for t in matches {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
        // Declaration order, whatever the order written.
        let order = self.all_params();
        out.sort_by_key(|t| order.iter().position(|p| p == t));
        ok.then_some(out)
    }

    /// `optimizer=adam(lr=1e-3)`.
    fn train_optimizer(&mut self, e: &Expr) -> Option<Optimizer> {
        let (name, given) = self.recipe_call(e, "optimizer", OPTIMIZERS)?;
        resolve_optimizer(optimizer_kind(name)?, &given)
    }

    /// `schedule=cosine(end=0.1)`.
    fn train_schedule(&mut self, e: &Expr) -> Option<Schedule> {
        let (name, given) = self.recipe_call(e, "schedule", SCHEDULES)?;
        resolve_schedule(name, &given)
    }

    /// A call of one of `recipes` with valid options: its name and the options given.
    fn recipe_call(
        &mut self,
        e: &Expr,
        what: &str,
        recipes: &'static [Recipe],
    ) -> Option<(&'static str, Vec<(&'static str, f64)>)> {
        let names = || recipes.iter().map(|r| r.name);
        let (callee, args) = match &e.strip_parens().kind {
            ExprKind::Call { callee, args } => (callee.as_ref(), args.as_slice()),
            // `optimizer=adam` without parentheses: the defaults.
            ExprKind::Name(_) => (e.strip_parens(), &[][..]),
            _ => {
                self.report(
                    Diagnostic::error(
                        Code::E0704,
                        e.span,
                        format!("`{what}=` takes a call such as `{}()`", recipes[0].name),
                    )
                    .with_primary_label(format!("not {}", with_article(what)))
                    .with_help(format!("the {what}s are {}", list(names()))),
                );
                return None;
            }
        };
        let ExprKind::Name(name) = &callee.kind else {
            self.report(
                Diagnostic::error(Code::E0704, callee.span, format!("unknown {what}"))
                    .with_primary_label(format!("not {}", with_article(what)))
                    .with_help(format!("the {what}s are {}", list(names()))),
            );
            return None;
        };
        let Some(recipe) = recipes.iter().find(|r| r.name == name) else {
            let mut d =
                Diagnostic::error(Code::E0704, callee.span, format!("unknown {what} `{name}`"))
                    .with_primary_label(format!("not {}", with_article(what)));
            d = match suggestion(name, names()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the {what}s are {}", list(names()))),
            };
            self.report(d);
            return None;
        };
        let mut given: Vec<(&'static str, f64)> = Vec::new();
        let mut ok = true;
        for (i, arg) in args.iter().enumerate() {
            let Some(def) = self.recipe_option(recipe, arg, i) else {
                ok = false;
                continue;
            };
            if given.iter().any(|(n, _)| *n == def.name) {
                ok = false;
                self.report(
                    Diagnostic::error(
                        Code::E0704,
                        arg.span,
                        format!("`{}` is given twice", def.name),
                    )
                    .with_primary_label("given again here"),
                );
                continue;
            }
            match self.option_value(&arg.value, def) {
                Some(v) => given.push((def.name, v)),
                None => ok = false,
            }
        }
        for def in recipe.options.iter().filter(|d| d.default.is_none()) {
            if !given.iter().any(|(n, _)| *n == def.name) {
                ok = false;
                self.report(
                    Diagnostic::error(
                        Code::E0704,
                        e.span,
                        format!("`{}` needs `{}=`", recipe.name, def.name),
                    )
                    .with_primary_label(format!("no `{}` given", def.name))
                    .with_help(format!("for example `{}({}=100)`", recipe.name, def.name)),
                );
            }
        }
        ok.then_some((recipe.name, given))
    }

    /// The option an argument sets: by name, or by position.
    fn recipe_option(&mut self, recipe: &Recipe, arg: &Arg, index: usize) -> Option<OptionDef> {
        let found = match &arg.name {
            Some(n) => recipe.options.iter().find(|d| d.name == n.name),
            None => recipe.options.get(index),
        };
        if found.is_none() {
            let names = recipe.options.iter().map(|d| d.name);
            let (span, message) = match &arg.name {
                Some(n) => (
                    n.span,
                    format!("`{}` has no option `{}`", recipe.name, n.name),
                ),
                None => (
                    arg.span,
                    format!(
                        "`{}` takes at most {} options",
                        recipe.name,
                        recipe.options.len()
                    ),
                ),
            };
            let mut d =
                Diagnostic::error(Code::E0704, span, message).with_primary_label("unknown option");
            d = match arg
                .name
                .as_ref()
                .and_then(|n| suggestion(&n.name, names.clone()))
            {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None if recipe.options.is_empty() => {
                    d.with_help(format!("`{}()` has no options", recipe.name))
                }
                None => d.with_help(format!(
                    "the options of `{}` are {}",
                    recipe.name,
                    list(names)
                )),
            };
            self.report(d);
        }
        found.copied()
    }

    /// A literal number (or `true`/`false` for a flag) that `def` accepts.
    fn option_value(&mut self, e: &Expr, def: OptionDef) -> Option<f64> {
        self.train_number(e, def.name, def.kind)
    }

    fn train_number(&mut self, e: &Expr, name: &str, kind: OptionKind) -> Option<f64> {
        let value = match &e.strip_parens().kind {
            ExprKind::Bool(b) if kind == OptionKind::Flag => Some(f64::from(u8::from(*b))),
            _ if kind == OptionKind::Flag => None,
            _ => super::consts::number(e),
        };
        match value {
            Some(v) if kind.accepts(v) => Some(v),
            _ => {
                self.report(
                    Diagnostic::error(
                        Code::E0704,
                        e.span,
                        format!("`{name}` must be {}", kind.describe()),
                    )
                    .with_primary_label(match (value, kind) {
                        (_, OptionKind::Flag) => "not `true` or `false`",
                        (Some(_), _) => "out of range",
                        (None, _) => "not a literal number",
                    })
                    .with_help(match kind {
                        OptionKind::Flag => format!("write `{name}=true` or `{name}=false`"),
                        OptionKind::Count => format!("write a whole number, such as `{name}=10`"),
                        _ => format!("write a number, such as `{name}=0.1`"),
                    }),
                );
                None
            }
        }
    }
}

/// "did you mean": the closest name, or the one the typed text begins
/// (`batch` for `batch_size`).
fn suggestion<'a>(
    typed: &str,
    names: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    closest(typed, names.clone()).or_else(|| {
        names
            .into_iter()
            .find(|n| typed.len() >= 3 && n.starts_with(typed))
    })
}

fn with_article(noun: &str) -> String {
    match noun.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {noun}"),
        _ => format!("a {noun}"),
    }
}

/// `` `a`, `b` and `c` ``.
fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    match names.as_slice() {
        [] => "none".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
