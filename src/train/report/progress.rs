//! Progress on stderr while training (SPEC section 11): a bar on a terminal
//! (epoch, step, smoothed loss, examples per second, time left), or one line
//! per epoch where a bar cannot be drawn (a file, a pipe, CI logs).
//!
//! Nothing here can fail or panic: stderr is written through
//! [`crate::cli::terminal::write_stderr`], which ignores a closed stream, and
//! indicatif ignores its own write errors (only the methods that draw and
//! `unwrap` — `set_tab_width` — are avoided). Every count is combined with
//! saturating arithmetic, so any epoch and step numbers are safe.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

use super::human::{bar_message, digits, epoch_line};
use super::record::EpochRecord;
use crate::cli::terminal::write_stderr;

/// `--progress auto|bar|epoch|none`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, epoch lines otherwise.
    #[default]
    Auto,
    /// A bar; where stderr cannot show one (not a terminal, `TERM=dumb`),
    /// epoch lines, since cursor movements in a log file are noise.
    Bar,
    /// One line per epoch.
    Epoch,
    /// Nothing at all.
    None,
}

/// How often the bar is redrawn at most (per second): often enough to look
/// alive, rarely enough to cost nothing next to a training step.
const REFRESH_HZ: u8 = 10;
/// The bar is redrawn this often even when no step ends (a slow step still
/// shows time passing).
const TICK: Duration = Duration::from_millis(250);
/// The bar's text (step, loss, rate) is rebuilt at most this often.
const MESSAGE_EVERY: Duration = Duration::from_millis(100);
/// Examples per second are measured over about this much recent time.
const RATE_WINDOW: Duration = Duration::from_secs(2);
/// Weight of the past in the smoothed loss: about the last 20 steps count.
const LOSS_DECAY: f64 = 0.95;

/// Where finished lines go: stderr in use, a buffer in tests.
type LineSink = Box<dyn FnMut(&str) + Send>;

enum Output {
    Silent,
    Lines(LineSink),
    Bar { bar: ProgressBar, lines: LineSink },
}

/// Progress of one training run on stderr. Create it just before the first
/// step (examples per second are measured from then).
pub struct Progress {
    out: Output,
    epochs: usize,
    steps_per_epoch: u64,
    /// Global steps done before this run's first epoch (after a resume).
    steps_before: u64,
    /// Global steps when the last epoch ends: the width of step counts.
    total_steps: u64,
    /// The epoch the last `step` belonged to (0 before the first).
    epoch: usize,
    loss: Smoothed,
    rate: Rate,
    last_message: Option<Instant>,
}

impl Progress {
    /// `epochs` is the last epoch (1-based), `first_epoch` the first this run
    /// trains (more than 1 after a resume); the bar covers the steps between.
    pub fn new(
        mode: ProgressMode,
        epochs: usize,
        steps_per_epoch: u64,
        first_epoch: usize,
    ) -> Progress {
        Progress::build(
            mode,
            (epochs, steps_per_epoch, first_epoch),
            std::io::stderr().is_terminal(),
            || ProgressDrawTarget::stderr_with_hz(REFRESH_HZ),
            Box::new(write_stderr),
        )
    }

    /// [`Progress::new`] with the terminal test, the bar's target and the line
    /// sink given, so tests can watch what would reach stderr.
    fn build(
        mode: ProgressMode,
        (epochs, steps_per_epoch, first_epoch): (usize, u64, usize),
        stderr_is_terminal: bool,
        target: impl FnOnce() -> ProgressDrawTarget,
        lines: LineSink,
    ) -> Progress {
        let steps_before = steps_through(first_epoch.saturating_sub(1), steps_per_epoch);
        let total_steps = steps_through(epochs, steps_per_epoch);
        let want_bar = match mode {
            ProgressMode::Auto => stderr_is_terminal,
            ProgressMode::Bar => true,
            ProgressMode::Epoch | ProgressMode::None => false,
        };
        let out = if mode == ProgressMode::None {
            Output::Silent
        } else if want_bar {
            let bar = ProgressBar::with_draw_target(
                Some(total_steps.saturating_sub(steps_before)),
                target(),
            )
            .with_style(bar_style())
            .with_finish(ProgressFinish::AndClear);
            if bar.is_hidden() {
                Output::Lines(lines)
            } else {
                bar.enable_steady_tick(TICK);
                Output::Bar { bar, lines }
            }
        } else {
            Output::Lines(lines)
        };
        Progress {
            out,
            epochs,
            steps_per_epoch,
            steps_before,
            total_steps,
            epoch: 0,
            loss: Smoothed::default(),
            rate: Rate::starting(Instant::now()),
            last_message: None,
        }
    }

