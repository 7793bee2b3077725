//! Reading and encoding single `.npy` arrays (format versions 1.0, 2.0 and 3.0).
//!
//! Reference: <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::array::{ArrayData, ArrayRef};
use super::error::{DataError, DataErrorKind};
use super::header::{parse_header, write_preamble, Dtype, Header};
use super::stream::{read_flat, read_full, Convert};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

fn format_err(msg: impl Into<String>) -> DataError {
    DataError::new(DataErrorKind::Format, msg)
}

/// The longest header accepted (NumPy itself refuses more than 10,000 bytes
/// unless told otherwise): a header length field cannot make us allocate 4 GiB.
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// Read a `.npy` file. Errors name the path.
///
/// The header is read first; then exactly the bytes it declares, straight into
/// the array's buffer, after checking them against the file's length. A device
/// or pipe is never read "until end of file".
pub fn read_npy(path: &Path) -> Result<ArrayData, DataError> {
    read_npy_as(path, Convert::Stored)
}

/// [`read_npy`], delivering the values converted as `convert` asks (while
/// reading: the file's own type is never held beside the converted array).
pub fn read_npy_as(path: &Path, convert: Convert) -> Result<ArrayData, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, "read the file", &e))?;
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
    let len = meta.is_file().then_some(meta.len());
    // Unbuffered: the preamble is three small reads, and the data one read
    // straight into the array (a buffer would only add a copy of its first part).
    let mut file = file;
    read_npy_converted(&mut file, len, convert).map_err(|e| e.with_path(path))
}

fn dtype_text(d: Dtype) -> &'static str {
    match d {
        Dtype::F32 => "float32",
        Dtype::F64 => "float64",
        Dtype::I32 => "int32",
        Dtype::I64 => "int64",
        Dtype::Bool => "bool",
    }
}

/// Reads the preamble: returns the header and how many bytes it took.
fn read_preamble(input: &mut impl Read) -> Result<(Header, u64), DataError> {
    let mut start = [0u8; 8];
    let got = read_full(input, &mut start)?;
    if got == 0 {
        return Err(format_err("not a .npy file: the file is empty"));
    }
    let start = &start[..got];
    let magic_part = &start[..got.min(MAGIC.len())];
    if got < MAGIC.len() || magic_part != MAGIC {
        let hint = if start.starts_with(b"PK\x03\x04") || start.starts_with(b"PK\x05\x06") {
            " (it looks like a zip archive: an .npz file holds several arrays)"
        } else {
            ""
        };
        return Err(format_err(format!(
            "not a .npy file: it does not start with the magic string \\x93NUMPY{hint}"
        )));
    }
    if got < 8 {
        return Err(format_err(
            "truncated header: the file ends inside the format version",
        ));
    }
    let (major, minor) = (start[6], start[7]);
    let len_bytes = match (major, minor) {
        (1, 0) => 2usize,
        (2, 0) | (3, 0) => 4usize,
        _ => {
            return Err(DataError::new(
                DataErrorKind::Unsupported,
                format!(
                    "unsupported .npy format version {major}.{minor} \
                     (supported: 1.0, 2.0 and 3.0)"
                ),
            ))
        }
    };
    let mut len_field = [0u8; 4];
    if read_full(input, &mut len_field[..len_bytes])? < len_bytes {
        return Err(format_err(
            "truncated header: the file ends inside the header length field",
        ));
    }
    let header_len = u32::from_le_bytes(len_field) as usize;
    if header_len > MAX_HEADER_BYTES {
        return Err(format_err(format!(
            "the header declares {header_len} bytes, more than the {MAX_HEADER_BYTES} \
             a .npy header may have"
        )));
    }
    let mut raw = vec![0u8; header_len];
    let available = read_full(input, &mut raw)?;
    if available < header_len {
        return Err(format_err(format!(
            "truncated header: it declares {header_len} header bytes but only {available} follow"
        )));
    }
    let text: String = if major == 3 {
        std::str::from_utf8(&raw)
            .map_err(|_| format_err("the header is not valid UTF-8 (required by format 3.0)"))?
            .to_string()
    } else {
        // Versions 1.0 and 2.0 use latin-1: every byte is one character.
        raw.iter().map(|&b| b as char).collect()
    };
    let header = parse_header(&text)?;
    Ok((header, (8 + len_bytes + header_len) as u64))
}

/// Parse a `.npy` file held in memory.
///
/// The size declared by the header is checked against the bytes present before any
/// array is allocated, so a header claiming 10^15 elements fails at once.
pub fn read_npy_bytes(bytes: &[u8]) -> Result<ArrayData, DataError> {
    read_npy_from(&mut &bytes[..], Some(bytes.len() as u64))
}

