//! Giving up on work another thread no longer wants.
//!
//! The language server checks off its message loop; when a newer change of a
//! document arrives while the older text is still being checked, it sets the
//! older check's [`Cancel`]. The parser and the checker poll it once per
//! statement (and per layer) and stop early; their truncated result is then
//! thrown away by whoever asked (see [`crate::check::check_source_unless`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag shared between the thread that works and the one that may cancel it.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag nobody has set yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the work to stop; it does at its next poll.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
