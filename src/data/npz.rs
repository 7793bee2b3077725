//! Reading `.npz` archives (what `numpy.savez` and `numpy.savez_compressed` write):
//! a zip file whose members are `.npy` files, stored or deflated.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use zip::ZipArchive;

use super::array::ArrayData;
use super::error::{DataError, DataErrorKind};
use super::npy::read_npy_converted;
use super::stream::Convert;

/// The largest uncompressed member accepted: 16 GiB.
pub const MAX_NPZ_MEMBER_BYTES: u64 = 16 << 30;

/// Deflate cannot expand data by more than about 1032:1; a member declaring more is
/// lying about its size (a zip bomb or a corrupt archive).
const MAX_DEFLATE_RATIO: u64 = 1100;

/// Read every array of an `.npz` archive, in archive order, named as NumPy names them
/// (the member name without its `.npy` suffix). Errors name the path and the member.
pub fn read_npz(path: &Path) -> Result<Vec<(String, ArrayData)>, DataError> {
    read_npz_as(path, &|_| Convert::Stored)
}

/// [`read_npz`], each array delivered converted as `convert(name)` asks.
pub fn read_npz_as(
    path: &Path,
    convert: &dyn Fn(&str) -> Convert,
) -> Result<Vec<(String, ArrayData)>, DataError> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, "read the file", &e))?;
    if meta.is_dir() {
        return Err(DataError::new(
            DataErrorKind::Io,
            "cannot read the file: is a directory, not a file",
        )
        .with_path(path));
    }
    if !meta.is_file() {
        return Err(DataError::new(
            DataErrorKind::Io,
            "cannot read the file: it is not a regular file (a device or a pipe)",
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
    read_npz_converted(std::io::BufReader::new(file), convert).map_err(|e| e.with_path(path))
}

/// [`read_npz`] on any seekable byte source (errors carry no path).
pub fn read_npz_from<R: Read + Seek>(reader: R) -> Result<Vec<(String, ArrayData)>, DataError> {
    read_npz_converted(reader, &|_| Convert::Stored)
}

fn read_npz_converted<R: Read + Seek>(
    reader: R,
    convert: &dyn Fn(&str) -> Convert,
) -> Result<Vec<(String, ArrayData)>, DataError> {
    let open = |reader: R| {
        ZipArchive::new(reader).map_err(|e| {
            DataError::new(
                DataErrorKind::Format,
                format!("not an .npz file: cannot read it as a zip archive ({e})"),
            )
        })
    };
    // The zip reader keeps one entry per name (the last): a name given twice
    // would silently lose a value, so the central directory is read here too.
    let archive = open(reader)?;
    let start = archive.central_directory_start();
    let mut reader = archive.into_inner();
    if let Some(name) = duplicate_name(&mut reader, start) {
        return Err(DataError::new(
            DataErrorKind::Format,
            "appears twice in the archive; each array needs its own name",
        )
        .with_member(&name));
    }
    let mut archive = open(reader)?;
    let mut out = Vec::with_capacity(archive.len());
    let mut seen = HashSet::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).map_err(|e| {
            DataError::new(
                DataErrorKind::Format,
                format!("cannot read archive entry #{i}: {e}"),
            )
        })?;
        let raw_name = member.name().to_string();
        let fail = |kind, msg: String| DataError::new(kind, msg).with_member(&raw_name);
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
        // Straight from the decompressor into the array's buffer, after checking
        // the header's data size against the member's declared size.
        let array = read_npy_converted(&mut member, Some(declared), convert(name))
            .map_err(|e| e.with_member(&raw_name))?;
        // Reading on to the end also makes the decompressor check the CRC.
        let mut probe = [0u8; 1];
        match member.read(&mut probe) {
            Ok(0) => {}
            Ok(_) => {
                return Err(fail(
                    DataErrorKind::Format,
                    format!("decompresses to more than the {declared} bytes it declares"),
                ))
            }
            Err(e) => {
                return Err(fail(
                    DataErrorKind::Format,
                    format!("cannot decompress: {e}"),
                ))
            }
        }
        out.push((name.to_string(), array));
    }
    Ok(out)
}

/// The first name that two entries of the central directory (starting at
/// `start`) share. Reading stops at the first record that is not an entry.
fn duplicate_name<R: Read + Seek>(reader: &mut R, start: u64) -> Option<String> {
    const ENTRY: u32 = 0x0201_4b50;
    let mut input = std::io::BufReader::new(reader);
    input.seek(SeekFrom::Start(start)).ok()?;
    let mut seen = HashSet::new();
    loop {
        let mut fixed = [0u8; 46];
        input.read_exact(&mut fixed).ok()?;
        if u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]) != ENTRY {
            return None;
        }
        let field = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]) as usize;
        let (name_len, extra_len, comment_len) = (field(28), field(30), field(32));
        let mut name = vec![0u8; name_len];
        input.read_exact(&mut name).ok()?;
        let name = String::from_utf8_lossy(&name).into_owned();
        if !seen.insert(name.clone()) {
            return Some(name);
        }
        input
            .seek(SeekFrom::Current((extra_len + comment_len) as i64))
            .ok()?;
    }
}
