//! `gradlang run FILE ...`: check, bind, evaluate, print (SPEC section 8).

use super::source::read_source;
use super::{report, with_big_stack, Format};
use crate::check::{check_source, Checked};
use crate::data::{array_to_json, format_array, read_npy, read_npz, write_npy_atomic, ArrayRef};
use crate::diagnostics::{has_errors, Code, Diagnostic};
use crate::graph::{Float, NodeId, Value};
use crate::run::{self, AssertTolerance, Precision, Prepared, RunError, RunOptions, Supplied};
use crate::syntax::ast::Program;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub struct RunArgs {
    pub file: PathBuf,
    pub dims: Vec<(String, usize)>,
    pub inputs: Vec<(String, PathBuf)>,
    pub archive: Option<PathBuf>,
    pub seed: u64,
    pub precision: Precision,
    pub threads: Option<usize>,
    pub print: Option<Vec<String>>,
    pub format: Format,
    pub out: Option<PathBuf>,
    pub max_jacobian_bytes: u128,
}

/// A problem with the command line itself: exit status 2.
pub(crate) struct Misuse(pub String);

pub fn run(args: RunArgs) -> ExitCode {
    let file = match read_source(&args.file) {
        Ok(f) => f,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(d) = &file.encoding_error {
        report(std::slice::from_ref(d), &file.name, &file.text);
        return ExitCode::from(1);
    }
    let text = file.text.clone();
    let (program, checked) = with_big_stack(move || {
        let (p, c) = check_source(&text);
        (p, c)
    });
    report(&checked.diagnostics, &file.name, &file.text);
    if has_errors(&checked.diagnostics) {
        return ExitCode::from(1);
    }
    if let Some(k) = args.threads {
        // Only fails if a global pool already exists (never in the CLI).
        let _ = rayon::ThreadPoolBuilder::new().num_threads(k).build_global();
    }
    match execute(&args, &program, &checked, &file.text) {
        Ok(code) => code,
        Err(Failure::Misuse(Misuse(message))) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Run(e)) => {
            report(&e.diagnostics, &file.name, &file.text);
            ExitCode::from(1)
        }
    }
}

pub(crate) enum Failure {
    Misuse(Misuse),
    Run(RunError),
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        Failure::Run(e)
    }
}

impl From<Misuse> for Failure {
    fn from(m: Misuse) -> Self {
        Failure::Misuse(m)
    }
}

fn execute(args: &RunArgs, program: &Program, checked: &Checked, src: &str) -> Result<ExitCode, Failure> {
    validate_dims(&args.dims, checked)?;
    let supplied = read_supplied(&args.inputs, args.archive.as_deref(), checked)?;
    let opts = RunOptions {
        dims: args.dims.clone(),
        supplied,
        seed: args.seed,
        precision: args.precision,
        max_jacobian_bytes: args.max_jacobian_bytes,
    };
    let prepared = run::prepare(program, checked, &opts)?;
    let printed = printed_names(&prepared, args.print.as_deref())?;
    match args.precision {
        Precision::F32 => finish::<f32>(args, &opts, &prepared, checked, &printed, src),
        Precision::F64 => finish::<f64>(args, &opts, &prepared, checked, &printed, src),
    }
}

