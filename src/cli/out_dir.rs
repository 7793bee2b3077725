//! `--out DIR`: every printed value as `DIR/NAME.npy`, as one set.
//!
//! All files are first written (and synced) into a hidden staging directory
//! inside `DIR`, `.gradlang-out.tmp-PID-N`; only when every one succeeded are
//! they renamed into place, then the staging directory is removed. A failure
//! leaves `DIR` as it was; a run killed while writing leaves only its staging
//! directory, which the next run removes (with the `.NAME.npy.tmp-*` files of
//! older versions), unless the process that made it is still alive.

use super::values::{array_ref, OutputFloat};
use crate::data::write_npy_atomic;
use crate::diagnostics::{Code, Diagnostic};
use crate::graph::Value;
use crate::run::RunError;
use std::fs;
use std::path::{Path, PathBuf};

const STAGING_PREFIX: &str = ".gradlang-out.tmp-";

/// E0609 without a place in the source: the one constructor for output failures.
fn cannot(what: String) -> RunError {
    Diagnostic::error_nowhere(Code::E0609, what).into()
}

pub fn write_outputs<T: OutputFloat>(
    dir: &Path,
    named: &[(&str, &Value<T>)],
    checked: &crate::check::Checked,
) -> Result<(), RunError> {
    fs::create_dir_all(dir).map_err(|e| {
        cannot(format!(
            "cannot create the output directory `{}`: {e}",
            dir.display()
        ))
    })?;
    remove_leftovers(dir);
    let staging = make_staging(dir)?;
    let result = write_all(&staging, dir, named, checked);
    let _ = fs::remove_dir_all(&staging);
    result?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn make_staging(dir: &Path) -> Result<PathBuf, RunError> {
    for n in 0..100u32 {
        let path = dir.join(format!("{STAGING_PREFIX}{}-{n}", std::process::id()));
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(cannot(format!(
                    "cannot write into the output directory `{}`: {e}",
                    dir.display()
                )))
            }
        }
    }
    Err(cannot(format!(
        "cannot create a staging directory in `{}`",
        dir.display()
    )))
}

/// Writes every value into `staging`, then renames each into `dir`.
fn write_all<T: OutputFloat>(
    staging: &Path,
    dir: &Path,
    named: &[(&str, &Value<T>)],
    checked: &crate::check::Checked,
) -> Result<(), RunError> {
    for (name, value) in named {
        let path = staging.join(format!("{name}.npy"));
        let bools = super::values::as_bool(name, value, checked);
        let array = match &bools {
            Some(b) => crate::data::ArrayRef::Bool(b.view()),
            None => array_ref(value),
        };
        write_npy_atomic(&path, array).map_err(|e| {
            let e = e.with_path(&dir.join(format!("{name}.npy")));
            cannot(format!("cannot write `{name}`: {e}"))
        })?;
    }
    // What a rename cannot replace, found before anything is renamed.
    for (name, _) in named {
        let target = dir.join(format!("{name}.npy"));
        if target.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            return Err(cannot(format!(
                "cannot write `{}`: a directory is in the way",
                target.display()
            )));
        }
    }
    for (name, _) in named {
        let file = format!("{name}.npy");
        let target = dir.join(&file);
        fs::rename(staging.join(&file), &target)
            .map_err(|e| cannot(format!("cannot write `{}`: {e}", target.display())))?;
    }
    Ok(())
}

/// Removes what killed runs left: staging directories of dead processes and
/// the hidden temporaries of single-file writes.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(STAGING_PREFIX) {
            let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
            if pid.is_some_and(|p| !alive(p)) {
                let _ = fs::remove_dir_all(entry.path());
            }
        } else if name.starts_with('.') && name.contains(".npy.tmp-") {
            let pid = name
                .rsplit_once(".npy.tmp-")
                .and_then(|(_, r)| r.split('-').next())
                .and_then(|p| p.parse::<i32>().ok());
            if pid.is_some_and(|p| !alive(p)) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Whether process `pid` exists (signal 0 checks without sending anything).
fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    if pid == std::process::id() as i32 {
        return true;
    }
    // SAFETY: kill with signal 0 only checks for the process's existence.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
