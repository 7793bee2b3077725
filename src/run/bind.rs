//! Run-time binding of dimensions (SPEC section 3): `--dim` first, then the
//! shapes of values supplied for inputs (files and literals), then defaults.
//! Sources that disagree are an error naming both; a value whose shape does not
//! fit its declaration is an error showing both shapes with dimension names.

use super::RunError;
use crate::check::dims::{DimId, DimKind, Poly};
use crate::check::typed::InitExpr;
use crate::check::{Checked, DeclInfo};
use crate::data::ArrayData;
use crate::diagnostics::{Code, Diagnostic, Span};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A value given on the command line for an input or param.
pub struct Supplied {
    pub name: String,
    pub path: PathBuf,
    pub data: ArrayData,
}

/// What binding reads of a supplied value: its name, shape and file. Binding
/// can so be tried on shapes alone (`--params` finds the values that do not
/// fit by trying them one at a time, without copying any array).
#[derive(Clone, Copy)]
pub struct SuppliedShape<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
    pub path: &'a Path,
}

impl<'a> From<&'a Supplied> for SuppliedShape<'a> {
    fn from(s: &'a Supplied) -> Self {
        SuppliedShape {
            name: &s.name,
            shape: s.data.shape(),
            path: &s.path,
        }
    }
}

/// Where a dimension's value came from, for conflict messages.
#[derive(Clone, Debug)]
enum Source {
    CommandLine,
    Value { what: String, span: Span },
}

impl Source {
    fn describe(&self, name: &str, value: usize) -> String {
        match self {
            Source::CommandLine => format!("{value} from --dim {name}={value}"),
            Source::Value { what, .. } => format!("{value} from the shape of {what}"),
        }
    }
}

pub struct Bound {
    /// Global dimension values by name.
    pub values: HashMap<String, usize>,
    /// Declaration spans of global dimensions.
    pub spans: HashMap<String, Span>,
}

pub fn bind_dims(
    checked: &Checked,
    cli: &[(String, usize)],
    supplied: &[Supplied],
) -> Result<Bound, RunError> {
    let shapes: Vec<SuppliedShape<'_>> = supplied.iter().map(SuppliedShape::from).collect();
    bind_shapes(checked, cli, &shapes)
}

