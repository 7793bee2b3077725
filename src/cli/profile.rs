//! `--repeat N` and `--profile`: repeated evaluation with recycled buffers,
//! phase medians and the per-primitive table on stderr.

use super::program::{median, Failure};
use super::run_cmd::RunArgs;
use super::terminal::write_stderr;
use crate::graph::{Float, NodeId, Value};
use crate::run::{self, Prepared, RunOptions};
use std::path::Path;
use std::time::{Duration, Instant};

/// What `--profile` has measured before evaluation starts.
pub struct Timing {
    pub check: Duration,
    pub bind_start: Instant,
}

/// Evaluates `nodes` once, or (with `--repeat N`) once as a warm-up and then N
/// times, each run's values recycled before the next starts; with `--profile`,
/// reports the medians on stderr.
pub fn evaluate_timed<T: Float>(
    args: &RunArgs,
    opts: &mut RunOptions,
    prepared: &Prepared,
    nodes: &[NodeId],
    timing: Timing,
) -> Result<Vec<Value<T>>, Failure> {
    let schedule = run::schedule::<T>(prepared, nodes)?;
    let leaves = run::leaf_values::<T>(prepared, opts)?;
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
        write_stderr(&report);
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
