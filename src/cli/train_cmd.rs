//! `gradlang train FILE ...` (SPEC section 11): check the program, read the
//! data, set up the model (initializers, `--init` or `--resume`), run the loop
//! of [`crate::train::fit`], and report: progress on stderr, records on stdout
//! (`--format json`), `--log`, `--plot`, checkpoints and the final params.

use super::inputs::run_options;
use super::program::{with_checked_program, Failure};
use super::terminal::{write_stderr, write_stdout, Reporter};
use super::train_setup::{self, Prepared};
use super::{DtypeArg, Format, ProgramArgs};
use crate::check::Checked;
use crate::data::ArrayRef;
use crate::diagnostics::{Code, Diagnostic};
use crate::graph::Float;
use crate::run::{Precision, RunError};
use crate::train::checkpoint::{self, LoadError, RunInfo};
use crate::train::fit::{self, EarlyStop, Model, Observer, Outcome, Position, Settings};
use crate::train::profile::LoopProfile;
use crate::train::report::{check_plot_path, write_plot, EpochRecord, Log, Progress, ProgressMode};
use ndarray::ArrayViewD;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// `gradlang train`'s command line (the value flags are `run`'s).
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub program: ProgramArgs,
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
    /// Validation data (.npz or .safetensors), evaluated after each epoch.
    #[arg(long, value_name = "PATH")]
    pub val: Option<PathBuf>,
    /// Hold out this seeded random fraction of the examples for validation.
    #[arg(long, value_name = "FRACTION")]
    pub val_split: Option<f64>,
    /// Epochs (default: the train statement's, else 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub epochs: Option<u64>,
    /// Examples per step (default: the train statement's, else 32).
    #[arg(long, value_name = "B", value_parser = clap::value_parser!(u64).range(1..1 << 40))]
    pub batch_size: Option<u64>,
    /// Learning rate, instead of the optimizer's.
    #[arg(long, value_name = "X")]
    pub lr: Option<f64>,
    /// Visit the examples in file order every epoch.
    #[arg(long)]
    pub no_shuffle: bool,
    /// Drop each epoch's last, smaller batch.
    #[arg(long)]
    pub drop_last: bool,
    /// Start from saved params (.safetensors or .npz) instead of the initializers.
    #[arg(long, value_name = "PARAMS")]
    pub init: Option<PathBuf>,
    /// Write DIR/epoch-NNNN.safetensors and DIR/last.safetensors.
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Checkpoint every K epochs.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub every: u64,
    /// Keep only the last K epoch checkpoints.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub keep: Option<u64>,
    /// Continue from a checkpoint (default: DIR/last.safetensors of --checkpoint-dir).
    #[arg(long, value_name = "CKPT", num_args = 0..=1)]
    pub resume: Option<Option<PathBuf>>,
    /// Stop when METRIC has not improved: METRIC[,patience=P][,min-delta=D].
    #[arg(long, value_name = "METRIC")]
    pub early_stop: Option<String>,
    /// Append one record per epoch (FILE.jsonl or FILE.csv).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Progress on stderr: a bar on a terminal, epoch lines otherwise.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Draw the loss and metrics per epoch (FILE.svg).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Write DIR/params.safetensors and DIR/history.jsonl (default: runs/NAME).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Report on stderr where the training loop's time went, and steps/s.
    #[arg(long)]
    pub profile: bool,
}

impl TrainArgs {
    fn precision(&self) -> Precision {
        super::precision(self.dtype)
    }
}

pub fn run(args: TrainArgs) -> ExitCode {
    with_checked_program(
        &args.program,
        args.format,
        1,
        |checked, reporter, _| match args.precision() {
            Precision::F32 => train::<f32>(&args, checked, reporter),
            Precision::F64 => train::<f64>(&args, checked, reporter),
        },
    )
}

/// Set by the SIGINT handler: the loop stops after the current step.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C finishes the current step instead of killing the process.
fn catch_interrupts() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as *const () as libc::sighandler_t,
        );
    }
}

fn misuse(message: String, help: &str) -> Failure {
    Failure::misuse(Diagnostic::error_nowhere(Code::E0714, message).with_help(help))
}

