//! Reading and writing safetensors files (Hugging Face's format: an 8-byte
//! little-endian header length, a JSON header, then the tensors' bytes, little
//! endian and row-major). Dtypes F32, F64, I32, I64 and BOOL.
//!
//! Reading never trusts the header: its length is checked against the file's
//! before anything is allocated, every tensor's offsets against its dtype and
//! shape and against the data actually present (see [`super::st_header`]),
//! and only then is each tensor read, straight into its buffer. The file is
//! streamed, not mapped: the values are the only memory a read costs, and no
//! file-backed pages are added to the process's resident set.
//!
//! Writing is atomic (temporary file, fsync, rename) and streamed (the file is
//! never assembled in memory), tensors in the order given, byte-identical for
//! the same input.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use ndarray::ArrayViewD;

use super::array::{ArrayData, ArrayRef};
use super::error::{DataError, DataErrorKind};
use super::header::Dtype;
use super::st_header::{self, shape_list, MAX_HEADER_BYTES};
use super::stream::{read_flat, read_full, Convert};

/// A safetensors file: its tensors in the order of their data, and its metadata
/// (`__metadata__`; empty when the file has none).
#[derive(Debug, Clone, PartialEq)]
pub struct SafetensorsFile {
    pub tensors: Vec<(String, ArrayData)>,
    pub metadata: BTreeMap<String, String>,
}

fn format_err(msg: impl Into<String>) -> DataError {
    DataError::new(DataErrorKind::Format, msg)
}

/// Read every tensor of a safetensors file, and its metadata. Errors name the path.
pub fn read_safetensors(path: &Path) -> Result<SafetensorsFile, DataError> {
    read_safetensors_as(path, &|_| Convert::Stored)
}

/// [`read_safetensors`], each tensor delivered converted as `convert(name)`
/// asks (while reading, so the stored type is never held beside it).
pub fn read_safetensors_as(
    path: &Path,
    convert: &dyn Fn(&str) -> Convert,
) -> Result<SafetensorsFile, DataError> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, "read the file", &e))?;
    let meta = file
        .metadata()
        .map_err(|e| DataError::io(path, "read the file", &e))?;
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
    read_safetensors_from(&mut file, meta.len(), convert).map_err(|e| e.with_path(path))
}

/// A safetensors file held in memory (errors carry no path).
pub fn read_safetensors_bytes(bytes: &[u8]) -> Result<SafetensorsFile, DataError> {
    read_safetensors_from(&mut &bytes[..], bytes.len() as u64, &|_| Convert::Stored)
}

/// Reads a safetensors file of `len` bytes from `input`.
fn read_safetensors_from(
    input: &mut impl Read,
    len: u64,
    convert: &dyn Fn(&str) -> Convert,
) -> Result<SafetensorsFile, DataError> {
    if len == 0 {
        return Err(format_err("not a safetensors file: the file is empty"));
    }
    let mut prefix = [0u8; 8];
    if len < 8 || read_full(input, &mut prefix)? < 8 {
        return Err(format_err(format!(
            "not a safetensors file: {len} bytes, fewer than the 8 of the header length"
        )));
    }
    let header_len = u64::from_le_bytes(prefix);
    let after = len - 8;
    if header_len > after {
        return Err(DataError::new(
            DataErrorKind::TooLarge,
            format!(
                "truncated header: the header length field declares {header_len} bytes, but \
                 only {after} follow it"
            ),
        ));
    }
    if header_len > MAX_HEADER_BYTES {
        return Err(DataError::new(
            DataErrorKind::TooLarge,
            format!(
                "the header declares {header_len} bytes, more than the {MAX_HEADER_BYTES} a \
                 safetensors header may have"
            ),
        ));
    }
    // Bounded by the file's length and by the limit just checked.
    let mut raw = vec![0u8; header_len as usize];
    let got = read_full(input, &mut raw)?;
    if got < raw.len() {
        return Err(format_err(format!(
            "truncated header: it declares {header_len} bytes but the file ends after {got}"
        )));
    }
    let text = std::str::from_utf8(&raw)
        .map_err(|e| format_err(format!("the header is not valid UTF-8: {e}")))?;
    let data_len = after - header_len;
    let header = st_header::parse(text, data_len)?;
    drop(raw);

    let mut tensors = Vec::with_capacity(header.entries.len());
    // The tensors cover the data section in order without gaps (checked), so
    // reading them one after the other reads each at its offsets.
    for e in &header.entries {
        let what = || format!("tensor '{}' (shape {})", e.name, shape_list(&e.shape));
        let array = read_flat(input, e.dtype, false, e.count(), convert(&e.name), &what)?
            .map_err(|got| {
                DataError::new(
                    DataErrorKind::TooLarge,
                    format!(
                        "truncated data: tensor '{}' needs {} bytes, but the file ends after {got}",
                        e.name,
                        e.end - e.start
                    ),
                )
            })?
            .shaped(&e.shape, false)?;
        tensors.push((e.name.clone(), array));
    }
    // The length was checked before reading; a file that grew meanwhile is refused.
    let mut probe = [0u8; 1];
    if read_full(input, &mut probe)? > 0 {
        return Err(format_err(
            "unexpected bytes after the data (the file changed while it was read)",
        ));
    }
    Ok(SafetensorsFile {
        tensors,
        metadata: header.metadata,
    })
}

