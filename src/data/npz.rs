//! Reading `.npz` archives (what `numpy.savez` and `numpy.savez_compressed` write):
//! a zip file whose members are `.npy` files, stored or deflated.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use zip::ZipArchive;

use super::array::ArrayData;
use super::error::{DataError, DataErrorKind};
use super::npy::read_npy_bytes;

/// The largest uncompressed member accepted: 16 GiB.
pub const MAX_NPZ_MEMBER_BYTES: u64 = 16 << 30;

/// Deflate cannot expand data by more than about 1032:1; a member declaring more is
/// lying about its size (a zip bomb or a corrupt archive).
const MAX_DEFLATE_RATIO: u64 = 1100;

/// Read every array of an `.npz` archive, in archive order, named as NumPy names them
/// (the member name without its `.npy` suffix). Errors name the path and the member.
pub fn read_npz(path: &Path) -> Result<Vec<(String, ArrayData)>, DataError> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, "read the file", &e))?;
    if meta.is_dir() {
        return Err(DataError::new(
            DataErrorKind::Io,
            "cannot read the file: is a directory, not a file",
        )
        .with_path(path));
    }
    let file = File::open(path).map_err(|e| DataError::io(path, "read the file", &e))?;
    if meta.len() == 0 {
        return Err(
            DataError::new(DataErrorKind::Format, "not an .npz file: the file is empty")
                .with_path(path),
        );
    }
    let mut archive = ZipArchive::new(file).map_err(|e| {
        DataError::new(
            DataErrorKind::Format,
            format!("not an .npz file: cannot read it as a zip archive ({e})"),
        )
        .with_path(path)
    })?;

    let mut out = Vec::with_capacity(archive.len());
    let mut seen = HashSet::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(|e| {
            DataError::new(
                DataErrorKind::Format,
                format!("cannot read archive entry #{i}: {e}"),
            )
            .with_path(path)
        })?;
        let raw_name = member.name().to_string();
        let fail = |kind, msg: String| {
            DataError::new(kind, msg)
                .with_path(path)
                .with_member(&raw_name)
        };
        if member.is_dir() {
            return Err(fail(
                DataErrorKind::Format,
                "is a directory; an .npz archive holds only .npy files".into(),
            ));
        }
        let Some(name) = raw_name.strip_suffix(".npy") else {
            return Err(fail(
                DataErrorKind::Format,
                "is not a .npy file; an .npz archive holds only .npy files".into(),
            ));
        };
        if !seen.insert(name.to_string()) {
            return Err(fail(
                DataErrorKind::Format,
                "appears twice in the archive".into(),
            ));
        }
        let declared = member.size();
        if declared > MAX_NPZ_MEMBER_BYTES {
            return Err(fail(
                DataErrorKind::TooLarge,
                format!(
                    "declares {declared} uncompressed bytes, more than the limit of \
                     {MAX_NPZ_MEMBER_BYTES}"
                ),
            ));
        }
        let compressed = member.compressed_size();
        if declared
            > compressed
                .saturating_mul(MAX_DEFLATE_RATIO)
                .saturating_add(4096)
        {
            return Err(fail(
                DataErrorKind::TooLarge,
                format!(
                    "declares {declared} uncompressed bytes from {compressed} compressed bytes, \
                     more than any deflate stream can produce (corrupt archive or zip bomb)"
                ),
            ));
        }
        // Read at most one byte more than declared, growing the buffer only as data
        // actually arrives.
        let mut bytes = Vec::with_capacity(declared.min(64 << 20) as usize);
        (&mut member)
            .take(declared.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| fail(DataErrorKind::Format, format!("cannot decompress: {e}")))?;
        if bytes.len() as u64 != declared {
            return Err(fail(
                DataErrorKind::Format,
                format!(
                    "decompresses to {}{} bytes but declares {declared}",
                    bytes.len(),
                    if bytes.len() as u64 > declared {
                        " or more"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let array = read_npy_bytes(&bytes).map_err(|e| e.with_path(path).with_member(&raw_name))?;
        out.push((name.to_string(), array));
    }
    Ok(out)
}