/// [`bind_dims`] from the shapes of the supplied values.
pub fn bind_shapes(
    checked: &Checked,
    cli: &[(String, usize)],
    supplied: &[SuppliedShape<'_>],
) -> Result<Bound, RunError> {
    let mut spans = HashMap::new();
    let mut ids = HashMap::new();
    for (id, info) in checked.dims.iter() {
        if let DimKind::Global { .. } = info.kind {
            spans.insert(info.name.clone(), info.span);
            ids.insert(id, info.name.clone());
        }
    }
    let mut values: HashMap<String, (usize, Source)> = HashMap::new();
    for (name, v) in cli {
        values.insert(name.clone(), (*v, Source::CommandLine));
    }
    let decl = |name: &str| checked.decls.iter().find(|d| d.name == name);
    let mut errors = Vec::new();
    // Shapes of supplied files, then of literal initializers.
    let mut checks: Vec<(&DeclInfo, Vec<usize>, String)> = Vec::new();
    for s in supplied {
        if let Some(d) = decl(s.name) {
            checks.push((
                d,
                s.shape.to_vec(),
                format!("`{}` ({})", s.path.display(), s.name),
            ));
        }
    }
    for d in &checked.decls {
        let given = supplied.iter().any(|s| s.name == d.name);
        if let (Some(InitExpr::Literal { shape, .. }), false) =
            (&checked.tensor(d.tensor).init, given)
        {
            checks.push((d, shape.clone(), format!("the literal of `{}`", d.name)));
        }
    }
    for (d, shape, what) in &checks {
        if shape.len() != d.ty.shape.len() {
            continue; // reported below with both shapes
        }
        for (poly, &actual) in d.ty.shape.iter().zip(shape) {
            let Some(var) = poly.as_var() else { continue };
            let Some(name) = ids.get(&var) else { continue };
            match values.get(name) {
                // Like `--dim N=0`: a dimension is at least 1 (a zero-length
                // axis makes `mean` divide by zero and `max` undefined).
                None if actual == 0 => {
                    errors.push(
                        Diagnostic::error(
                            Code::E0603,
                            d.span,
                            format!("{what} has {name}=0, but a dimension must be at least 1"),
                        )
                        .with_primary_label(format!("`{name}` is bound from this value"))
                        .with_help("supply data with at least one element along every axis"),
                    );
                }
                None => {
                    values.insert(
                        name.clone(),
                        (
                            actual,
                            Source::Value {
                                what: what.clone(),
                                span: d.span,
                            },
                        ),
                    );
                }
                Some((v, src)) if *v != actual => {
                    let mut diag = Diagnostic::error(
                        Code::E0604,
                        d.span,
                        format!(
                            "dimension `{name}` is {} but {}",
                            src.describe(name, *v),
                            Source::Value {
                                what: what.clone(),
                                span: d.span
                            }
                            .describe(name, actual)
                        ),
                    )
                    .with_primary_label(format!("{what} has {name}={actual}"));
                    if let Source::Value { span, what: other } = src {
                        diag = diag.with_label(*span, format!("{other} has {name}={v}"));
                    }
                    if let Some(s) = spans.get(name) {
                        diag = diag.with_label(*s, "dimension declared here");
                    }
                    errors.push(diag.with_help("every source of a dimension must agree"));
                }
                Some(_) => {}
            }
        }
    }
    // SPEC section 3: an axis declared as an expression (`[N, H * W]`) binds
    // its one unknown dimension when it appears linearly, whatever the order of
    // declarations (repeated until nothing new is learned). Defaults count as
    // known here: they fill in what nothing else binds.
    if errors.is_empty() {
        let default_of = |id: DimId| match checked.dims.info(id).kind {
            DimKind::Global { default: Some(v) } => Some(v),
            _ => None,
        };
        loop {
            let mut learned = false;
            for (d, shape, what) in &checks {
                if shape.len() != d.ty.shape.len() {
                    continue;
                }
                for (poly, &actual) in d.ty.shape.iter().zip(shape) {
                    if poly.as_var().is_some() || poly.as_const().is_some() {
                        continue;
                    }
                    let known = |id| {
                        ids.get(&id)
                            .and_then(|n| values.get(n))
                            .map(|(v, _)| *v as i64)
                    };
                    let mut unknown: Vec<_> = poly
                        .vars()
                        .into_iter()
                        .filter(|v| known(*v).is_none() && default_of(*v).is_none())
                        .collect();
                    unknown.sort();
                    unknown.dedup();
                    let [u] = unknown.as_slice() else { continue };
                    let Some((a, b)) = poly.linear_in(*u) else {
                        continue;
                    };
                    let value = |id| known(id).or_else(|| default_of(id));
                    let (Some(a), Some(b)) = (a.eval(&value), b.eval(&value)) else {
                        continue;
                    };
                    let rest = actual as i128 - b;
                    if a == 0 || rest % a != 0 || rest / a < 1 {
                        continue; // reported by `fit` with both shapes
                    }
                    let Some(name) = ids.get(u) else { continue };
                    values.insert(
                        name.clone(),
                        (
                            (rest / a) as usize,
                            Source::Value {
                                what: what.clone(),
                                span: d.span,
                            },
                        ),
                    );
                    learned = true;
                }
            }
            if !learned {
                break;
            }
        }
    }
    // A conflict explains the shape mismatches it causes: report it alone.
    if !errors.is_empty() {
        return Err(RunError {
            diagnostics: errors,
        });
    }
    let mut plain: HashMap<String, usize> = values.into_iter().map(|(k, (v, _))| (k, v)).collect();
    // Defaults for the rest: a default never conflicts, it only fills in.
    for (_, info) in checked.dims.iter() {
        if let DimKind::Global { default: Some(v) } = info.kind {
            plain.entry(info.name.clone()).or_insert(v as usize);
        }
    }
    // An axis that still names a dimension without a value could not be solved.
    let mut unsolved = Vec::new();
    for (d, shape, what) in &checks {
        if let Some(diag) = unsolved_axis(d, shape, what, checked, &plain, &ids, &mut unsolved) {
            errors.push(diag);
        }
    }
    if !errors.is_empty() {
        return Err(RunError {
            diagnostics: errors,
        });
    }
    // Derived dimensions follow from the rest (a definition names no derived
    // dimension: uses were replaced by definitions when checking).
    let value_of = |id| ids.get(&id).and_then(|n| plain.get(n)).map(|v| *v as i64);
    let mut derived = Vec::new();
    for (_, info) in checked.dims.iter() {
        let DimKind::Derived { def: Some(def) } = &info.kind else {
            continue;
        };
        match def.eval(&value_of) {
            Some(v) if v >= 1 => derived.push((info, usize::try_from(v).unwrap_or(usize::MAX))),
            Some(v) => errors.push(
                Diagnostic::error(
                    Code::E0613,
                    info.span,
                    format!(
                        "the derived dimension `{}` = {} is {v} with {}: dimensions must be at least 1",
                        info.name,
                        def.display_definition(&checked.dims),
                        values_of(def, checked, &value_of)
                    ),
                )
                .with_primary_label(format!("`{}` = {v}", info.name))
                .with_help("choose larger dimension values (--dim, input files), or change the definition"),
            ),
            None if def.divides_by_less_than_one(&value_of) => errors.push(
                Diagnostic::error(
                    Code::E0613,
                    info.span,
                    format!(
                        "the derived dimension `{}` = {} divides by a value below 1 with {}",
                        info.name,
                        def.display_definition(&checked.dims),
                        values_of(def, checked, &value_of)
                    ),
                )
                .with_primary_label(format!("`{}` cannot be computed", info.name))
                .with_help("choose other dimension values (--dim, input files), or change the definition"),
            ),
            // needs a dimension nobody bound: reported where it is used
            None => {}
        }
    }
    for (info, v) in derived {
        spans.insert(info.name.clone(), info.span);
        plain.insert(info.name.clone(), v);
    }
    // Every supplied value must now fit its declaration exactly.
    for (d, shape, what) in &checks {
        if let Some(diag) = fit(d, shape, what, checked, &plain, &ids) {
            errors.push(diag);
        }
    }
    if !errors.is_empty() {
        return Err(RunError {
            diagnostics: errors,
        });
    }
    Ok(Bound {
        values: plain,
        spans,
    })
}

/// `H=3, W=4`: the values of the dimensions `p` names.
fn values_of(p: &Poly, checked: &Checked, value_of: &dyn Fn(DimId) -> Option<i64>) -> String {
    let mut vars = p.vars();
    vars.sort();
    vars.dedup();
    vars.iter()
        .map(|d| {
            let v = value_of(*d).map_or("?".to_string(), |v| v.to_string());
            format!("{}={v}", checked.dims.name(*d))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// E0605 for the first axis of a supplied value that names dimensions still
/// without a value after binding (SPEC section 3): several unknowns in one
/// axis (`H * W` with neither given), or one that cannot be solved for
/// (`H * H`, `(H + 1) / 2`). It names them and suggests `--dim`; `reported`
/// keeps one error per set of unknowns.
fn unsolved_axis(
    d: &DeclInfo,
    shape: &[usize],
    what: &str,
    checked: &Checked,
    values: &HashMap<String, usize>,
    ids: &HashMap<DimId, String>,
    reported: &mut Vec<Vec<DimId>>,
) -> Option<Diagnostic> {
    if shape.len() != d.ty.shape.len() {
        return None; // `fit` shows both shapes
    }
    let known = |id: &DimId| ids.get(id).is_some_and(|n| values.contains_key(n));
    for (axis, (poly, &actual)) in d.ty.shape.iter().zip(shape).enumerate() {
        let mut unknown: Vec<DimId> = poly.vars().into_iter().filter(|v| !known(v)).collect();
        unknown.sort();
        unknown.dedup();
        if unknown.is_empty() || reported.contains(&unknown) {
            continue;
        }
        reported.push(unknown.clone());
        let names: Vec<String> = unknown
            .iter()
            .map(|v| format!("`{}`", checked.dims.name(*v)))
            .collect();
        let expr = poly.display(&checked.dims);
        let (message, help) = if let [one] = unknown.as_slice() {
            let name = checked.dims.name(*one);
            (
                format!(
                    "{what} has {actual} along axis {axis}, declared `{expr}`, which cannot be solved for `{name}`"
                ),
                format!(
                    "only an axis where `{name}` appears once, not squared or divided, binds it: give it with --dim {name}=.."
                ),
            )
        } else {
            let first = checked.dims.name(unknown[0]);
            let last = checked.dims.name(unknown[unknown.len() - 1]);
            (
                format!(
                    "{what} has {actual} along axis {axis}, declared `{expr}`, which does not determine {}",
                    join_and(&names)
                ),
                format!(
                    "give all but one with --dim (such as --dim {first}=..), and the shape gives the last (`{last}`)"
                ),
            )
        };
        let mut diag = Diagnostic::error(Code::E0605, d.span, message).with_primary_label(format!(
            "declared {}",
            crate::check::types::shape_display(&d.ty.shape, &checked.dims)
        ));
        for v in &unknown {
            let info = checked.dims.info(*v);
            diag = diag.with_label(info.span, format!("`{}` has no value", info.name));
        }
        return Some(diag.with_help(help));
    }
    None
}

/// "`H`", "`H` and `W`", "`A`, `B` and `C`".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// E0603 when a value's shape differs from the declaration under the bound dimensions.
fn fit(
    d: &DeclInfo,
    shape: &[usize],
    what: &str,
    checked: &Checked,
    values: &HashMap<String, usize>,
    ids: &HashMap<DimId, String>,
) -> Option<Diagnostic> {
    let value_of = |id| ids.get(&id).and_then(|n| values.get(n)).map(|v| *v as i64);
    let expected: Vec<Option<i128>> = d.ty.shape.iter().map(|p| p.eval(&value_of)).collect();
    let matches = expected.len() == shape.len()
        && expected
            .iter()
            .zip(shape)
            .all(|(e, a)| e.is_none_or(|e| e == *a as i128));
    if matches {
        return None;
    }
    let declared = shape_with_values(&d.ty.shape, checked, &value_of);
    let actual = format!(
        "[{}]",
        shape
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Some(
        Diagnostic::error(
            Code::E0603,
            d.span,
            format!(
                "{what} has shape {actual}, but `{}` is declared {declared}",
                d.name
            ),
        )
        .with_primary_label(format!("declared {declared}"))
        .with_help("values are never reshaped: supply data of the declared shape"),
    )
}

/// `[N=64, D=4096]`: a declared shape with the values bound so far.
pub fn shape_with_values(
    shape: &[Poly],
    checked: &Checked,
    value_of: &dyn Fn(DimId) -> Option<i64>,
) -> String {
    let parts: Vec<String> = shape
        .iter()
        .map(|p| {
            let text = p.display(&checked.dims);
            match (p.as_const(), p.eval(value_of)) {
                (Some(_), _) => text,
                (None, Some(v)) => format!("{text}={v}"),
                (None, None) => text,
            }
        })
        .collect();
    format!("[{}]", parts.join(", "))
}