fn dtype_of(a: &ArrayRef<'_>) -> Dtype {
    match a {
        ArrayRef::F32(_) => Dtype::F32,
        ArrayRef::F64(_) => Dtype::F64,
        ArrayRef::I32(_) => Dtype::I32,
        ArrayRef::I64(_) => Dtype::I64,
        ArrayRef::Bool(_) => Dtype::Bool,
    }
}

/// Write `tensors` (in this order) and `metadata` to `path` as a safetensors
/// file, atomically (see [`super::write_atomic`]). Names must be distinct and
/// not `__metadata__`. Views of any layout are written in row-major order.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, ArrayRef<'_>)],
    metadata: &BTreeMap<String, String>,
) -> Result<(), DataError> {
    let layout: Vec<(&str, Dtype, &[usize])> = tensors
        .iter()
        .map(|(n, a)| (n.as_str(), dtype_of(a), a.shape()))
        .collect();
    let (header, _) = st_header::encode(&layout, metadata).map_err(|e| e.with_path(path))?;
    super::atomic::write_atomic_with(path, &mut |w| {
        w.write_all(&header)?;
        for (_, a) in tensors {
            match a {
                ArrayRef::F32(v) => write_values(w, v, f32::to_le_bytes)?,
                ArrayRef::F64(v) => write_values(w, v, f64::to_le_bytes)?,
                ArrayRef::I32(v) => write_values(w, v, i32::to_le_bytes)?,
                ArrayRef::I64(v) => write_values(w, v, i64::to_le_bytes)?,
                ArrayRef::Bool(v) => write_values(w, v, |b: bool| [u8::from(b)])?,
            }
        }
        Ok(())
    })
}

