//! Names given on the command line (`--dim`, `--input`, `--inputs` members,
//! `--print`) against the program's: an unknown name is E0611 with a "did you
//! mean", a dimension given twice with two values is E0604; both are misuse
//! (exit status 2).

use super::program::Failure;
use crate::check::dims::DimKind;
use crate::check::Checked;
use crate::diagnostics::{Code, Diagnostic};
use crate::graph::NodeId;
use crate::run::Prepared;

/// E0611: `flag` names something the program does not have. The one
/// constructor of this diagnostic.
pub fn unknown_name(flag: &str, name: &str, what: &str, known: &[&str]) -> Diagnostic {
    let d = Diagnostic::error_nowhere(
        Code::E0611,
        format!("{flag}: the program has no {what} named `{name}`"),
    );
    if let Some(best) = crate::check::closest_name(name, known.iter().copied()) {
        d.with_help(format!("did you mean `{best}`?"))
    } else if known.is_empty() {
        d.with_help(format!("the program has no {what} at all"))
    } else {
        d.with_help(format!("it has: {}", known.join(", ")))
    }
}

/// Every `--dim` names a declared dimension, and none is given two values.
pub fn validate_dims(dims: &[(String, usize)], checked: &Checked) -> Result<(), Failure> {
    let declared: Vec<&str> = checked
        .dims
        .iter()
        .filter(|(_, i)| matches!(i.kind, DimKind::Global { .. }))
        .map(|(_, i)| i.name.as_str())
        .collect();
    for (k, (name, value)) in dims.iter().enumerate() {
        if let Some(d) = derived(checked, name, *value) {
            return Err(Failure::misuse(d));
        }
        if !declared.contains(&name.as_str()) {
            return Err(Failure::misuse(unknown_name(
                "--dim",
                name,
                "dimension",
                &declared,
            )));
        }
        if let Some((_, other)) = dims[..k].iter().find(|(n, v)| n == name && v != value) {
            let decl = checked
                .dims
                .iter()
                .find(|(_, i)| i.name == *name)
                .map(|(_, i)| i.span);
            let mut d = Diagnostic::error_at(
                Code::E0604,
                decl,
                format!("--dim {name}={other} and --dim {name}={value} disagree"),
            )
            .with_help(format!("give `{name}` one value"));
            if decl.is_some() {
                d = d.with_primary_label(format!("`{name}` is declared here"));
            }
            return Err(Failure::misuse(d));
        }
    }
    Ok(())
}

/// E0616: `--dim Ho=..` for a derived dimension, which is computed from its
/// definition: the help names the dimensions to set instead.
fn derived(checked: &Checked, name: &str, value: usize) -> Option<Diagnostic> {
    let (_, info) = checked.dims.iter().find(|(_, i)| i.name == name)?;
    let DimKind::Derived { def } = &info.kind else {
        return None;
    };
    let formula = def
        .as_ref()
        .map(|p| format!(" = {}", p.display_definition(&checked.dims)))
        .unwrap_or_default();
    let mut from: Vec<&str> = def
        .iter()
        .flat_map(|p| p.vars())
        .map(|d| checked.dims.name(d))
        .collect();
    from.sort_unstable();
    from.dedup();
    let help = if from.is_empty() {
        format!("`{name}` is a constant: remove --dim {name}={value}")
    } else {
        let flags: Vec<String> = from.iter().map(|n| format!("--dim {n}=..")).collect();
        format!(
            "set what it is computed from instead ({}), or declare `dim {name}` as a dimension of its own",
            flags.join(" ")
        )
    };
    Some(
        Diagnostic::error(
            Code::E0616,
            info.span,
            format!("--dim {name}={value}: `{name}` is a derived dimension, computed from its definition"),
        )
        .with_primary_label(format!("`dim {name}{formula}`"))
        .with_help(help),
    )
}

/// `--print` restricts or extends the printed list; by default every binding.
pub fn printed_names(
    prepared: &Prepared,
    print: Option<&[String]>,
) -> Result<Vec<(String, NodeId)>, Failure> {
    let lowered = &prepared.lowered;
    match print {
        None => Ok(lowered
            .outputs
            .iter()
            .map(|o| (o.name.clone(), o.node))
            .collect()),
        Some(names) => names
            .iter()
            .map(|n| match lowered.named.get(n) {
                Some(node) => Ok((n.clone(), *node)),
                None => {
                    let mut known: Vec<&str> = lowered.named.keys().map(String::as_str).collect();
                    known.sort();
                    Err(Failure::misuse(unknown_name("--print", n, "value", &known)))
                }
            })
            .collect(),
    }
}
