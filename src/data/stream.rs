//! Element data from a file straight into an array's buffer, shared by the
//! `.npy`, `.npz` and safetensors readers.
//!
//! Why it is done this way (a 64 MiB array should cost what NumPy's `np.load`
//! costs, and memory for the values only):
//! - The buffer is allocated zeroed and fallibly (`calloc`: a large one is
//!   fresh pages the kernel maps on first write, so no memset pass, and a failed
//!   allocation is [`DataErrorKind::OutOfMemory`], never an abort), advised to
//!   use transparent huge pages, and the file's bytes are read into it with one
//!   `read` per call: the kernel's copy is the only pass over the data.
//! - A conversion the caller asks for ([`Convert`]: f32 <-> f64, i32 -> i64,
//!   bytes -> bool) happens while streaming, through a small fixed chunk, so the
//!   file's own type is never held in memory beside the converted array.

use std::io::Read;

use bytemuck::{Pod, Zeroable};

use super::array::ArrayData;
use super::error::{DataError, DataErrorKind};
use super::header::Dtype;

/// The element type an array is delivered in when the file stores another
/// type of the same kind. Conversion happens while reading, so the file's
/// type and the requested one are never both in memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Convert {
    /// Every array in the type the file stores.
    #[default]
    Stored,
    /// Float arrays as f32 (f64 values rounded to nearest, as NumPy's
    /// `astype`); int and bool arrays as stored.
    FloatsToF32,
    /// Float arrays as f64 (exact); int and bool arrays as stored.
    FloatsToF64,
    /// Int arrays as i64 (exact); float and bool arrays as stored.
    IntsToI64,
}

/// Buffers of at least this many bytes are advised to use transparent huge
/// pages: 32 page faults for 64 MiB instead of 16,384.
const HUGE_MIN_BYTES: usize = 4 << 20;

/// Bytes allocated for values before any of them has been read. A reader of
/// unknown length (a pipe) cannot check the declared size against the data,
/// so a few bytes of header declaring gigabytes must not reserve them: the
/// buffer grows to the declared size only once this much data has arrived.
#[cfg(not(test))]
const UNSEEN_MAX_BYTES: usize = 256 << 20;
/// Small in unit tests, so that they cross it.
#[cfg(test)]
const UNSEEN_MAX_BYTES: usize = 4 << 10;

/// The buffer for the first values of `count`: all of them, or as many as
/// [`UNSEEN_MAX_BYTES`] holds.
fn first_buffer<T: Zeroable>(count: usize, what: &dyn Fn() -> String) -> Result<Vec<T>, DataError> {
    zeroed(
        count.min(UNSEEN_MAX_BYTES / std::mem::size_of::<T>().max(1)),
        what,
    )
}

/// `values`, the first values read, in a buffer of `count` values: a fresh
/// zeroed allocation (pages mapped lazily), the first part copied over.
fn grown<T: Zeroable + Copy>(
    values: Vec<T>,
    count: usize,
    what: &dyn Fn() -> String,
) -> Result<Vec<T>, DataError> {
    if values.len() >= count {
        return Ok(values);
    }
    let mut all: Vec<T> = zeroed(count, what)?;
    all[..values.len()].copy_from_slice(&values);
    Ok(all)
}

/// Elements converted per chunk: 64 Ki (512 KiB of f64), small beside any array
/// worth converting in a stream, large enough that the `read` calls cost nothing.
const CHUNK: usize = 1 << 16;

/// Reads up to `buf.len()` bytes; returns how many (fewer only at end of input).
pub(super) fn read_full(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, DataError> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(DataError::new(
                    DataErrorKind::Format,
                    format!("cannot read the data: {e}"),
                ))
            }
        }
    }
    Ok(n)
}