    /// One optimizer step ended: `step_in_epoch` steps of `epoch` are done
    /// (this one included, so 1 for the first), `loss` is this batch's,
    /// `examples` its size.
    pub fn step(&mut self, epoch: usize, step_in_epoch: u64, loss: f64, examples: usize) {
        let Output::Bar { bar, .. } = &self.out else {
            return;
        };
        let now = Instant::now();
        if epoch != self.epoch {
            self.epoch = epoch;
            self.loss = Smoothed::default();
            let ew = digits(self.epochs as u64);
            bar.set_prefix(format!("epoch {epoch:>ew$}/{}", self.epochs));
        }
        self.loss.push(loss);
        self.rate
            .push(now, u64::try_from(examples).unwrap_or(u64::MAX));
        let global = steps_through(epoch.saturating_sub(1), self.steps_per_epoch)
            .saturating_add(step_in_epoch);
        bar.set_position(global.saturating_sub(self.steps_before));
        let due = self
            .last_message
            .is_none_or(|t| now.saturating_duration_since(t) >= MESSAGE_EVERY);
        if due || step_in_epoch >= self.steps_per_epoch {
            self.last_message = Some(now);
            bar.set_message(bar_message(
                global,
                self.total_steps,
                self.loss.value(),
                self.rate.per_second(),
            ));
        }
    }

    /// An epoch ended (validation included): its line goes to stderr, above
    /// the bar if there is one.
    pub fn epoch_end(&mut self, record: &EpochRecord) {
        let line = epoch_line(record, self.epochs, self.total_steps);
        self.write_line(&line);
        if let Output::Bar { bar, .. } = &self.out {
            bar.set_position(record.step.saturating_sub(self.steps_before));
        }
        // Validation and checkpoints are not training throughput.
        self.rate = Rate::starting(Instant::now());
    }

    /// A line of its own on stderr ("checkpoint written ..."), printed above
    /// the bar without breaking it. Nothing with [`ProgressMode::None`].
    pub fn message(&mut self, text: &str) {
        self.write_line(text);
    }

    /// Training is over: the bar is cleared (the epoch lines stay). Later
    /// messages are plain lines. Dropping a `Progress` does the same.
    pub fn finish(&mut self) {
        if let Output::Bar { .. } = self.out {
            if let Output::Bar { bar, lines } = std::mem::replace(&mut self.out, Output::Silent) {
                bar.finish_and_clear();
                self.out = Output::Lines(lines);
            }
        }
    }

    fn write_line(&mut self, text: &str) {
        let mut line = text.to_string();
        if !line.ends_with('\n') {
            line.push('\n');
        }
        match &mut self.out {
            Output::Silent => {}
            Output::Lines(lines) => lines(&line),
            Output::Bar { bar, lines } => bar.suspend(|| lines(&line)),
        }
    }
}

/// Global steps done when `epochs` whole epochs are.
fn steps_through(epochs: usize, steps_per_epoch: u64) -> u64 {
    u64::try_from(epochs)
        .unwrap_or(u64::MAX)
        .saturating_mul(steps_per_epoch)
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}  [{wide_bar}]  {msg}  ETA {eta:>3}")
        // The template is a constant that parses; indicatif's own default is
        // a safe fallback should a future version refuse it.
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// An exponential moving average of the loss, corrected for its start at 0
/// (Adam's bias correction), so the first steps show the real loss.
#[derive(Debug, Default, Clone, Copy)]
struct Smoothed {
    sum: f64,
    weight: f64,
}

