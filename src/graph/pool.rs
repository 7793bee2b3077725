//! Buffer reuse: the memory plan of an evaluation.
//!
//! The evaluator frees every intermediate after its last use; large buffers are not
//! returned to the allocator but kept here and handed to the next kernel that needs
//! one of (nearly) the same length, so a run allocates each large buffer once, and a
//! [`super::Schedule`] run repeatedly (or a training loop) allocates nothing large
//! after its first run. Kernels take initialized buffers (stale contents they
//! overwrite), so no zero-fill is paid on reuse.
//!
//! Fresh large buffers come from `calloc` (zero pages mapped lazily by the OS) and
//! are marked for transparent huge pages: a 64 MiB gradient then takes 32 page
//! faults instead of 16,384.

use super::{Float, Value};
use std::sync::Mutex;

/// Buffers of at least this many elements are pooled; smaller ones are cheap to
/// allocate and are left to the allocator (no lock per small node).
const POOL_MIN: usize = 1 << 14;
/// Buffers of at least this many bytes are advised to use transparent huge pages.
const HUGE_MIN_BYTES: usize = 4 << 20;
/// At most this many buffers are kept.
const POOL_MAX: usize = 64;

/// The pools of both element types (a [`super::Schedule`] serves either).
#[derive(Default)]
pub struct Pools {
    f32: Pool<f32>,
    f64: Pool<f64>,
}

impl Pools {
    pub(crate) fn get<T: Float>(&self) -> &Pool<T> {
        use std::any::Any;
        let a: &dyn Any = &self.f32;
        let b: &dyn Any = &self.f64;
        a.downcast_ref::<Pool<T>>()
            .or_else(|| b.downcast_ref::<Pool<T>>())
            .expect("Float is implemented for f32 and f64 only")
    }
}

/// Free buffers of one element type.
#[derive(Default)]
pub struct Pool<T> {
    free: Mutex<Vec<Vec<T>>>,
}

impl<T: Float> Pool<T> {
    pub(crate) fn new() -> Self {
        Pool {
            free: Mutex::new(Vec::new()),
        }
    }

    /// A buffer of exactly `len` initialized elements (contents unspecified).
    pub(crate) fn take(&self, len: usize) -> Vec<T> {
        if len >= POOL_MIN {
            if let Ok(mut free) = self.free.lock() {
                // best fit among buffers at most 1/8 longer than needed
                let best = free
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.len() >= len && v.len() - len <= len / 8)
                    .min_by_key(|(_, v)| v.len())
                    .map(|(i, _)| i);
                if let Some(i) = best {
                    let mut v = free.swap_remove(i);
                    v.truncate(len);
                    return v;
                }
            }
        }
        fresh(len)
    }

    /// Returns a buffer for reuse.
    pub(crate) fn give(&self, v: Vec<T>) {
        if v.len() >= POOL_MIN {
            if let Ok(mut free) = self.free.lock() {
                if free.len() < POOL_MAX {
                    free.push(v);
                }
            }
        }
    }

    /// Returns the storage of a value for reuse.
    pub(crate) fn give_value(&self, v: Value<T>) {
        if let Value::Float(a) = v {
            if a.len() >= POOL_MIN {
                let (data, _) = a.into_raw_vec_and_offset();
                self.give(data);
            }
        }
    }
}

fn fresh<T: Float>(len: usize) -> Vec<T> {
    let v = vec![T::zero(); len];
    let bytes = len * std::mem::size_of::<T>();
    #[cfg(target_os = "linux")]
    if bytes >= HUGE_MIN_BYTES {
        const PAGE: usize = 4096;
        let start = (v.as_ptr() as usize).div_ceil(PAGE) * PAGE;
        let end = (v.as_ptr() as usize + bytes) / PAGE * PAGE;
        // SAFETY: advice on whole pages inside memory we own; the kernel may ignore
        // it. `calloc` has not touched fresh pages yet, so the faults of the first
        // write can be huge pages.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
    let _ = bytes;
    v
}
