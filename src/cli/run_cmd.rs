//! `gradlang run FILE ...`: check, bind, evaluate, print (SPEC section 8).

use super::source::read_source;
use super::{report, with_big_stack, Format, ProgramArgs};
use crate::check::{check_source, Checked};
use crate::data::{array_to_json, format_array, read_npy, read_npz, write_npy_atomic, ArrayRef};
use crate::diagnostics::{has_errors, Code, Diagnostic};
use crate::graph::{Float, NodeId, Value};
use crate::run::{self, AssertTolerance, Precision, Prepared, RunError, RunOptions, Supplied};
use crate::syntax::ast::Program;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub struct RunArgs {
    pub program: ProgramArgs,
    pub precision: Precision,
    pub print: Option<Vec<String>>,
    pub format: Format,
    pub out: Option<PathBuf>,
    /// `--repeat N`: evaluate N times after one warm-up.
    pub repeat: Option<u32>,
    /// `--profile`: phase and per-primitive times on stderr.
    pub profile: bool,
}

/// A problem with the command line itself: exit status 2.
pub(crate) struct Misuse(pub String);

pub fn run(args: RunArgs) -> ExitCode {
    let check_runs = if args.profile {
        args.repeat.unwrap_or(1) as usize
    } else {
        1
    };
    with_checked_program(&args.program, check_runs, |program, checked, text, t| {
        execute(&args, program, checked, text, t)
    })
}

pub fn gradcheck(args: ProgramArgs, directions: usize) -> ExitCode {
    with_checked_program(&args, 1, |program, checked, text, _| {
        run_gradcheck(&args, directions, program, checked, text)
    })
}