fn finish<T: Float + 'static>(
    args: &RunArgs,
    opts: &RunOptions,
    prepared: &Prepared,
    checked: &Checked,
    printed: &[(String, NodeId)],
    src: &str,
) -> Result<ExitCode, Failure> {
    let leaves = run::leaf_values::<T>(prepared, opts)?;
    let mut nodes: Vec<NodeId> = printed.iter().map(|(_, n)| *n).collect();
    for a in &prepared.lowered.asserts {
        nodes.push(a.a);
        nodes.push(a.b);
    }
    let mut values = run::evaluate_nodes(prepared, &leaves, &nodes)?;
    let assert_values: Vec<(Value<T>, Value<T>)> = {
        let mut rest = values.split_off(printed.len()).into_iter();
        let mut pairs = Vec::new();
        while let (Some(a), Some(b)) = (rest.next(), rest.next()) {
            pairs.push((a, b));
        }
        pairs
    };
    let named: Vec<(&str, &Value<T>)> = printed.iter().map(|(n, _)| n.as_str()).zip(values.iter()).collect();
    if let Some(dir) = &args.out {
        write_outputs(dir, &named).map_err(Failure::Run)?;
    }
    let mut stdout = std::io::stdout().lock();
    let text = match args.format {
        Format::Human => human_output(&named, prepared, checked),
        Format::Json => json_output(&named, prepared).to_string() + "\n",
    };
    if stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()).is_err() {
        // stdout closed (e.g. piped into `head`): nothing more to say.
        return Ok(ExitCode::from(1));
    }
    let failures = run::check_asserts(&prepared.lowered.asserts, &assert_values, AssertTolerance::for_precision(args.precision), src);
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Failure::Run(RunError { diagnostics: failures }))
    }
}

/// `--print` restricts or extends the printed list; by default every binding.
fn printed_names(prepared: &Prepared, print: Option<&[String]>) -> Result<Vec<(String, NodeId)>, Misuse> {
    let lowered = &prepared.lowered;
    match print {
        None => Ok(lowered.outputs.iter().map(|o| (o.name.clone(), o.node)).collect()),
        Some(names) => names
            .iter()
            .map(|n| match lowered.named.get(n) {
                Some(node) => Ok((n.clone(), *node)),
                None => {
                    let mut known: Vec<&str> = lowered.named.keys().map(String::as_str).collect();
                    known.sort();
                    Err(Misuse(unknown_name_message("--print", n, "value", &known)))
                }
            })
            .collect(),
    }
}

fn unknown_name_message(flag: &str, name: &str, what: &str, known: &[&str]) -> String {
    let mut m = format!("[E0611] {flag}: the program has no {what} named `{name}`");
    if let Some(best) = crate::check::closest_name(name, known.iter().copied()) {
        m.push_str(&format!(" (did you mean `{best}`?)"));
    } else if !known.is_empty() {
        m.push_str(&format!("; it has: {}", known.join(", ")));
    }
    m
}

fn validate_dims(dims: &[(String, usize)], checked: &Checked) -> Result<(), Misuse> {
    let declared: Vec<&str> = checked
        .dims
        .iter()
        .filter(|(_, i)| matches!(i.kind, crate::check::dims::DimKind::Global { .. }))
        .map(|(_, i)| i.name.as_str())
        .collect();
    for (name, _) in dims {
        if !declared.contains(&name.as_str()) {
            return Err(Misuse(unknown_name_message("--dim", name, "dimension", &declared)));
        }
    }
    Ok(())
}

