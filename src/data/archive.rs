//! Files of named arrays in either format the command line takes (`--inputs`,
//! `--params`): a `.npz` archive or a `.safetensors` file.
//!
//! The format is read off the file's first bytes (a zip archive starts `PK`;
//! a safetensors file with its header length, then `{`) and must agree with the
//! file's extension: a file named for one format that holds the other, or
//! named for neither, is refused with what it holds, rather than guessed at.

use std::fs::File;
use std::path::Path;

use super::array::ArrayData;
use super::error::{DataError, DataErrorKind};
use super::npz::read_npz_as;
use super::safetensors::read_safetensors_as;
use super::stream::{read_full, Convert};

/// The two formats of named arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    Npz,
    Safetensors,
}

/// What the first bytes of a file look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sniffed {
    Zip,
    Safetensors,
    Npy,
    Unknown,
}

fn sniff(start: &[u8]) -> Sniffed {
    if start.starts_with(b"PK\x03\x04") || start.starts_with(b"PK\x05\x06") {
        Sniffed::Zip
    } else if start.starts_with(b"\x93NUMPY") {
        Sniffed::Npy
    } else if start.len() >= 9 && start[8] == b'{' {
        Sniffed::Safetensors
    } else {
        Sniffed::Unknown
    }
}

/// The format of the file at `path`, from its extension and its first bytes.
pub fn archive_format(path: &Path) -> Result<ArchiveFormat, DataError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    // What the file is comes first: a missing file or a device is that, not
    // a file with the wrong name.
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, "read the file", &e))?;
    let refuse = |what: &str| {
        DataError::new(DataErrorKind::Io, format!("cannot read the file: {what}")).with_path(path)
    };
    if meta.is_dir() {
        return Err(refuse("is a directory, not a file"));
    }
    if !meta.is_file() {
        return Err(refuse("it is not a regular file (a device or a pipe)"));
    }
    let mut file = File::open(path).map_err(|e| DataError::io(path, "read the file", &e))?;
    let mut start = [0u8; 9];
    let got = read_full(&mut file, &mut start)?;
    let sniffed = sniff(&start[..got]);
    let wrong = |msg: String| DataError::new(DataErrorKind::Format, msg).with_path(path);
    match (ext.as_deref(), sniffed) {
        (_, Sniffed::Npy) => Err(wrong(
            "is a single .npy array, not a file of named arrays (.npz or .safetensors)".into(),
        )),
        (Some("npz"), Sniffed::Safetensors) => Err(wrong(
            "is named .npz but holds a safetensors file; rename it to .safetensors".into(),
        )),
        (Some("safetensors"), Sniffed::Zip) => Err(wrong(
            "is named .safetensors but holds a zip archive (an .npz?); rename it to .npz".into(),
        )),
        // Unrecognizable contents are reported by the reader the name asks for.
        (Some("npz"), _) => Ok(ArchiveFormat::Npz),
        (Some("safetensors"), _) => Ok(ArchiveFormat::Safetensors),
        (_, found) => {
            let holds = match found {
                Sniffed::Zip => "; it holds a zip archive: if that is an .npz, rename it to .npz",
                Sniffed::Safetensors => {
                    "; it looks like a safetensors file: rename it to .safetensors"
                }
                _ => "",
            };
            Err(wrong(format!(
                "the file name must end in .npz or .safetensors{holds}"
            )))
        }
    }
}

/// Every array of a `.npz` or `.safetensors` file, by name, in file order,
/// each delivered converted as `convert(name)` asks.
pub fn read_archive(
    path: &Path,
    convert: &dyn Fn(&str) -> Convert,
) -> Result<Vec<(String, ArrayData)>, DataError> {
    match archive_format(path)? {
        ArchiveFormat::Npz => read_npz_as(path, convert),
        ArchiveFormat::Safetensors => read_safetensors_as(path, convert).map(|f| f.tensors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_extension_must_agree_with_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        let a = ndarray::array![1.0f32, 2.0].into_dyn();
        let st = dir.path().join("a.safetensors");
        super::super::write_safetensors(
            &st,
            &[("a".into(), super::super::ArrayRef::F32(a.view()))],
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(archive_format(&st).unwrap(), ArchiveFormat::Safetensors);
        let arrays = read_archive(&st, &|_| Convert::FloatsToF64).unwrap();
        assert_eq!(arrays[0].1.dtype_name(), "float64");

        let as_npz = dir.path().join("a.npz");
        std::fs::copy(&st, &as_npz).unwrap();
        let e = read_archive(&as_npz, &|_| Convert::Stored).unwrap_err();
        assert!(e.to_string().contains("rename it to .safetensors"), "{e}");

        let as_bin = dir.path().join("a.bin");
        std::fs::copy(&st, &as_bin).unwrap();
        let e = archive_format(&as_bin).unwrap_err();
        assert!(
            e.to_string().contains("must end in .npz or .safetensors"),
            "{e}"
        );

        let npy = dir.path().join("x.npz");
        super::super::write_npy_atomic(&npy, a.view()).unwrap();
        let e = archive_format(&npy).unwrap_err();
        assert!(e.to_string().contains("single .npy array"), "{e}");

        let zip = dir.path().join("z.safetensors");
        std::fs::write(&zip, b"PK\x05\x06").unwrap();
        let e = archive_format(&zip).unwrap_err();
        assert!(e.to_string().contains("rename it to .npz"), "{e}");

        // Garbage named .safetensors: the safetensors reader's own error.
        let junk = dir.path().join("junk.safetensors");
        std::fs::write(&junk, b"hello").unwrap();
        let e = read_archive(&junk, &|_| Convert::Stored).unwrap_err();
        assert!(e.to_string().contains("not a safetensors file"), "{e}");
    }
}