/// Reads and checks the file, then hands the checked program to `body`;
/// renders whatever goes wrong and picks the exit status. The check runs
/// `check_runs` times (for `--profile --repeat`); `body` gets the median time.
fn with_checked_program(
    args: &ProgramArgs,
    check_runs: usize,
    body: impl FnOnce(&Program, &Checked, &str, Duration) -> Result<ExitCode, Failure>,
) -> ExitCode {
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
    let (program, checked, check_time) = with_big_stack(move || {
        let mut times = Vec::with_capacity(check_runs);
        let mut result = None;
        for _ in 0..check_runs.max(1) {
            let t0 = Instant::now();
            let r = check_source(&text);
            times.push(t0.elapsed());
            result = Some(r);
        }
        let (program, checked) = result.expect("checked at least once");
        (program, checked, median(&mut times))
    });
    report(&checked.diagnostics, &file.name, &file.text);
    if has_errors(&checked.diagnostics) {
        return ExitCode::from(1);
    }
    if let Some(k) = args.threads {
        // Only fails if a global pool already exists (never in the CLI).
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(k.into())
            .build_global();
    }
    match body(&program, &checked, &file.text, check_time) {
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

fn run_options(
    args: &ProgramArgs,
    checked: &Checked,
    precision: Precision,
) -> Result<RunOptions, Failure> {
    validate_dims(&args.dims, checked)?;
    let supplied = read_supplied(&args.inputs, args.archive.as_deref(), checked)?;
    Ok(RunOptions {
        dims: args.dims.clone(),
        supplied,
        seed: args.seed,
        precision,
        max_jacobian_bytes: args.max_jacobian_bytes,
    })
}

fn run_gradcheck(
    args: &ProgramArgs,
    directions: usize,
    _program: &Program,
    checked: &Checked,
    src: &str,
) -> Result<ExitCode, Failure> {
    let opts = run_options(args, checked, Precision::F64)?;
    let prepared = run::prepare(checked, &opts)?;
    let leaves = run::leaf_values::<f64>(&prepared, &opts)?;
    let mut results = run::gradcheck::gradcheck(&prepared, &leaves, args.seed, directions)?;
    // A layer called twice checks its derivatives twice; show each place once, in order.
    results.sort_by_key(|r| (r.span.start, r.span.end));
    let map = crate::diagnostics::SourceMap::new(src);
    let mut out = String::new();
    if results.is_empty() {
        out.push_str(&format!(
            "{}: no grad, vjp or jvp to check\n",
            args.file.display()
        ));
    } else {
        let rows: Vec<(String, String, String, &str)> = results
            .iter()
            .map(|r| {
                let lc = map.line_col(r.span.start);
                let text = src
                    .get(r.span.start..r.span.end)
                    .unwrap_or("?")
                    .replace('\n', " ");
                let text = if text.chars().count() > 48 {
                    format!("{}...", text.chars().take(45).collect::<String>())
                } else {
                    text
                };
                (
                    format!("{}:{}", lc.line, lc.column),
                    text,
                    format!("{:.2e}", r.max_rel_error),
                    if r.passed { "ok" } else { "FAILED" },
                )
            })
            .collect();
        let w = rows
            .iter()
            .map(|r| r.1.chars().count())
            .max()
            .unwrap_or(10)
            .max(10);
        out.push_str(&format!(
            "{:<8} {:<w$}  {:>13}  result\n",
            "line", "derivative", "max rel error"
        ));
        for (at, text, err, verdict) in &rows {
            out.push_str(&format!("{at:<8} {text:<w$}  {err:>13}  {verdict}\n"));
        }
        let failed = results.iter().filter(|r| !r.passed).count();
        out.push_str(&format!(
            "{} derivative{} checked: {} ok, {failed} failed (central differences in f64, eps {:e}, tolerance {:e} relative or {:e} absolute)\n",
            results.len(),
            if results.len() == 1 { "" } else { "s" },
            results.len() - failed,
            run::gradcheck::EPS,
            run::gradcheck::REL_TOLERANCE,
            run::gradcheck::ABS_TOLERANCE
        ));
    }
    print!("{out}");
    Ok(if results.iter().all(|r| r.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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

fn execute(
    args: &RunArgs,
    _program: &Program,
    checked: &Checked,
    src: &str,
    check_time: Duration,
) -> Result<ExitCode, Failure> {
    let t0 = Instant::now();
    let opts = run_options(&args.program, checked, args.precision)?;
    let prepared = run::prepare(checked, &opts)?;
    let printed = printed_names(&prepared, args.print.as_deref())?;
    let timing = Timing {
        check: check_time,
        bind_start: t0,
    };
    match args.precision {
        Precision::F32 => finish::<f32>(args, &opts, &prepared, checked, &printed, src, timing),
        Precision::F64 => finish::<f64>(args, &opts, &prepared, checked, &printed, src, timing),
    }
}

/// What `--profile` has measured before evaluation starts.
struct Timing {
    check: Duration,
    bind_start: Instant,
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// Evaluates `nodes` once, or (with `--repeat N`) once as a warm-up and then N
/// times, each run's values recycled before the next starts; with `--profile`,
/// reports the medians on stderr.
fn evaluate_timed<T: Float>(
    args: &RunArgs,
    opts: &RunOptions,
    prepared: &Prepared,
    nodes: &[NodeId],
    timing: Timing,
) -> Result<Vec<Value<T>>, Failure> {
    let leaves = run::leaf_values::<T>(prepared, opts)?;
    let schedule = run::schedule(prepared, nodes)?;
    let bind_time = timing.bind_start.elapsed();
    let Some(repeat) = args.repeat.or(args.profile.then_some(1)) else {
        return Ok(run::evaluate_scheduled(prepared, &schedule, &leaves, None)?);
    };
    let warm_up = args.repeat.is_some();
    let mut values = None;
    if warm_up {
        values = Some(run::evaluate_scheduled(prepared, &schedule, &leaves, None)?);
    }
    let (mut fwd, mut bwd, mut wall) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeat {
        // the previous run's values are handed back: their buffers serve this run,
        // as a training loop keeps its parameter and gradient buffers
        if let Some(v) = values.take() {
            schedule.recycle(v);
        }
        let mut p = crate::graph::Profile::default();
        let t0 = Instant::now();
        let v =
            run::evaluate_scheduled(prepared, &schedule, &leaves, args.profile.then_some(&mut p))?;
        wall.push(t0.elapsed());
        values = Some(v);
        fwd.push(p.forward);
        bwd.push(p.backward);
    }
    // the per-primitive table comes from as many more runs, each kernel timed
    let mut total = crate::graph::Profile {
        kernels: true,
        ..Default::default()
    };
    if args.profile {
        for _ in 0..repeat {
            if let Some(v) = values.take() {
                schedule.recycle(v);
            }
            values = Some(run::evaluate_scheduled(
                prepared,
                &schedule,
                &leaves,
                Some(&mut total),
            )?);
        }
    }
    if args.profile {
        let report = profile_report(
            &args.program.file,
            T::NAME,
            repeat,
            warm_up,
            [
                timing.check,
                bind_time,
                median(&mut fwd),
                median(&mut bwd),
                median(&mut wall),
            ],
            &mut total,
        );
        let _ = std::io::stderr().lock().write_all(report.as_bytes());
    }
    Ok(values.unwrap_or_default())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The `--profile` report: phase medians, then kernel time per primitive.
fn profile_report(
    file: &Path,
    dtype: &str,
    runs: u32,
    warm_up: bool,
    [check, bind, forward, backward, wall]: [Duration; 5],
    total: &mut crate::graph::Profile,
) -> String {
    let mut out = format!(
        "profile: {}, {dtype}, {} thread{}, {runs} run{}{} (medians)\n",
        file.display(),
        rayon::current_num_threads(),
        if rayon::current_num_threads() == 1 {
            ""
        } else {
            "s"
        },
        if runs == 1 { "" } else { "s" },
        if warm_up { " after 1 warm-up" } else { "" },
    );
    out.push_str(&format!("  {:<12} {:>12}\n", "phase", "time"));
    for (name, t) in [
        ("parse+check", check),
        ("bind/load", bind),
        ("forward", forward),
        ("backward", backward),
        ("evaluation", wall),
    ] {
        out.push_str(&format!("  {name:<12} {:>12}\n", ms(t)));
    }
    total
        .ops
        .sort_by(|a, b| b.time.cmp(&a.time).then(a.name.cmp(b.name)));
    let sum: Duration = total.ops.iter().map(|o| o.time).sum();
    out.push_str(&format!(
        "  {:<14} {:>9} {:>12} {:>7}\n",
        "primitive", "calls/run", "time/run", "share"
    ));
    for o in &total.ops {
        let share = if sum.is_zero() {
            0.0
        } else {
            100.0 * o.time.as_secs_f64() / sum.as_secs_f64()
        };
        out.push_str(&format!(
            "  {:<14} {:>9} {:>12} {:>6.1}%\n",
            o.name,
            o.count / u64::from(runs),
            ms(o.time / runs),
            share
        ));
    }
    out.push_str(&format!(
        "  {:<14} {:>9} {:>12}\n",
        "(kernels)",
        total.ops.iter().map(|o| o.count).sum::<u64>() / u64::from(runs),
        ms(sum / runs)
    ));
    out
}

#[allow(clippy::too_many_arguments)]
fn finish<T: OutputFloat>(
    args: &RunArgs,
    opts: &RunOptions,
    prepared: &Prepared,
    checked: &Checked,
    printed: &[(String, NodeId)],
    src: &str,
    timing: Timing,
) -> Result<ExitCode, Failure> {
    let mut nodes: Vec<NodeId> = printed.iter().map(|(_, n)| *n).collect();
    for a in &prepared.lowered.asserts {
        nodes.push(a.a);
        nodes.push(a.b);
    }
    let mut values = evaluate_timed::<T>(args, opts, prepared, &nodes, timing)?;
    let assert_values: Vec<(Value<T>, Value<T>)> = {
        let mut rest = values.split_off(printed.len()).into_iter();
        let mut pairs = Vec::new();
        while let (Some(a), Some(b)) = (rest.next(), rest.next()) {
            pairs.push((a, b));
        }
        pairs
    };
    let named: Vec<(&str, &Value<T>)> = printed
        .iter()
        .map(|(n, _)| n.as_str())
        .zip(values.iter())
        .collect();
    if let Some(dir) = &args.out {
        write_outputs(dir, &named, checked).map_err(Failure::Run)?;
    }
    let mut stdout = std::io::stdout().lock();
    let text = match args.format {
        Format::Human => human_output(&named, prepared, checked),
        Format::Json => json_output(&named, prepared, checked).to_string() + "\n",
    };
    if stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
        .is_err()
    {
        // stdout closed (e.g. piped into `head`): nothing more to say.
        return Ok(ExitCode::from(1));
    }
    let failures = run::check_asserts(
        &prepared.lowered.asserts,
        &assert_values,
        AssertTolerance::for_precision(args.precision),
        src,
    );
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Failure::Run(RunError {
            diagnostics: failures,
        }))
    }
}

/// `--print` restricts or extends the printed list; by default every binding.
fn printed_names(
    prepared: &Prepared,
    print: Option<&[String]>,
) -> Result<Vec<(String, NodeId)>, Misuse> {
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
            return Err(Misuse(unknown_name_message(
                "--dim",
                name,
                "dimension",
                &declared,
            )));
        }
    }
    Ok(())
}

/// Reads `--input NAME=PATH` files and the `--inputs` archive (a file given
/// with `--input` takes precedence over an archive member of the same name).
fn read_supplied(
    inputs: &[(String, PathBuf)],
    archive: Option<&Path>,
    checked: &Checked,
) -> Result<Vec<Supplied>, Failure> {
    let known: Vec<&str> = checked.decls.iter().map(|d| d.name.as_str()).collect();
    let decl_span = |name: &str| {
        checked
            .decls
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.span)
            .unwrap_or_default()
    };
    let mut out: Vec<Supplied> = Vec::new();
    let mut errors = Vec::new();
    for (name, path) in inputs {
        if !known.contains(&name.as_str()) {
            return Err(Misuse(unknown_name_message(
                "--input",
                name,
                "input or param",
                &known,
            ))
            .into());
        }
        match read_npy(path) {
            Ok(data) => out.push(Supplied {
                name: name.clone(),
                path: path.clone(),
                data,
            }),
            Err(e) => errors.push(
                Diagnostic::error(
                    Code::E0602,
                    decl_span(name),
                    format!("cannot read the value of `{name}`: {e}"),
                )
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
                        return Err(Misuse(unknown_name_message(
                            &format!("--inputs {}", path.display()),
                            &name,
                            "input or param",
                            &known,
                        ))
                        .into());
                    }
                    if !out.iter().any(|s| s.name == name) {
                        out.push(Supplied {
                            name,
                            path: path.to_path_buf(),
                            data,
                        });
                    }
                }
            }
            Err(e) => {
                let span = e.member().map(decl_span).unwrap_or_default();
                errors.push(
                    Diagnostic::error(
                        Code::E0602,
                        span,
                        format!("cannot read `{}`: {e}", path.display()),
                    )
                    .with_help("--inputs takes a .npz archive of .npy arrays"),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(RunError {
            diagnostics: errors,
        }
        .into())
    }
}

/// The run's float type, viewed for printing and writing through the data
/// module's own `ArrayViewD -> ArrayRef` conversions.
pub(crate) trait OutputFloat: Float {
    fn array_ref(a: &ndarray::ArrayD<Self>) -> ArrayRef<'_>;
}

impl<T: Float> OutputFloat for T
where
    for<'a> ArrayRef<'a>: From<ndarray::ArrayViewD<'a, T>>,
{
    fn array_ref(a: &ndarray::ArrayD<T>) -> ArrayRef<'_> {
        a.view().into()
    }
}

/// A bool-typed value (a 0/1 float mask in the engine) as `bool`s.
fn as_bool<T: OutputFloat>(
    name: &str,
    v: &Value<T>,
    checked: &Checked,
) -> Option<ndarray::ArrayD<bool>> {
    let ty = checked
        .bindings
        .iter()
        .find(|b| b.name == name)
        .map(|b| &b.ty)
        .or_else(|| checked.decls.iter().find(|d| d.name == name).map(|d| &d.ty))?;
    if ty.elem != crate::check::types::Elem::Bool {
        return None;
    }
    v.as_float().map(|a| a.mapv(|x| x != T::zero()))
}

fn array_ref<T: OutputFloat>(v: &Value<T>) -> ArrayRef<'_> {
    match v {
        Value::Int(a) => ArrayRef::I64(a.view()),
        Value::Float(a) => T::array_ref(a),
    }
}

fn human_output<T: OutputFloat>(
    named: &[(&str, &Value<T>)],
    prepared: &Prepared,
    checked: &Checked,
) -> String {
    let mut out = String::new();
    for (name, value) in named {
        let bools = as_bool(name, value, checked);
        let dtype = match value {
            _ if bools.is_some() => "bool",
            Value::Float(_) => T::NAME,
            Value::Int(_) => "int",
        };
        let shape = symbolic_shape(name, checked, prepared)
            .unwrap_or_else(|| format!("{:?}", value.shape()));
        let body = match &bools {
            Some(b) => format_array(ArrayRef::Bool(b.view())),
            None => format_array(array_ref(value)),
        };
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

fn json_output<T: OutputFloat>(
    named: &[(&str, &Value<T>)],
    prepared: &Prepared,
    checked: &Checked,
) -> serde_json::Value {
    let mut dims = serde_json::Map::new();
    for name in &prepared.dim_order {
        if let Some(v) = prepared.dims.get(name) {
            dims.insert(name.clone(), serde_json::json!(v));
        }
    }
    let values: Vec<serde_json::Value> = named
        .iter()
        .map(|(name, value)| {
            // `name` first, then dtype, shape and data (SPEC section 8).
            let mut entry = serde_json::Map::new();
            entry.insert("name".into(), serde_json::json!(name));
            let bools = as_bool(name, value, checked);
            let array = match &bools {
                Some(b) => array_to_json(ArrayRef::Bool(b.view())),
                None => array_to_json(array_ref(value)),
            };
            if let serde_json::Value::Object(fields) = array {
                entry.extend(fields);
            }
            serde_json::Value::Object(entry)
        })
        .collect();
    serde_json::json!({ "dims": dims, "values": values })
}

/// `--out DIR`: each printed value as `DIR/NAME.npy`, written atomically.
fn write_outputs<T: OutputFloat>(
    dir: &Path,
    named: &[(&str, &Value<T>)],
    checked: &Checked,
) -> Result<(), RunError> {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Err(Diagnostic::error(
            Code::E0609,
            Default::default(),
            format!(
                "cannot create the output directory `{}`: {e}",
                dir.display()
            ),
        )
        .into());
    }
    for (name, value) in named {
        let path = dir.join(format!("{name}.npy"));
        let bools = as_bool(name, value, checked);
        let array = match &bools {
            Some(b) => ArrayRef::Bool(b.view()),
            None => array_ref(value),
        };
        write_npy_atomic(&path, array).map_err(|e| {
            RunError::from(Diagnostic::error(
                Code::E0609,
                Default::default(),
                format!("cannot write `{}`: {e}", path.display()),
            ))
        })?;
    }
    Ok(())
}