impl Smoothed {
    fn push(&mut self, x: f64) {
        self.sum = LOSS_DECAY * self.sum + (1.0 - LOSS_DECAY) * x;
        self.weight = LOSS_DECAY * self.weight + (1.0 - LOSS_DECAY);
    }

    /// NaN before the first step; NaN for the rest of the epoch once a step's
    /// loss was NaN (a diverged run should look like one).
    fn value(&self) -> f64 {
        if self.weight > 0.0 {
            self.sum / self.weight
        } else {
            f64::NAN
        }
    }
}

/// Examples per second over the last [`RATE_WINDOW`]: `(time, examples so
/// far)` marks, the oldest one just outside the window.
#[derive(Debug)]
struct Rate {
    marks: VecDeque<(Instant, u64)>,
    total: u64,
}

impl Rate {
    /// At most this many marks are kept, whatever the step rate.
    const MAX_MARKS: usize = 4096;

    fn starting(now: Instant) -> Rate {
        Rate {
            marks: VecDeque::from([(now, 0)]),
            total: 0,
        }
    }

    fn push(&mut self, now: Instant, examples: u64) {
        self.total = self.total.saturating_add(examples);
        self.marks.push_back((now, self.total));
        while self.marks.len() > 2
            && (self.marks.len() > Self::MAX_MARKS
                || now.saturating_duration_since(self.marks[1].0) >= RATE_WINDOW)
        {
            self.marks.pop_front();
        }
    }

