//! Reading and encoding single `.npy` arrays (format versions 1.0, 2.0 and 3.0).
//!
//! Reference: <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.

use std::path::Path;

use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use super::array::{ArrayData, ArrayRef};
use super::error::{DataError, DataErrorKind};
use super::header::{parse_header, write_preamble, Dtype, Header};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

fn format_err(msg: impl Into<String>) -> DataError {
    DataError::new(DataErrorKind::Format, msg)
}

/// Read a `.npy` file. Errors name the path.
pub fn read_npy(path: &Path) -> Result<ArrayData, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, "read the file", &e))?;
    read_npy_bytes(&bytes).map_err(|e| e.with_path(path))
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

/// Split the preamble off: returns the header and the data bytes.
fn split_preamble(bytes: &[u8]) -> Result<(Header, &[u8]), DataError> {
    if bytes.is_empty() {
        return Err(format_err("not a .npy file: the file is empty"));
    }
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        let hint = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            " (it looks like a zip archive: an .npz file holds several arrays)"
        } else {
            ""
        };
        return Err(format_err(format!(
            "not a .npy file: it does not start with the magic string \\x93NUMPY{hint}"
        )));
    }
    if bytes.len() < 8 {
        return Err(format_err(
            "truncated header: the file ends inside the format version",
        ));
    }
    let (major, minor) = (bytes[6], bytes[7]);
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
    let header_start = 8 + len_bytes;
    if bytes.len() < header_start {
        return Err(format_err(
            "truncated header: the file ends inside the header length field",
        ));
    }
    let header_len = if len_bytes == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    let available = bytes.len() - header_start;
    if header_len > available {
        return Err(format_err(format!(
            "truncated header: it declares {header_len} header bytes but only {available} follow"
        )));
    }
    let raw = &bytes[header_start..header_start + header_len];
    let text: String = if major == 3 {
        std::str::from_utf8(raw)
            .map_err(|_| format_err("the header is not valid UTF-8 (required by format 3.0)"))?
            .to_string()
    } else {
        // Versions 1.0 and 2.0 use latin-1: every byte is one character.
        raw.iter().map(|&b| b as char).collect()
    };
    let header = parse_header(&text)?;
    Ok((header, &bytes[header_start + header_len..]))
}

/// Parse a `.npy` file held in memory.
///
/// The size declared by the header is checked against the bytes present before any
/// array is allocated, so a header claiming 10^15 elements fails at once.
pub fn read_npy_bytes(bytes: &[u8]) -> Result<ArrayData, DataError> {
    let (header, data) = split_preamble(bytes)?;
    let item = header.dtype.item_size();
    let too_large = || {
        DataError::new(
            DataErrorKind::TooLarge,
            format!(
                "the header declares shape {} of {}, which has more elements than can be \
                 addressed; the file holds only {} bytes of data",
                super::header::shape_repr(&header.shape),
                dtype_text(header.dtype),
                data.len()
            ),
        )
    };
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(too_large)?;
    let needed = count.checked_mul(item).ok_or_else(too_large)?;
    if needed > data.len() {
        return Err(DataError::new(
            DataErrorKind::TooLarge,
            format!(
                "truncated data: shape {} of {} needs {} bytes ({} elements) but the file \
                 holds only {} bytes of data",
                super::header::shape_repr(&header.shape),
                dtype_text(header.dtype),
                needed,
                count,
                data.len()
            ),
        ));
    }
    if needed < data.len() {
        return Err(format_err(format!(
            "{} unexpected bytes after the data: shape {} of {} needs {} bytes but the \
             file holds {} bytes of data",
            data.len() - needed,
            super::header::shape_repr(&header.shape),
            dtype_text(header.dtype),
            needed,
            data.len()
        )));
    }
    let big = header.big_endian;
    Ok(match header.dtype {
        Dtype::F32 => ArrayData::F32(build(
            &header,
            decode(data, big, f32::from_le_bytes, f32::from_be_bytes),
        )?),
        Dtype::F64 => ArrayData::F64(build(
            &header,
            decode(data, big, f64::from_le_bytes, f64::from_be_bytes),
        )?),
        Dtype::I32 => ArrayData::I32(build(
            &header,
            decode(data, big, i32::from_le_bytes, i32::from_be_bytes),
        )?),
        Dtype::I64 => ArrayData::I64(build(
            &header,
            decode(data, big, i64::from_le_bytes, i64::from_be_bytes),
        )?),
        Dtype::Bool => ArrayData::Bool(build(&header, data.iter().map(|&b| b != 0).collect())?),
    })
}

fn decode<T, const N: usize>(
    data: &[u8],
    big: bool,
    le: fn([u8; N]) -> T,
    be: fn([u8; N]) -> T,
) -> Vec<T> {
    let conv = if big { be } else { le };
    data.chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            conv(a)
        })
        .collect()
}

/// Shape the flat values; Fortran-order data is copied into standard (row-major) layout.
fn build<T: Clone>(header: &Header, values: Vec<T>) -> Result<ArrayD<T>, DataError> {
    let shape = IxDyn(&header.shape);
    let result = if header.fortran_order {
        ArrayD::from_shape_vec(shape.f(), values).map(|a| a.as_standard_layout().into_owned())
    } else {
        ArrayD::from_shape_vec(shape, values)
    };
    result.map_err(|e| format_err(format!("cannot shape the data: {e}")))
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