/// `val_loss,patience=5,min-delta=0.001`.
fn parse_early_stop(text: &str, names: &[String], has_val: bool) -> Result<EarlyStop, Failure> {
    let mut parts = text.split(',');
    let metric = parts.next().unwrap_or("").trim().to_string();
    let mut known: Vec<String> = names.to_vec();
    if has_val {
        known.extend(names.iter().map(|n| format!("val_{n}")));
    }
    if !known.contains(&metric) {
        let hint = if metric.starts_with("val_") && !has_val {
            "validation metrics need validation data: --val FILE or --val-split FRACTION"
                .to_string()
        } else {
            format!("the metrics of this run are {}", known.join(", "))
        };
        return Err(misuse(
            format!("--early-stop: unknown metric `{metric}`"),
            &hint,
        ));
    }
    let mut es = EarlyStop {
        metric,
        patience: 5,
        min_delta: 0.0,
    };
    for part in parts {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let bad = || {
            misuse(
                format!("--early-stop: cannot read `{part}`"),
                "write --early-stop METRIC,patience=P,min-delta=D (P a whole number, D a number)",
            )
        };
        match key.trim() {
            "patience" => {
                es.patience = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or_else(bad)?
            }
            "min-delta" | "min_delta" => {
                es.min_delta = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|d: &f64| *d >= 0.0)
                    .ok_or_else(bad)?
            }
            _ => return Err(bad()),
        }
    }
    Ok(es)
}

