//! Atomic file writes: write a temporary file in the target's directory, fsync it,
//! rename it over the target, fsync the directory. A crash leaves either the old file
//! or the complete new one, never a partial one; on error the temporary is removed.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{DataError, DataErrorKind};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write `bytes` to `path` atomically. The parent directory must exist (it is not
/// created); an existing file at `path` is replaced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    write_atomic_with(path, &mut |w| w.write_all(bytes))
}

/// [`write_atomic`] of what `write` produces, streamed into the temporary file
/// through a buffer: a large file (a checkpoint) is never built in memory first.
pub fn write_atomic_with(
    path: &Path,
    write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), DataError> {
    let file_name = path.file_name().ok_or_else(|| {
        DataError::new(DataErrorKind::Io, "cannot write: the path has no file name").with_path(path)
    })?;
    let dir: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(DataError::new(
                DataErrorKind::Io,
                format!("cannot write: '{}' is not a directory", dir.display()),
            )
            .with_path(path))
        }
        Err(e) => {
            return Err(DataError::io(
                path,
                &format!("write into directory '{}'", dir.display()),
                &e,
            ))
        }
    }
    if path.is_dir() {
        return Err(DataError::new(
            DataErrorKind::Io,
            "cannot write: is a directory, not a file",
        )
        .with_path(path));
    }

    // Create a fresh temporary (create_new: never clobber someone else's file).
    let (tmp, mut file) = {
        let mut attempt = 0;
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!(
                ".{}.tmp-{}-{}",
                file_name.to_string_lossy(),
                std::process::id(),
                n
            );
            let tmp = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(f) => break (tmp, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(DataError::io(path, "create a temporary file", &e)),
            }
        }
    };

    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, &mut file);
        write(&mut out)
            .and_then(|()| out.flush())
            .map_err(|e| DataError::io(path, "write the temporary file", &e))?;
        drop(out);
        file.sync_all()
            .map_err(|e| DataError::io(path, "flush the temporary file to disk", &e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| DataError::io(path, "rename into place", &e))?;
        Ok(())
    })();
    if result.is_err() {
        // Best effort: the error being reported matters more than this one.
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable. Directories cannot be opened this way on every
    // platform; failing to sync the directory does not make the file incomplete.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