/// Reads one `.npy` array from `input`, which holds `len` bytes when known (a
/// regular file, an archive member). The data size the header declares is
/// checked against `len` before anything is allocated, the buffer is reserved
/// fallibly (an allocation failure is [`DataErrorKind::OutOfMemory`], never an
/// abort), and the data is read straight into it. With `len` unknown, exactly
/// the declared bytes are read, then one more is probed for.
pub fn read_npy_from(input: &mut impl Read, len: Option<u64>) -> Result<ArrayData, DataError> {
    read_npy_converted(input, len, Convert::Stored)
}

/// [`read_npy_from`], delivering the values converted as `convert` asks.
pub(super) fn read_npy_converted(
    input: &mut impl Read,
    len: Option<u64>,
    convert: Convert,
) -> Result<ArrayData, DataError> {
    let (header, preamble) = read_preamble(input)?;
    let item = header.dtype.item_size();
    let data_len = len.map(|l| l.saturating_sub(preamble));
    let held = || match data_len {
        Some(n) => format!("{n}"),
        None => "fewer".to_string(),
    };
    let too_large = || {
        DataError::new(
            DataErrorKind::TooLarge,
            format!(
                "the header declares shape {} of {}, which has more elements than can be \
                 addressed; the file holds only {} bytes of data",
                super::header::shape_repr(&header.shape),
                dtype_text(header.dtype),
                held()
            ),
        )
    };
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(too_large)?;
    let needed = count.checked_mul(item).ok_or_else(too_large)?;
    let truncated = |have: String| {
        DataError::new(
            DataErrorKind::TooLarge,
            format!(
                "truncated data: shape {} of {} needs {} bytes ({} elements) but the file \
                 holds only {have} bytes of data",
                super::header::shape_repr(&header.shape),
                dtype_text(header.dtype),
                needed,
                count,
            ),
        )
    };
    let trailing = |extra: String, have: String| {
        format_err(format!(
            "{extra} unexpected bytes after the data: shape {} of {} needs {} bytes but the \
             file holds {have} bytes of data",
            super::header::shape_repr(&header.shape),
            dtype_text(header.dtype),
            needed,
        ))
    };
    if let Some(have) = data_len {
        if needed as u64 > have {
            return Err(truncated(have.to_string()));
        }
        if (needed as u64) < have {
            return Err(trailing(
                (have - needed as u64).to_string(),
                have.to_string(),
            ));
        }
    }
    let what = || {
        format!(
            "shape {} of {}",
            super::header::shape_repr(&header.shape),
            dtype_text(header.dtype)
        )
    };
    let array = read_flat(
        input,
        header.dtype,
        header.big_endian,
        count,
        convert,
        &what,
    )?
    .map_err(|got| truncated(got.to_string()))?
    .shaped(&header.shape, header.fortran_order)?;
    if data_len.is_none() {
        let mut probe = [0u8; 1];
        if read_full(input, &mut probe)? > 0 {
            return Err(trailing("some".to_string(), format!("more than {needed}")));
        }
    }
    Ok(array)
}

/// Encode an array as `.npy` bytes exactly as `numpy.save` would: format 1.0,
/// little-endian, C order, data aligned to 64 bytes.
pub fn encode_npy(value: ArrayRef<'_>) -> Vec<u8> {
    fn body<T: Copy, const N: usize>(
        out: &mut Vec<u8>,
        a: &ndarray::ArrayViewD<'_, T>,
        le: fn(T) -> [u8; N],
    ) {
        out.reserve(a.len() * N);
        // `iter` walks in logical row-major order whatever the memory layout.
        for &x in a.iter() {
            out.extend_from_slice(&le(x));
        }
    }
    let (dtype, shape) = match &value {
        ArrayRef::F32(a) => (Dtype::F32, a.shape()),
        ArrayRef::F64(a) => (Dtype::F64, a.shape()),
        ArrayRef::I32(a) => (Dtype::I32, a.shape()),
        ArrayRef::I64(a) => (Dtype::I64, a.shape()),
        ArrayRef::Bool(a) => (Dtype::Bool, a.shape()),
    };
    let mut out = write_preamble(dtype, shape);
    match &value {
        ArrayRef::F32(a) => body(&mut out, a, f32::to_le_bytes),
        ArrayRef::F64(a) => body(&mut out, a, f64::to_le_bytes),
        ArrayRef::I32(a) => body(&mut out, a, i32::to_le_bytes),
        ArrayRef::I64(a) => body(&mut out, a, i64::to_le_bytes),
        ArrayRef::Bool(a) => body(&mut out, a, |b: bool| [u8::from(b)]),
    }
    out
}

/// Write an array to `path` as `.npy`, atomically (see [`super::write_atomic`]).
pub fn write_npy_atomic<'a>(path: &Path, value: impl Into<ArrayRef<'a>>) -> Result<(), DataError> {
    super::atomic::write_atomic(path, &encode_npy(value.into()))
}