fn train<T: Float>(
    args: &TrainArgs,
    checked: &Checked,
    reporter: &Reporter<'_>,
) -> Result<ExitCode, Failure>
where
    for<'a> ArrayRef<'a>: From<ArrayViewD<'a, T>>,
{
    let spec = train_setup::spec(checked)?;
    if let Some(f) = args.val_split {
        if !(f > 0.0 && f < 1.0) {
            return Err(misuse(
                format!("--val-split {f}: the fraction must be between 0 and 1"),
                "for example --val-split 0.1 holds out a tenth of the examples",
            ));
        }
        if args.val.is_some() {
            return Err(misuse(
                "--val and --val-split both give validation data".into(),
                "use one of them",
            ));
        }
    }
    if let Some(p) = &args.plot {
        check_plot_path(p)
            .map_err(|e| misuse(format!("--plot: {e}"), "--plot takes a path ending in .svg"))?;
    }
    let mut opts = run_options(&args.program, checked, args.precision())?;
    // `--init`: saved params instead of the initializers (the same file
    // `--params` reads; explicit `--input`s still win).
    if let Some(path) = &args.init {
        if args.program.params.is_some() {
            return Err(misuse(
                "--init and --params both give the params to start from".into(),
                "use --init (the training flag) alone",
            ));
        }
        let convert = |name: &str| super::inputs::conversion(checked, args.precision(), name);
        super::params::add_params(
            path,
            checked,
            &args.program.dims,
            &mut opts.supplied,
            &convert,
        )?;
    }
    let Prepared {
        layout,
        mut model,
        train: mut train_set,
        val: mut val_set,
    } = train_setup::prepare::<T>(checked, spec, &mut opts, args.val.as_deref(), true)?;
    if let Some(f) = args.val_split {
        let (t, v) = crate::train::data::split_indices(train_set.examples, f, args.program.seed);
        val_set = Some(train_set.subset(&v));
        train_set = train_set.subset(&t);
    }
    let mut optimizer = spec.optimizer.clone();
    if let Some(lr) = args.lr {
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(misuse(
                format!("--lr {lr}: the learning rate must be a positive number"),
                "for example --lr 1e-3",
            ));
        }
        optimizer.lr = lr;
    }
    let names = fit::value_names(&layout);
    let early_stop = match &args.early_stop {
        Some(text) => Some(parse_early_stop(text, &names, val_set.is_some())?),
        None => None,
    };
    let settings = Settings {
        epochs: args.epochs.or(spec.epochs).unwrap_or(1) as usize,
        batch_size: args.batch_size.or(spec.batch_size).unwrap_or(32) as usize,
        seed: args.program.seed,
        shuffle: !args.no_shuffle,
        drop_last: args.drop_last,
        optimizer,
        schedule: spec.schedule.clone(),
        clip_norm: spec.clip_norm,
        early_stop,
    };
    if settings.drop_last && settings.batch_size > train_set.examples {
        return Err(misuse(
            format!(
                "--drop-last with batch size {} drops all {} examples",
                settings.batch_size, train_set.examples
            ),
            "choose a smaller --batch-size",
        ));
    }
    for p in model.params.iter_mut().filter(|p| p.trained) {
        p.state = crate::train::optim::ParamState::new(&settings.optimizer, p.value.len());
    }
    let info = RunInfo {
        seed: settings.seed,
        dtype: T::NAME,
        hyperparameters: hyperparameters(&settings, val_set.as_ref().map(|v| v.examples)),
    };
    let mut position = Position::start(layout.metrics.len());
    if let Some(resume) = &args.resume {
        let path = match (resume, &args.checkpoint_dir) {
            (Some(p), _) => p.clone(),
            (None, Some(dir)) => dir.join("last.safetensors"),
            (None, None) => {
                return Err(misuse(
                    "--resume without a file needs --checkpoint-dir".into(),
                    "give the checkpoint: --resume DIR/last.safetensors, or --checkpoint-dir DIR --resume",
                ))
            }
        };
        position = checkpoint::load(
            &path,
            &mut model,
            &info,
            &settings.optimizer,
            layout.metrics.len(),
        )
        .map_err(|e| resume_error(&path, e))?;
        if let Some(saved) = checkpoint::saved_hyperparameters(&path) {
            let differs = differences(&saved, &info.hyperparameters);
            if !differs.is_empty() {
                write_stderr(&format!(
                    "warning: resuming with other settings than the checkpoint's ({}): the run will not repeat an uninterrupted one exactly\n",
                    differs.join(", ")
                ));
            }
        }
    }
    let log = match &args.log {
        Some(p) => Some(
            Log::open(p, &names, val_set.is_some())
                .map_err(|e| misuse(format!("--log: {e}"), "--log takes FILE.jsonl or FILE.csv"))?,
        ),
        None => None,
    };
    if let Some(dir) = &args.checkpoint_dir {
        create_dir(dir)?;
    }
    let per_epoch = crate::train::data::steps_per_epoch(
        train_set.examples,
        settings.batch_size,
        settings.drop_last,
    );
    let mut observer = CliObserver {
        args,
        progress: Progress::new(
            args.progress,
            settings.epochs,
            per_epoch,
            position.epoch + 1,
        ),
        log,
        info: &info,
        settings: &settings,
        format: args.format,
        failed_output: None,
        loop_profile: None,
    };
    catch_interrupts();
    let mut graphs = crate::train::graphs::Graphs::default();
    // The loop runs on a worker of the thread pool, so that each parallel
    // kernel and update starts on a thread already in the pool instead of
    // handing the work over from this one and sleeping until it is done.
    let outcome = rayon::scope(|_| {
        fit::fit(
            &layout,
            &mut graphs,
            &mut model,
            &train_set,
            val_set.as_ref(),
            &settings,
            &mut position,
            &mut observer,
        )
    });
    observer.progress.finish();
    if let Some(p) = &observer.loop_profile {
        let threads = rayon::current_num_threads();
        write_stderr(&p.report(&format!(
            "train {}, {}, {threads} thread{}",
            args.program.file.display(),
            T::NAME,
            if threads == 1 { "" } else { "s" }
        )));
    }
    let outcome = outcome?;
    if let Some(code) = observer.failed_output {
        return Ok(code);
    }
    match outcome {
        Outcome::Interrupted => {
            if let Some(dir) = &args.checkpoint_dir {
                let path = dir.join("last.safetensors");
                save(&path, &model, &position, &info, &settings)?;
                write_stderr(&format!(
                    "interrupted at step {} (epoch {}): checkpoint written to {}; continue with --resume\n",
                    position.step,
                    position.epoch + 1,
                    path.display()
                ));
            } else {
                write_stderr(&format!(
                    "interrupted at step {} (epoch {}); no checkpoint was written (--checkpoint-dir DIR keeps one)\n",
                    position.step,
                    position.epoch + 1
                ));
            }
            return Ok(ExitCode::from(130));
        }
        Outcome::EarlyStopped { best_epoch } => write_stderr(&format!(
            "early stop after epoch {}: `{}` has not improved for {} epochs; keeping the params of epoch {best_epoch}\n",
            position.epoch,
            settings.early_stop.as_ref().map_or("", |e| e.metric.as_str()),
            settings.early_stop.as_ref().map_or(0, |e| e.patience),
        )),
        Outcome::Completed {
            best_epoch: Some(best),
        } if best != position.epoch => write_stderr(&format!(
            "keeping the params of epoch {best}, the best `{}`\n",
            settings.early_stop.as_ref().map_or("", |e| e.metric.as_str()),
        )),
        Outcome::Completed { .. } => {}
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&args.program.file));
    write_results(&out, &model, &position.history)?;
    if args.format == Format::Human {
        let params = out.join("params.safetensors");
        write_stderr(&format!(
            "params written to {} (gradlang eval {} --params {} --inputs TEST_DATA)\n",
            params.display(),
            args.program.file.display(),
            params.display()
        ));
    }
    let _ = reporter;
    Ok(ExitCode::SUCCESS)
}