/// The values of `a` in row-major order, little endian: the memory itself when
/// it already is that (contiguous, on a little-endian machine), else encoded a
/// chunk at a time.
fn write_values<T: Copy + bytemuck::NoUninit, const N: usize>(
    w: &mut dyn Write,
    a: &ArrayViewD<'_, T>,
    le: fn(T) -> [u8; N],
) -> std::io::Result<()> {
    if cfg!(target_endian = "little") && std::mem::size_of::<T>() == N {
        if let Some(s) = a.as_slice() {
            return w.write_all(bytemuck::cast_slice(s));
        }
    }
    let mut buf = Vec::with_capacity(64 << 10);
    for &x in a.iter() {
        buf.extend_from_slice(&le(x));
        if buf.len() >= 64 << 10 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, ArrayD, IxDyn};

    fn sample() -> (Vec<(String, ArrayData)>, BTreeMap<String, String>) {
        let w = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.5f32, -2.0, 0.0, 3.25, 1e-8, -0.0])
            .unwrap();
        let tensors = vec![
            ("w".to_string(), ArrayData::F32(w)),
            (
                "b.x".to_string(),
                ArrayData::F64(array![1.0, f64::MAX].into_dyn()),
            ),
            ("i".to_string(), ArrayData::I32(array![[1, -2]].into_dyn())),
            (
                "labels".to_string(),
                ArrayData::I64(array![i64::MIN, 0, 7].into_dyn()),
            ),
            (
                "mask".to_string(),
                ArrayData::Bool(array![true, false, true].into_dyn()),
            ),
            (
                "scalar".to_string(),
                ArrayData::F64(ndarray::arr0(2.5).into_dyn()),
            ),
            (
                "empty".to_string(),
                ArrayData::F32(ArrayD::zeros(IxDyn(&[0, 4]))),
            ),
        ];
        let metadata = BTreeMap::from([
            ("format".to_string(), "pt".to_string()),
            ("step".to_string(), "12".to_string()),
        ]);
        (tensors, metadata)
    }

    fn write_sample(dir: &Path) -> std::path::PathBuf {
        let (tensors, metadata) = sample();
        let refs: Vec<(String, ArrayRef<'_>)> =
            tensors.iter().map(|(n, a)| (n.clone(), a.view())).collect();
        let path = dir.join("s.safetensors");
        write_safetensors(&path, &refs, &metadata).unwrap();
        path
    }

    #[test]
    fn round_trip_keeps_values_order_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_sample(dir.path());
        let back = read_safetensors(&path).unwrap();
        let (tensors, metadata) = sample();
        assert_eq!(back.tensors, tensors);
        assert_eq!(back.metadata, metadata);
        // The crate's own reader agrees on every tensor.
        let bytes = std::fs::read(&path).unwrap();
        let st = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.len(), tensors.len());
        let w = st.tensor("w").unwrap();
        assert_eq!(w.dtype(), ::safetensors::Dtype::F32);
        assert_eq!(w.shape(), &[2, 3]);
        assert_eq!(&w.data()[..4], &1.5f32.to_le_bytes());
        // Writing is deterministic, and leaves no temporary file.
        let again = dir.path().join("again.safetensors");
        let (tensors, metadata) = sample();
        let refs: Vec<(String, ArrayRef<'_>)> =
            tensors.iter().map(|(n, a)| (n.clone(), a.view())).collect();
        write_safetensors(&again, &refs, &metadata).unwrap();
        assert_eq!(std::fs::read(&again).unwrap(), bytes);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn views_of_any_layout_are_written_row_major() {
        let dir = tempfile::tempdir().unwrap();
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), (0..6).map(|x| x as f64).collect()).unwrap();
        let t = a.t();
        let path = dir.path().join("t.safetensors");
        write_safetensors(
            &path,
            &[("t".into(), ArrayRef::F64(t.view()))],
            &BTreeMap::new(),
        )
        .unwrap();
        let back = read_safetensors(&path).unwrap();
        assert_eq!(back.tensors[0].1, ArrayData::F64(t.to_owned()));
        assert!(back.metadata.is_empty());
    }

    #[test]
    fn reads_what_the_crate_writes_in_its_own_order() {
        use ::safetensors::tensor::TensorView;
        let a: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b: Vec<u8> = [3i64].iter().flat_map(|v| v.to_le_bytes()).collect();
        let views = vec![
            (
                "a",
                TensorView::new(::safetensors::Dtype::F32, vec![2], &a).unwrap(),
            ),
            (
                "b",
                TensorView::new(::safetensors::Dtype::I64, vec![1], &b).unwrap(),
            ),
        ];
        let bytes = ::safetensors::serialize(views, None).unwrap();
        let file = read_safetensors_bytes(&bytes).unwrap();
        // The crate puts the I64 tensor first (alignment order): data order is kept.
        let names: Vec<&str> = file.tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(
            file.tensors[1].1,
            ArrayData::F32(array![1.0f32, 2.0].into_dyn())
        );
    }

    #[test]
    fn floats_convert_while_reading_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_sample(dir.path());
        let file = read_safetensors_as(&path, &|name| {
            if name == "i" {
                Convert::IntsToI64
            } else {
                Convert::FloatsToF64
            }
        })
        .unwrap();
        let dtypes: Vec<&str> = file.tensors.iter().map(|(_, a)| a.dtype_name()).collect();
        assert_eq!(
            dtypes,
            ["float64", "float64", "int64", "int64", "bool", "float64", "float64"]
        );
    }

    /// A file with the given header text and `data` bytes.
    fn file_with(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn err(bytes: &[u8]) -> DataError {
        match read_safetensors_bytes(bytes) {
            Ok(f) => panic!("expected an error, read {} tensors", f.tensors.len()),
            Err(e) => e,
        }
    }

    #[test]
    fn malformed_files_are_errors_never_panics() {
        let good = file_with(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            &[0; 8],
        );
        assert!(read_safetensors_bytes(&good).is_ok());
        let mut not_utf8 = file_with(r#"{"ab": 1}"#, &[]);
        not_utf8[10] = 0xff;
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty", vec![], "empty"),
            ("short prefix", vec![1, 2, 3], "fewer than the 8"),
            (
                "truncated data",
                good[..good.len() - 1].to_vec(),
                "truncated data",
            ),
            (
                "trailing data",
                [&good[..], &[0]].concat(),
                "unexpected bytes",
            ),
            ("truncated header", good[..20].to_vec(), "truncated header"),
            (
                "huge header length",
                [&u64::MAX.to_le_bytes()[..], b"{}"].concat(),
                "declares 18446744073709551615 bytes",
            ),
            (
                "bad JSON",
                file_with(r#"{"a": {"dtype": "F32", "#, &[]),
                "not valid JSON",
            ),
            ("not an object", file_with("[1, 2]", &[]), "JSON object"),
            ("not UTF-8", not_utf8, "UTF-8"),
            (
                "wrong dtype",
                file_with(
                    r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#,
                    &[0; 4],
                ),
                "tensor 'a' has dtype F16",
            ),
            (
                "unknown dtype",
                file_with(
                    r#"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,4]}}"#,
                    &[0; 4],
                ),
                "'Q4', which is not a safetensors dtype",
            ),
            (
                "offsets out of range",
                file_with(
                    r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                    &[0; 8],
                ),
                "holds only 8 bytes",
            ),
            (
                "offsets that disagree with the shape",
                file_with(
                    r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                    &[0; 8],
                ),
                "needs 12 bytes",
            ),
            (
                "offsets reversed",
                file_with(
                    r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#,
                    &[0; 8],
                ),
                "end before they begin",
            ),
            (
                "overlap",
                file_with(
                    r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                    &[0; 8],
                ),
                "overlap",
            ),
            (
                "gap",
                file_with(
                    r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                    &[0; 8],
                ),
                "belong to no tensor",
            ),
            (
                "duplicate name",
                file_with(
                    r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                    &[0; 4],
                ),
                "appears twice",
            ),
            (
                "shape overflow",
                file_with(
                    r#"{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#,
                    &[0; 8],
                ),
                "more elements than can be addressed",
            ),
            (
                "negative dimension",
                file_with(
                    r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                    &[0; 4],
                ),
                "non-negative integers",
            ),
            (
                "missing offsets",
                file_with(r#"{"a":{"dtype":"F32","shape":[1]}}"#, &[0; 4]),
                "no 'data_offsets'",
            ),
            (
                "metadata not strings",
                file_with(r#"{"__metadata__":{"step":3}}"#, &[]),
                "'step' is 3",
            ),
        ];
        for (what, bytes, expected) in cases {
            let e = err(&bytes);
            assert!(
                e.to_string().contains(expected),
                "{what}: expected '{expected}' in: {e}"
            );
        }
    }

    #[test]
    fn writing_refuses_names_the_format_cannot_hold() {
        let dir = tempfile::tempdir().unwrap();
        let a = array![1.0f32].into_dyn();
        for names in [vec!["x", "x"], vec!["__metadata__"]] {
            let tensors: Vec<(String, ArrayRef<'_>)> = names
                .iter()
                .map(|n| (n.to_string(), ArrayRef::F32(a.view())))
                .collect();
            let path = dir.path().join("bad.safetensors");
            let e = write_safetensors(&path, &tensors, &BTreeMap::new()).unwrap_err();
            assert_eq!(e.path(), Some(path.as_path()), "{e}");
            assert!(!path.exists());
        }
    }

    #[test]
    fn a_read_of_a_missing_file_or_directory_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_safetensors(&dir.path().join("nope.safetensors")).unwrap_err();
        assert_eq!(e.kind(), DataErrorKind::Io);
        assert!(e.to_string().contains("nope.safetensors"), "{e}");
        let e = read_safetensors(dir.path()).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
    }
}
