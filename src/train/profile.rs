//! `gradlang train --profile`: where the training loop's wall time goes.
//!
//! The loop keeps one [`LoopProfile`] and calls [`LoopProfile::lap`] at each
//! phase boundary: the time since the previous lap is added to the phase
//! named, so the phases partition the loop's time exactly (whatever is not
//! named goes to [`Phase::Other`]). The step graph's forward and backward
//! stages are timed by the evaluator itself ([`crate::graph::Profile`], no
//! per-kernel timing). A profile that is not enabled reads no clock.

use crate::graph::Profile as EvalProfile;
use std::time::{Duration, Instant};

/// The parts of the training loop `--profile` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Lowering and scheduling a step or evaluation graph (once per batch size).
    Build,
    /// Gathering the batch's rows and drawing the dropout masks.
    Gather,
    /// Evaluating the step graph: forward and backward, binding its leaves.
    Graph,
    /// Checking the loss and gradients, clipping, the optimizer's updates.
    Optimizer,
    /// Evaluating the validation set after an epoch.
    Validation,
    /// Everything else: orders, progress, records, logs, checkpoints.
    Other,
}

const PHASES: usize = 6;

/// Time per [`Phase`], steps and examples of one `fit` call.
#[derive(Clone, Debug)]
pub struct LoopProfile {
    enabled: bool,
    mark: Instant,
    times: [Duration; PHASES],
    /// The forward and backward stages of the step graph's evaluations.
    pub eval: EvalProfile,
    pub steps: u64,
    pub examples: u64,
}

impl LoopProfile {
    /// A profile that measures only when `enabled`; the clock starts now.
    pub fn new(enabled: bool) -> Self {
        LoopProfile {
            enabled,
            mark: Instant::now(),
            times: [Duration::ZERO; PHASES],
            eval: EvalProfile::default(),
            steps: 0,
            examples: 0,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Adds the time since the previous lap to `phase`.
    #[inline]
    pub fn lap(&mut self, phase: Phase) {
        if self.enabled {
            let now = Instant::now();
            self.times[phase as usize] += now - self.mark;
            self.mark = now;
        }
    }

    /// Counts one optimizer step on `examples` examples.
    #[inline]
    pub fn step(&mut self, examples: usize) {
        self.steps += 1;
        self.examples += examples as u64;
    }

    /// The evaluator's profile, when measuring (stage times only).
    pub fn eval_profile(&mut self) -> Option<&mut EvalProfile> {
        self.enabled.then_some(&mut self.eval)
    }

    pub fn time(&self, phase: Phase) -> Duration {
        self.times[phase as usize]
    }

    /// The loop's whole time: the sum of the phases.
    pub fn total(&self) -> Duration {
        self.times.iter().sum()
    }

    /// The report `--profile` writes on stderr; `title` names the run
    /// (program, dtype, threads).
    pub fn report(&self, title: &str) -> String {
        let total = self.total();
        let steps = self.steps.max(1) as u32;
        let share = |d: Duration| {
            if total.is_zero() {
                0.0
            } else {
                100.0 * d.as_secs_f64() / total.as_secs_f64()
            }
        };
        let mut out = format!(
            "profile: {title}: {} step{}, {} examples\n",
            self.steps,
            if self.steps == 1 { "" } else { "s" },
            self.examples
        );
        out.push_str(&format!(
            "  {:<24} {:>12} {:>12} {:>7}\n",
            "phase", "time", "per step", "share"
        ));
        let mut line = |name: &str, d: Duration| {
            out.push_str(&format!(
                "  {name:<24} {:>12} {:>12} {:>6.1}%\n",
                ms(d),
                ms(d / steps),
                share(d)
            ));
        };
        line("graph build", self.time(Phase::Build));
        line("gather + dropout masks", self.time(Phase::Gather));
        line("forward + backward", self.time(Phase::Graph));
        line("  forward", self.eval.forward);
        line("  backward", self.eval.backward);
        line("optimizer + clipping", self.time(Phase::Optimizer));
        line("validation", self.time(Phase::Validation));
        line("other", self.time(Phase::Other));
        line("loop", total);
        let rate = |n: u64, d: Duration| {
            if d.is_zero() {
                0.0
            } else {
                n as f64 / d.as_secs_f64()
            }
        };
        let steady = total.saturating_sub(self.time(Phase::Build) + self.time(Phase::Validation));
        out.push_str(&format!(
            "  steps/s     {:>12.1} (loop) {:>12.1} (without graph build and validation)\n",
            rate(self.steps, total),
            rate(self.steps, steady)
        ));
        out.push_str(&format!(
            "  examples/s  {:>12.1} (loop) {:>12.1} (without graph build and validation)\n",
            rate(self.examples, total),
            rate(self.examples, steady)
        ));
        out
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laps_partition_the_time_and_a_disabled_profile_measures_nothing() {
        let mut p = LoopProfile::new(true);
        p.lap(Phase::Build);
        p.lap(Phase::Graph);
        p.step(32);
        let sum: Duration = [
            Phase::Build,
            Phase::Gather,
            Phase::Graph,
            Phase::Optimizer,
            Phase::Validation,
            Phase::Other,
        ]
        .iter()
        .map(|&ph| p.time(ph))
        .sum();
        assert_eq!(sum, p.total());
        let text = p.report("x.grad, f32, 1 thread");
        assert!(text.starts_with("profile: x.grad, f32, 1 thread: 1 step, 32 examples\n"));
        assert!(text.contains("  forward + backward "));

        let mut off = LoopProfile::new(false);
        off.lap(Phase::Graph);
        assert!(off.eval_profile().is_none());
        assert_eq!(off.total(), Duration::ZERO);
    }
}