/// Where the final params go without `--out`: `runs/NAME/` for `NAME.grad`.
fn default_out_dir(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "program".to_string());
    Path::new("runs").join(stem)
}

fn create_dir(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| {
        Failure::from(
            Diagnostic::error_nowhere(
                Code::E0609,
                format!("cannot create the directory {}: {e}", dir.display()),
            )
            .with_help("choose a directory you can write to"),
        )
    })
}

/// `DIR/params.safetensors` and `DIR/history.jsonl`, each written atomically.
fn write_results<T: Float>(
    dir: &Path,
    model: &Model<T>,
    history: &[EpochRecord],
) -> Result<(), Failure>
where
    for<'a> ArrayRef<'a>: From<ArrayViewD<'a, T>>,
{
    create_dir(dir)?;
    let tensors: Vec<(String, ArrayRef<'_>)> = model
        .params
        .iter()
        .map(|p| (p.name.clone(), p.value.view().into()))
        .collect();
    let cannot = |what: &Path, e: &dyn std::fmt::Display| {
        Failure::from(
            Diagnostic::error_nowhere(Code::E0609, format!("cannot write {}: {e}", what.display()))
                .with_help("check the directory's permissions and free space"),
        )
    };
    let params = dir.join("params.safetensors");
    let mut meta = std::collections::BTreeMap::new();
    meta.insert("format".to_string(), "gradlang-params-1".to_string());
    crate::data::write_safetensors(&params, &tensors, &meta).map_err(|e| cannot(&params, &e))?;
    let mut text = String::new();
    for r in history {
        text.push_str(&r.to_json().to_string());
        text.push('\n');
    }
    let path = dir.join("history.jsonl");
    crate::data::write_atomic(&path, text.as_bytes()).map_err(|e| cannot(&path, &e))?;
    Ok(())
}

fn save<T: Float>(
    path: &Path,
    model: &Model<T>,
    position: &Position<T>,
    info: &RunInfo,
    settings: &Settings,
) -> Result<(), Failure>
where
    for<'a> ArrayRef<'a>: From<ArrayViewD<'a, T>>,
{
    checkpoint::save(path, model, position, info, &settings.optimizer).map_err(|e| {
        Failure::from(
            Diagnostic::error_nowhere(Code::E0711, format!("cannot write the checkpoint {}: {e}", path.display()))
                .with_help("check the directory's permissions and free space; the previous checkpoint is intact"),
        )
    })
}

fn resume_error(path: &Path, e: LoadError) -> Failure {
    let d = match e {
        LoadError::Read(e) => Diagnostic::error_nowhere(Code::E0711, format!("cannot resume from {}: {e}", path.display()))
            .with_help("--resume takes a checkpoint written by gradlang train --checkpoint-dir"),
        LoadError::Format(why) => Diagnostic::error_nowhere(Code::E0711, format!("cannot resume from {}: {why}", path.display()))
            .with_help("--resume takes a checkpoint written by gradlang train --checkpoint-dir"),
        LoadError::Mismatch(diffs) => Diagnostic::error_nowhere(
            Code::E0711,
            format!(
                "{} is a checkpoint of another program: {}",
                path.display(),
                diffs.join("; ")
            ),
        )
        .with_help("resume with the program and --dtype it was trained with; to start from its params anyway, use --init"),
    };
    Failure::from(d)
}

/// The run's resolved hyperparameters, as the checkpoint's metadata keeps them.
fn hyperparameters(s: &Settings, val_examples: Option<usize>) -> serde_json::Value {
    let obj = |pairs: Vec<(&str, f64)>| {
        serde_json::Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), crate::data::json_f64(v)))
                .collect(),
        )
    };
    serde_json::json!({
        "optimizer": {"name": s.optimizer.name(), "options": obj(s.optimizer.options())},
        "schedule": {"name": s.schedule.name(), "options": obj(s.schedule.options())},
        "clip_norm": s.clip_norm,
        "epochs": s.epochs,
        "batch_size": s.batch_size,
        "shuffle": s.shuffle,
        "drop_last": s.drop_last,
        "validation_examples": val_examples,
    })
}