/// `count` zeroed values, or [`DataErrorKind::OutOfMemory`] naming `what`.
pub(super) fn zeroed<T: Zeroable>(
    count: usize,
    what: &dyn Fn() -> String,
) -> Result<Vec<T>, DataError> {
    let bytes = count.saturating_mul(std::mem::size_of::<T>());
    let v: Vec<T> = bytemuck::allocation::try_zeroed_vec(count).map_err(|()| {
        DataError::new(
            DataErrorKind::OutOfMemory,
            format!(
                "cannot allocate {bytes} bytes for {}: not enough memory",
                what()
            ),
        )
    })?;
    #[cfg(target_os = "linux")]
    if bytes >= HUGE_MIN_BYTES {
        const PAGE: usize = 4096;
        let start = (v.as_ptr() as usize).div_ceil(PAGE) * PAGE;
        let end = (v.as_ptr() as usize + bytes) / PAGE * PAGE;
        // SAFETY: advice on whole pages inside memory this vector owns; the
        // kernel may ignore it. The zeroed allocation of this size is fresh
        // pages not yet touched, so the faults of the first write (the read
        // below) can be huge pages.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
    Ok(v)
}

/// A flat array as read, before it is given its shape.
#[derive(Debug)]
pub(super) enum Flat {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

impl Flat {
    /// Shapes the values; Fortran-order data is copied into standard
    /// (row-major) layout.
    pub(super) fn shaped(self, shape: &[usize], fortran: bool) -> Result<ArrayData, DataError> {
        fn build<T: Clone>(
            shape: &[usize],
            fortran: bool,
            values: Vec<T>,
        ) -> Result<ndarray::ArrayD<T>, DataError> {
            use ndarray::{ArrayD, IxDyn, ShapeBuilder};
            let dim = IxDyn(shape);
            let result = if fortran {
                ArrayD::from_shape_vec(dim.f(), values).map(|a| a.as_standard_layout().into_owned())
            } else {
                ArrayD::from_shape_vec(dim, values)
            };
            result.map_err(|e| {
                DataError::new(DataErrorKind::Format, format!("cannot shape the data: {e}"))
            })
        }
        Ok(match self {
            Flat::F32(v) => ArrayData::F32(build(shape, fortran, v)?),
            Flat::F64(v) => ArrayData::F64(build(shape, fortran, v)?),
            Flat::I32(v) => ArrayData::I32(build(shape, fortran, v)?),
            Flat::I64(v) => ArrayData::I64(build(shape, fortran, v)?),
            Flat::Bool(v) => ArrayData::Bool(build(shape, fortran, v)?),
        })
    }
}

/// Element types stored in files: plain old data with a byte swap.
trait Element: Pod {
    fn swap(self) -> Self;
}

macro_rules! element {
    ($($t:ty => $bits:ty),*) => {$(
        impl Element for $t {
            fn swap(self) -> Self {
                <$t>::from_ne_bytes(<$bits>::from_ne_bytes(self.to_ne_bytes()).swap_bytes().to_ne_bytes())
            }
        }
    )*};
}
element!(f32 => u32, f64 => u64, i32 => i32, i64 => i64, u8 => u8);

/// Reads `count` values stored as `dtype` (big-endian when `big_endian`),
/// converted as `convert` asks. The inner `Err` is the number of bytes present
/// when the input ends early; `what` names the array for an allocation failure.
pub(super) fn read_flat(
    input: &mut impl Read,
    dtype: Dtype,
    big_endian: bool,
    count: usize,
    convert: Convert,
    what: &dyn Fn() -> String,
) -> Result<Result<Flat, usize>, DataError> {
    let swap = big_endian != cfg!(target_endian = "big");
    Ok(match (dtype, convert) {
        (Dtype::F32, Convert::FloatsToF64) => {
            read_converted(input, count, swap, what, |v: f32| f64::from(v))?.map(Flat::F64)
        }
        (Dtype::F64, Convert::FloatsToF32) => {
            read_converted(input, count, swap, what, |v: f64| v as f32)?.map(Flat::F32)
        }
        (Dtype::I32, Convert::IntsToI64) => {
            read_converted(input, count, swap, what, |v: i32| i64::from(v))?.map(Flat::I64)
        }
        (Dtype::F32, _) => read_direct(input, count, swap, what)?.map(Flat::F32),
        (Dtype::F64, _) => read_direct(input, count, swap, what)?.map(Flat::F64),
        (Dtype::I32, _) => read_direct(input, count, swap, what)?.map(Flat::I32),
        (Dtype::I64, _) => read_direct(input, count, swap, what)?.map(Flat::I64),
        // One byte per value, non-zero is true (NumPy's `|b1`, safetensors' BOOL).
        (Dtype::Bool, _) => {
            read_converted(input, count, false, what, |b: u8| b != 0)?.map(Flat::Bool)
        }
    })
}

/// The bytes of `count` values straight into their buffer, swapped in place
/// if the file's byte order is not the machine's.
fn read_direct<T: Element>(
    input: &mut impl Read,
    count: usize,
    swap: bool,
    what: &dyn Fn() -> String,
) -> Result<Result<Vec<T>, usize>, DataError> {
    let mut values: Vec<T> = first_buffer(count, what)?;
    let first = values.len();
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
    let got = read_full(input, bytes)?;
    if got < bytes.len() {
        return Ok(Err(got));
    }
    if count > first {
        values = grown(values, count, what)?;
        let rest: &mut [u8] = bytemuck::cast_slice_mut(&mut values[first..]);
        let more = read_full(input, rest)?;
        if more < rest.len() {
            return Ok(Err(got + more));
        }
    }
    if swap {
        values.iter_mut().for_each(|v| *v = v.swap());
    }
    Ok(Ok(values))
}

/// `count` values of `S` converted by `f` into a buffer of `D`, a chunk at a time.
fn read_converted<S: Element, D: Zeroable + Copy>(
    input: &mut impl Read,
    count: usize,
    swap: bool,
    what: &dyn Fn() -> String,
    f: impl Fn(S) -> D,
) -> Result<Result<Vec<D>, usize>, DataError> {
    let mut out: Vec<D> = first_buffer(count, what)?;
    let mut chunk: Vec<S> = vec![S::zeroed(); count.min(CHUNK)];
    let mut done = 0;
    while done < count {
        let n = (count - done).min(CHUNK);
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut chunk[..n]);
        let got = read_full(input, bytes)?;
        if got < bytes.len() {
            return Ok(Err(done * std::mem::size_of::<S>() + got));
        }
        if done + n > out.len() {
            out = grown(out, count, what)?;
        }
        for (o, &v) in out[done..done + n].iter_mut().zip(&chunk[..n]) {
            *o = f(if swap { v.swap() } else { v });
        }
        done += n;
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn what() -> String {
        "the test array".to_string()
    }

    /// A pipe that delivers a few bytes of a declared exabyte: reported as
    /// short data, without reserving the declared size (found by the `data`
    /// fuzz target: 327 bytes declaring 2.8 GB allocated it all).
    #[test]
    fn a_huge_declared_size_is_not_allocated_before_the_data_arrives() {
        let bytes = vec![0u8; 1000];
        for convert in [Convert::Stored, Convert::FloatsToF32] {
            let got = read_flat(
                &mut &bytes[..],
                Dtype::F64,
                false,
                usize::MAX / 16,
                convert,
                &what,
            );
            assert!(
                matches!(got, Ok(Err(n)) if n <= 1000),
                "{convert:?}: {got:?}"
            );
        }
    }

    /// Data longer than the first buffer is read whole, directly and converted.
    #[test]
    fn reads_grow_past_the_first_buffer() {
        let values: Vec<f32> = (0..5000).map(|i| i as f32 * 0.5).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let Ok(Flat::F32(got)) = read_flat(
            &mut &bytes[..],
            Dtype::F32,
            false,
            5000,
            Convert::Stored,
            &what,
        )
        .unwrap() else {
            panic!("expected f32 values")
        };
        assert_eq!(got, values);
        let short = read_flat(
            &mut &bytes[..4000 * 4],
            Dtype::F32,
            false,
            5000,
            Convert::Stored,
            &what,
        );
        assert!(matches!(short, Ok(Err(16000))), "{short:?}");
    }

    #[test]
    fn conversions_while_streaming_match_elementwise_casts() {
        let values: Vec<f64> = (0..(CHUNK * 2 + 7)).map(|i| i as f64 / 3.0).collect();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let Ok(Flat::F32(got)) = read_flat(
            &mut &bytes[..],
            Dtype::F64,
            false,
            values.len(),
            Convert::FloatsToF32,
            &what,
        )
        .unwrap() else {
            panic!("expected f32 values")
        };
        let expected: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        assert_eq!(got, expected);

        let ints: Vec<i32> = vec![-3, 0, i32::MAX, i32::MIN];
        let be: Vec<u8> = ints.iter().flat_map(|v| v.to_be_bytes()).collect();
        let Ok(Flat::I64(got)) =
            read_flat(&mut &be[..], Dtype::I32, true, 4, Convert::IntsToI64, &what).unwrap()
        else {
            panic!("expected i64 values")
        };
        assert_eq!(got, vec![-3, 0, i64::from(i32::MAX), i64::from(i32::MIN)]);
    }

    #[test]
    fn a_short_input_reports_the_bytes_present() {
        let bytes = vec![0u8; 4 * (CHUNK + 3)];
        for convert in [Convert::Stored, Convert::FloatsToF64] {
            let r = read_flat(
                &mut &bytes[..],
                Dtype::F32,
                false,
                CHUNK + 10,
                convert,
                &what,
            )
            .unwrap();
            assert!(matches!(r, Err(n) if n == bytes.len()), "{convert:?}");
        }
    }

    #[test]
    fn bools_are_non_zero_bytes() {
        let Ok(Flat::Bool(got)) = read_flat(
            &mut &[0u8, 1, 2, 255][..],
            Dtype::Bool,
            false,
            4,
            Convert::Stored,
            &what,
        )
        .unwrap() else {
            panic!("expected bools")
        };
        assert_eq!(got, vec![false, true, true, true]);
    }
}