    fn per_second(&self) -> Option<f64> {
        let (t0, n0) = *self.marks.front()?;
        let (t1, n1) = *self.marks.back()?;
        let dt = t1.saturating_duration_since(t0).as_secs_f64();
        (dt > 0.0).then(|| n1.saturating_sub(n0) as f64 / dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::TermLike;
    use std::sync::{Arc, Mutex};

    /// Text written somewhere, shared with the test.
    #[derive(Debug, Clone, Default)]
    struct Captured(Arc<Mutex<String>>);

    impl Captured {
        fn text(&self) -> String {
            self.0.lock().map(|s| s.clone()).unwrap_or_default()
        }
        fn push(&self, s: &str) {
            if let Ok(mut t) = self.0.lock() {
                t.push_str(s);
            }
        }
        fn sink(&self) -> LineSink {
            let me = self.clone();
            Box::new(move |s: &str| me.push(s))
        }
    }

    /// A terminal that records what the bar draws.
    impl TermLike for Captured {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.push(s);
            self.push("\n");
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.push(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.push("<clear>");
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn record(epoch: usize, step: u64) -> EpochRecord {
        EpochRecord {
            epoch,
            step,
            lr: 0.1,
            train: vec![("loss".into(), 0.5), ("acc".into(), 0.75)],
            val: None,
            time_s: 1.25,
        }
    }

    /// A whole run of two epochs of three steps, with a message, through a
    /// `Progress` built in `mode`; returns (lines written, bar drawn).
    fn run(mode: ProgressMode, terminal: bool, hidden: bool) -> (String, String) {
        let lines = Captured::default();
        let term = Captured::default();
        let t = term.clone();
        let target = move || {
            if hidden {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::term_like(Box::new(t))
            }
        };
        let mut p = Progress::build(mode, (2, 3, 1), terminal, target, lines.sink());
        for epoch in 1..=2 {
            for s in 1..=3 {
                p.step(epoch, s, 0.25, 32);
            }
            p.epoch_end(&record(epoch, 3 * epoch as u64));
            if epoch == 1 {
                p.message("checkpoint written");
            }
        }
        p.finish();
        p.message("done");
        (lines.text(), term.text())
    }

    const LINE1: &str = "epoch 1/2  step 3  loss 0.5000   acc 0.7500    1.2 s\n";
    const LINE2: &str = "epoch 2/2  step 6  loss 0.5000   acc 0.7500    1.2 s\n";

    #[test]
    fn none_writes_nothing_anywhere() {
        assert_eq!(
            run(ProgressMode::None, true, false),
            (String::new(), String::new())
        );
        assert_eq!(
            run(ProgressMode::None, false, false),
            (String::new(), String::new())
        );
    }

    #[test]
    fn epoch_mode_writes_one_line_per_epoch_and_the_messages() {
        let want = format!("{LINE1}checkpoint written\n{LINE2}done\n");
        assert_eq!(
            run(ProgressMode::Epoch, true, false),
            (want.clone(), String::new())
        );
        // auto on a pipe, and a bar that cannot be drawn, are epoch lines too
        assert_eq!(
            run(ProgressMode::Auto, false, false),
            (want.clone(), String::new())
        );
        assert_eq!(run(ProgressMode::Bar, false, true), (want, String::new()));
    }

    #[test]
    fn bar_shows_epoch_step_loss_and_rate_and_lines_go_above_it() {
        for mode in [ProgressMode::Auto, ProgressMode::Bar] {
            let (lines, bar) = run(mode, true, false);
            assert_eq!(lines, format!("{LINE1}checkpoint written\n{LINE2}done\n"));
            assert!(bar.contains("epoch 2/2  ["), "{bar}");
            assert!(bar.contains("step 6/6  loss 0.2500"), "{bar}");
            assert!(bar.contains(" ex/s  ETA "), "{bar}");
            // finish() cleared the bar: the last thing drawn is a clear
            assert!(bar.ends_with("<clear>"), "{bar}");
        }
    }

    #[test]
    fn resumed_runs_count_the_bar_from_the_first_epoch() {
        let term = Captured::default();
        let t = term.clone();
        let mut p = Progress::build(
            ProgressMode::Bar,
            (4, 10, 3),
            true,
            move || ProgressDrawTarget::term_like(Box::new(t)),
            Captured::default().sink(),
        );
        p.step(3, 5, 1.0, 8);
        if let Output::Bar { bar, .. } = &p.out {
            assert_eq!(bar.length(), Some(20));
            assert_eq!(bar.position(), 5);
        } else {
            panic!("expected a bar");
        }
        assert!(term.text().contains("step 25/40"), "{}", term.text());
    }

    #[test]
    fn absurd_counts_do_not_panic() {
        let lines = Captured::default();
        let mut p = Progress::build(
            ProgressMode::Bar,
            (usize::MAX, u64::MAX, usize::MAX),
            true,
            || ProgressDrawTarget::term_like(Box::new(Captured::default())),
            lines.sink(),
        );
        p.step(usize::MAX, u64::MAX, f64::NAN, usize::MAX);
        p.step(0, 0, f64::INFINITY, 0);
        p.epoch_end(&record(0, u64::MAX));
        p.finish();
        assert!(lines.text().starts_with("epoch "));
    }

    #[test]
    fn smoothed_loss_starts_at_the_first_value_and_follows() {
        let mut s = Smoothed::default();
        assert!(s.value().is_nan());
        s.push(2.0);
        assert!((s.value() - 2.0).abs() < 1e-12);
        for _ in 0..200 {
            s.push(1.0);
        }
        assert!((s.value() - 1.0).abs() < 1e-3);
    }

    #[test]
    fn rate_counts_examples_over_the_recent_window() {
        let t0 = Instant::now();
        let mut r = Rate::starting(t0);
        assert_eq!(r.per_second(), None);
        for i in 1..=10u64 {
            r.push(t0 + Duration::from_millis(100 * i), 50);
        }
        // 500 examples in 1 s
        assert_eq!(r.per_second(), Some(500.0));
        // much later, only the recent window counts: 10 examples per 1 s
        for i in 1..=100u64 {
            r.push(t0 + Duration::from_secs(10 + i), 10);
        }
        let rate = r.per_second().unwrap_or(0.0);
        assert!((rate - 10.0).abs() < 1e-9, "{rate}");
        assert!(r.marks.len() <= 4);
    }
}
