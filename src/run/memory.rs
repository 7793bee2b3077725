//! Memory a run needs against memory the machine has: a run whose values
//! would not fit is refused with E0610 before it starts, instead of the
//! process being aborted by a failed allocation halfway through.

use super::RunError;
use crate::diagnostics::units::human_bytes;
use crate::diagnostics::{Code, Diagnostic};

/// Bytes the system can still give a process (Linux's `MemAvailable`), if known.
pub fn available_bytes() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// E0610 when `needed` bytes of values (at the run's peak) exceed what is
/// available; `what` says which computation ("the program", "a training step").
pub fn check_fits(needed: u128, what: &str) -> Result<(), RunError> {
    match available_bytes() {
        Some(available) if needed > available => Err(Diagnostic::error_nowhere(
            Code::E0610,
            format!(
                "{what} needs {} of memory for its values at once, but only {} is available",
                human_bytes(needed),
                human_bytes(available)
            ),
        )
        .with_help("choose smaller dimensions (--dim) or a smaller --batch-size, or run where more memory is available")
        .into()),
        _ => Ok(()),
    }
}