/// Reads `--input NAME=PATH` files and the `--inputs` archive (a file given
/// with `--input` takes precedence over an archive member of the same name).
fn read_supplied(inputs: &[(String, PathBuf)], archive: Option<&Path>, checked: &Checked) -> Result<Vec<Supplied>, Failure> {
    let known: Vec<&str> = checked.decls.iter().map(|d| d.name.as_str()).collect();
    let decl_span = |name: &str| checked.decls.iter().find(|d| d.name == name).map(|d| d.span).unwrap_or_default();
    let mut out: Vec<Supplied> = Vec::new();
    let mut errors = Vec::new();
    for (name, path) in inputs {
        if !known.contains(&name.as_str()) {
            return Err(Misuse(unknown_name_message("--input", name, "input or param", &known)).into());
        }
        match read_npy(path) {
            Ok(data) => out.push(Supplied { name: name.clone(), path: path.clone(), data }),
            Err(e) => errors.push(
                Diagnostic::error(Code::E0602, decl_span(name), format!("cannot read the value of `{name}`: {e}"))
                    .with_primary_label(format!("`{name}` is declared here"))
                    .with_help("--input NAME=PATH takes a .npy file (f32, f64, i32 or i64)"),
            ),
        }
    }
    if let Some(path) = archive {
        match read_npz(path) {
            Ok(members) => {
                for (name, data) in members {
                    if !known.contains(&name.as_str()) {
                        return Err(Misuse(unknown_name_message(&format!("--inputs {}", path.display()), &name, "input or param", &known)).into());
                    }
                    if !out.iter().any(|s| s.name == name) {
                        out.push(Supplied { name, path: path.to_path_buf(), data });
                    }
                }
            }
            Err(e) => {
                let span = e.member().map(decl_span).unwrap_or_default();
                errors.push(Diagnostic::error(Code::E0602, span, format!("cannot read `{}`: {e}", path.display())).with_help("--inputs takes a .npz archive of .npy arrays"));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(RunError { diagnostics: errors }.into())
    }
}

fn array_ref<T: Float + 'static>(v: &Value<T>) -> ArrayRef<'_> {
    use std::any::Any;
    match v {
        Value::Int(a) => ArrayRef::I64(a.view()),
        Value::Float(a) => {
            if let Some(a32) = (a as &dyn Any).downcast_ref::<ndarray::ArrayD<f32>>() {
                ArrayRef::F32(a32.view())
            } else if let Some(a64) = (a as &dyn Any).downcast_ref::<ndarray::ArrayD<f64>>() {
                ArrayRef::F64(a64.view())
            } else {
                ArrayRef::F64(ndarray::ArrayViewD::from_shape(ndarray::IxDyn(&[0]), &[]).expect("empty view"))
            }
        }
    }
}

fn human_output<T: Float + 'static>(named: &[(&str, &Value<T>)], prepared: &Prepared, checked: &Checked) -> String {
    let mut out = String::new();
    for (name, value) in named {
        let dtype = match value {
            Value::Float(_) => T::NAME,
            Value::Int(_) => "int",
        };
        let shape = symbolic_shape(name, checked, prepared).unwrap_or_else(|| format!("{:?}", value.shape()));
        let body = format_array(array_ref(value));
        if value.shape().is_empty() {
            out.push_str(&format!("{name}: {shape} {dtype} = {body}\n"));
        } else {
            out.push_str(&format!("{name}: {shape} {dtype} =\n{body}\n"));
        }
    }
    out
}

/// `[N=64, D=4096]` for a named value, from its checked type.
fn symbolic_shape(name: &str, checked: &Checked, prepared: &Prepared) -> Option<String> {
    let ty = checked
        .bindings
        .iter()
        .find(|b| b.name == name)
        .map(|b| &b.ty)
        .or_else(|| checked.decls.iter().find(|d| d.name == name).map(|d| &d.ty))?;
    let value_of = |id| prepared.dims.get(checked.dims.name(id)).map(|v| *v as i64);
    Some(run::bind::shape_with_values(&ty.shape, checked, &value_of))
}

fn json_output<T: Float + 'static>(named: &[(&str, &Value<T>)], prepared: &Prepared) -> serde_json::Value {
    let mut dims = serde_json::Map::new();
    for name in &prepared.dim_order {
        if let Some(v) = prepared.dims.get(name) {
            dims.insert(name.clone(), serde_json::json!(v));
        }
    }
    let values: Vec<serde_json::Value> = named
        .iter()
        .map(|(name, value)| {
            let mut v = array_to_json(array_ref(value));
            if let Some(obj) = v.as_object_mut() {
                obj.insert("name".into(), serde_json::json!(name));
            }
            v
        })
        .collect();
    serde_json::json!({ "dims": dims, "values": values })
}

/// `--out DIR`: each printed value as `DIR/NAME.npy`, written atomically.
fn write_outputs<T: Float + 'static>(dir: &Path, named: &[(&str, &Value<T>)]) -> Result<(), RunError> {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Err(Diagnostic::error(Code::E0609, Default::default(), format!("cannot create the output directory `{}`: {e}", dir.display())).into());
    }
    for (name, value) in named {
        let path = dir.join(format!("{name}.npy"));
        write_npy_atomic(&path, array_ref(value))
            .map_err(|e| RunError::from(Diagnostic::error(Code::E0609, Default::default(), format!("cannot write `{}`: {e}", path.display()))))?;
    }
    Ok(())
}
