//! Data files and value output: `.npy`/`.npz` reading, safetensors reading and
//! writing, atomic `.npy` writing, NumPy-style printing and JSON encoding (SPEC
//! sections 8 and 9).
//!
//! - [`read_npy`], [`read_npy_bytes`]: `.npy` versions 1.0/2.0/3.0; `f4`, `f8`, `i4`,
//!   `i8` in either byte order, `b1`; C or Fortran order (always returned in standard
//!   row-major layout). Every malformed input is a [`DataError`], never a panic.
//! - [`read_npz`]: every array of an archive, by name.
//! - [`read_safetensors`], [`write_safetensors`]: Hugging Face's format, dtypes F32,
//!   F64, I32, I64 and BOOL, with its string metadata.
//! - [`read_archive`]: named arrays from a `.npz` or a `.safetensors` file, the
//!   format told by the first bytes and required to agree with the extension.
//! - The `_as` readers deliver values converted ([`Convert`]: f32 <-> f64, i32 -> i64)
//!   while reading, so a file's type and the caller's are never both in memory.
//! - [`write_npy_atomic`], [`write_atomic`], [`write_atomic_with`]: crash-safe writes.
//! - [`format_array`] and friends: what `print(arr)` shows in NumPy.
//! - [`array_to_json`]: the JSON value encoding.
//!
//! Decisions:
//! - Byte order `=` and `|` (and no prefix) mean native order. Only `f4 f8 i4 i8 b1`
//!   are read; anything else (uint, complex, strings, objects, structured) is
//!   [`DataErrorKind::Unsupported`] with the descr and the supported list in the message.
//! - The header must have exactly the keys `descr`, `fortran_order`, `shape` (as NumPy
//!   requires). Data shorter than the shape needs is "truncated data"; longer is an
//!   error too ("unexpected bytes after the data"): nothing is silently cut.
//! - `.npz` members must all be `.npy` files (others are an error naming the member);
//!   names lose the `.npy` suffix; archive order is kept. A member is refused when it
//!   declares more than [`MAX_NPZ_MEMBER_BYTES`] or more than deflate can produce from
//!   its compressed size, and is read with a limit of its declared size.
//! - Every reader puts the file's bytes straight into the array's buffer, allocated
//!   zeroed and fallibly (out of memory is [`DataErrorKind::OutOfMemory`]), one pass.
//! - safetensors: tensors are returned in the order of their data; a file with a name
//!   twice, overlapping or uncovered bytes, or offsets that disagree with a tensor's
//!   dtype and shape is refused, naming the tensor. Written files keep the caller's
//!   order and are byte-identical for the same input.
//! - Writing `.npy` always produces format 1.0 (2.0 only if the header would not fit),
//!   little endian, C order, byte-identical to `numpy.save`. `write_atomic` does not
//!   create missing directories.
//! - Printing follows NumPy 2.x defaults (checked against NumPy 2.4.6), including the
//!   float32 thresholds NumPy 2 uses (scientific from 1e6 instead of 1e8).

mod archive;
mod array;
mod atomic;
mod error;
mod floatfmt;
mod format;
mod header;
mod json;
mod npy;
mod npz;
mod safetensors;
mod st_header;
mod stream;

pub use archive::{archive_format, read_archive, ArchiveFormat};
pub use array::{ArrayData, ArrayRef};
pub use atomic::{write_atomic, write_atomic_with};
pub use error::{DataError, DataErrorKind};
pub use floatfmt::scalar_str as format_scalar;
pub use format::{
    format_array, format_array_f32, format_array_f64, format_array_i32, format_array_i64,
};
pub use json::{array_to_json, json_f32, json_f64};
pub use npy::{encode_npy, read_npy, read_npy_as, read_npy_bytes, read_npy_from, write_npy_atomic};
pub use npz::{read_npz, read_npz_as, read_npz_from, MAX_NPZ_MEMBER_BYTES};
pub use safetensors::{
    read_safetensors, read_safetensors_as, read_safetensors_bytes, write_safetensors,
    SafetensorsFile,
};
pub use stream::Convert;