/// The top-level keys whose values differ (epochs may grow on resume).
fn differences(saved: &serde_json::Value, now: &serde_json::Value) -> Vec<String> {
    let (Some(a), Some(b)) = (saved.as_object(), now.as_object()) else {
        return vec![];
    };
    a.iter()
        .filter(|(k, v)| k.as_str() != "epochs" && b.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Progress, records, logs, charts and checkpoints as the loop goes.
struct CliObserver<'a> {
    args: &'a TrainArgs,
    progress: Progress,
    log: Option<Log>,
    info: &'a RunInfo,
    settings: &'a Settings,
    format: Format,
    /// A closed stdout: stop quietly with this status.
    failed_output: Option<ExitCode>,
    /// `--profile`: the loop's phase times, once it has ended.
    loop_profile: Option<LoopProfile>,
}

impl<T: Float> Observer<T> for CliObserver<'_>
where
    for<'a> ArrayRef<'a>: From<ArrayViewD<'a, T>>,
{
    fn step(&mut self, epoch: usize, step_in_epoch: u64, loss: f64, examples: usize) {
        self.progress.step(epoch, step_in_epoch, loss, examples);
    }

    fn epoch_end(
        &mut self,
        record: &EpochRecord,
        model: &Model<T>,
        position: &Position<T>,
    ) -> Result<(), RunError> {
        self.progress.epoch_end(record);
        if self.format == Format::Json && self.failed_output.is_none() {
            if let Err(code) = write_stdout(&format!("{}\n", record.to_json())) {
                self.failed_output = Some(code);
                INTERRUPTED.store(true, Ordering::SeqCst);
            }
        }
        let report = |what: &str, e: &dyn std::fmt::Display| {
            RunError::from(
                Diagnostic::error_nowhere(Code::E0609, format!("cannot write the {what}: {e}"))
                    .with_help("check the path's directory, permissions and free space"),
            )
        };
        if let Some(log) = &mut self.log {
            log.append(record).map_err(|e| report("log", &e))?;
        }
        if let Some(path) = &self.args.plot {
            write_plot(path, &position.history).map_err(|e| report("chart", &e))?;
        }
        if let Some(dir) = &self.args.checkpoint_dir {
            let every = self.args.every.max(1) as usize;
            let last = record.epoch == self.settings.epochs;
            if record.epoch.is_multiple_of(every) || last {
                let file = dir.join(format!("epoch-{:04}.safetensors", record.epoch));
                for path in [&file, &dir.join("last.safetensors")] {
                    checkpoint::save(path, model, position, self.info, &self.settings.optimizer)
                        .map_err(|e| report("checkpoint", &e))?;
                }
                if let Some(keep) = self.args.keep {
                    prune_checkpoints(dir, keep as usize);
                }
            }
        }
        Ok(())
    }

    fn interrupted(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }

    fn profiling(&self) -> bool {
        self.args.profile
    }

    fn loop_profile(&mut self, profile: &LoopProfile) {
        if self.args.profile {
            self.loop_profile = Some(profile.clone());
        }
    }
}

/// Keeps the newest `keep` `epoch-NNNN.safetensors` files of `dir`.
fn prune_checkpoints(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut epochs: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n = name
                .strip_prefix("epoch-")?
                .strip_suffix(".safetensors")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    epochs.sort();
    let excess = epochs.len().saturating_sub(keep);
    for (_, path) in epochs.into_iter().take(excess) {
        let _ = std::fs::remove_file(path);
    }
}
