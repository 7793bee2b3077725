//! Convolution and pooling kernels, channels last (`[B, H, W, C]`).
//!
//! A convolution is a product on the tuned GEMM: the rows of the output
//! (`B * OH * OW` of them) are cut into fixed tiles of nearly equal size
//! ([`row_tiles`], a function of the shape only); each tile gathers its input
//! patches into a column buffer `[rows, KH * KW * C]` (im2col) and multiplies it
//! by the weight seen as `[KH * KW * C, O]` in one sequential GEMM call. A 1x1
//! convolution with stride 1 and no padding skips the gather (the input already
//! is the column buffer).
//!
//! - The input gradient runs per group of whole images (again a function of
//!   the shape): `g @ Wᵀ` over the group's rows gives the patch gradients,
//!   which are added back into each image (col2im) in a fixed order.
//! - The weight gradient is `colsᵀ @ g` summed over the row tiles: each tile's
//!   partial product is one GEMM and the partials are added in tile order.
//!
//! Every output element is thus computed by the same sequence of operations
//! whatever the number of threads: results are bit-identical for any `--threads`.
//!
//! Pooling: `PoolSelect(x, t)` picks `t` at the first maximum of `x` in each window
//! (row-major; padding never wins), `PoolScatter` is its adjoint; `PoolSum` and
//! `PoolSumT` are window sums (padding counts as zeros) and their adjoint.

use super::kernels::{MIN_TILES, PAR_GEMM};
use super::op::Window;
use super::pool::Pool;
use super::{EvalError, Float};
use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;
use std::borrow::Cow;

fn internal(msg: impl Into<String>) -> EvalError {
    EvalError::Internal(msg.into())
}

/// Rows of one output tile of a product of `m` rows, `kc` column entries per
/// row and `o` outputs: about 128 Ki column elements per tile (a buffer that
/// stays in L2), at least 64 rows, and at least [`MIN_TILES`] tiles when the
/// product is big enough to be worth splitting ([`PAR_GEMM`] multiply-adds) and
/// has the rows; the rows are spread evenly over the tiles, so no thread waits
/// on one big tile while another finishes a sliver.
fn row_tiles(m: usize, kc: usize, o: usize) -> usize {
    let by_cache = ((1usize << 17) / kc.max(1)).max(64);
    let mut tiles = m.div_ceil(by_cache).max(1);
    if m.saturating_mul(kc).saturating_mul(o) >= PAR_GEMM {
        tiles = tiles.max(MIN_TILES.min(m / 16).max(1));
    }
    m.div_ceil(tiles).max(1)
}

/// Tiles of the weight gradient's row sum computed at once (bounds the memory
/// held by partial products).
const PARTIALS_AT_ONCE: usize = 16;

/// The sizes of a convolution or pooling, all from the operands' shapes.
#[derive(Clone, Copy, Debug)]
struct Geo {
    b: usize,
    h: usize,
    w: usize,
    c: usize,
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    ph: usize,
    pw: usize,
}

impl Geo {
    fn new(x: &[usize], out: &[usize], win: &Window) -> Result<Geo, EvalError> {
        if x.len() != 4 || out.len() != 4 {
            return Err(internal("convolution operands must have rank 4"));
        }
        Ok(Geo {
            b: x[0],
            h: x[1],
            w: x[2],
            c: x[3],
            oh: out[1],
            ow: out[2],
            kh: win.size[0],
            kw: win.size[1],
            sh: win.stride[0],
            sw: win.stride[1],
            dh: win.dilation[0],
            dw: win.dilation[1],
            ph: win.pad_lo[0],
            pw: win.pad_lo[1],
        })
    }

    /// Column entries per output row.
    fn kc(&self) -> usize {
        self.kh * self.kw * self.c
    }

    /// Whether the input itself is the column buffer (1x1, stride 1, no padding).
    fn pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.sh == 1
            && self.sw == 1
            && self.ph == 0
            && self.pw == 0
            && self.oh == self.h
            && self.ow == self.w
    }

    /// Input row `hi` and column `wi` of window element `(ki, kj)` of output
    /// position `(y, xo)`, if inside the image.
    #[inline]
    fn at(&self, y: usize, xo: usize, ki: usize, kj: usize) -> Option<(usize, usize)> {
        let hi = (y * self.sh + ki * self.dh).checked_sub(self.ph)?;
        let wi = (xo * self.sw + kj * self.dw).checked_sub(self.pw)?;
        (hi < self.h && wi < self.w).then_some((hi, wi))
    }

    /// Offset in a `[B, H, W, C]` input of pixel `(b, hi, wi)`.
    #[inline]
    fn pix(&self, b: usize, hi: usize, wi: usize) -> usize {
        ((b * self.h + hi) * self.w + wi) * self.c
    }
}

fn standard<T: Float>(a: &ArrayD<T>) -> Result<Cow<'_, [T]>, EvalError> {
    match a.as_slice() {
        Some(s) => Ok(Cow::Borrowed(s)),
        None => Ok(Cow::Owned(a.as_standard_layout().iter().copied().collect())),
    }
}

/// Gathers the patches of output rows `r0..r0 + rows` (row-major over
/// `B, OH, OW`) into `cols` (`[rows, KH * KW * C]`), zeros for padding.
fn im2col<T: Float>(x: &[T], g: &Geo, r0: usize, rows: usize, cols: &mut [T]) {
    let kc = g.kc();
    let per_image = g.oh * g.ow;
    for i in 0..rows {
        let r = r0 + i;
        let (b, rem) = (r / per_image, r % per_image);
        let (y, xo) = (rem / g.ow, rem % g.ow);
        let row = &mut cols[i * kc..(i + 1) * kc];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let dst = &mut row[(ki * g.kw + kj) * g.c..(ki * g.kw + kj + 1) * g.c];
                match g.at(y, xo, ki, kj) {
                    Some((hi, wi)) => {
                        let p = g.pix(b, hi, wi);
                        dst.copy_from_slice(&x[p..p + g.c]);
                    }
                    None => dst.fill(T::zero()),
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Ptr<T>(*mut T);
// SAFETY: every task writes a disjoint range of the output.
unsafe impl<T> Send for Ptr<T> {}
unsafe impl<T> Sync for Ptr<T> {}

fn finish<T>(shape: &[usize], out: Vec<T>, what: &str) -> Result<ArrayD<T>, EvalError> {
    ArrayD::from_shape_vec(IxDyn(shape), out).map_err(|e| internal(format!("{what}: {e}")))
}

/// `x [B, H, W, C]` conv `w [KH, KW, C, O]` -> `[B, OH, OW, O]`.
pub(crate) fn conv2d<T: Float>(
    x: &ArrayD<T>,
    w: &ArrayD<T>,
    win: &Window,
    shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    let g = Geo::new(x.shape(), shape, win)?;
    let (xs, ws) = (standard(x)?, standard(w)?);
    let o = shape[3];
    let (m, kc) = (g.b * g.oh * g.ow, g.kc());
    let mut out = pool.take(m * o);
    if m == 0 || o == 0 {
        return finish(shape, out, "conv2d");
    }
    if kc == 0 {
        out.fill(T::zero());
        return finish(shape, out, "conv2d");
    }
    let t = row_tiles(m, kc, o);
    let optr = Ptr(out.as_mut_ptr());
    let (xp, wp) = (Ptr(xs.as_ptr() as *mut T), Ptr(ws.as_ptr() as *mut T));
    let pointwise = g.pointwise();
    let task = |tile: usize| {
        let (optr, xp, wp) = (optr, xp, wp);
        let r0 = tile * t;
        let rows = t.min(m - r0);
        let mut cols = Vec::new();
        let a: *const T = if pointwise {
            // SAFETY: rows r0.. of the input seen as [M, C] (C == kc)
            unsafe { xp.0.add(r0 * kc) }
        } else {
            cols = vec![T::zero(); rows * kc];
            im2col(&xs, &g, r0, rows, &mut cols);
            cols.as_ptr()
        };
        // SAFETY: `a` is [rows, kc], the weight [kc, o], the output tile [rows, o]
        // is this task's own.
        unsafe {
            T::gemm(
                rows,
                kc,
                o,
                T::one(),
                a,
                kc as isize,
                1,
                wp.0,
                o as isize,
                1,
                T::zero(),
                optr.0.add(r0 * o),
                o as isize,
                1,
            );
        }
        drop(cols);
    };
    let tiles = m.div_ceil(t);
    if tiles > 1 {
        (0..tiles).into_par_iter().for_each(task);
    } else {
        task(0);
    }
    finish(shape, out, "conv2d")
}

/// The input gradient of a convolution: `g [B, OH, OW, O]`, `w [KH, KW, C, O]`
/// -> `[B, H, W, C]` (a transposed convolution), one task per image.
pub(crate) fn conv2d_input_grad<T: Float>(
    gr: &ArrayD<T>,
    w: &ArrayD<T>,
    win: &Window,
    shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    let g = Geo::new(shape, gr.shape(), win)?;
    let (gs, ws) = (standard(gr)?, standard(w)?);
    let o = gr.shape()[3];
    let kc = g.kc();
    let img = g.h * g.w * g.c;
    let per_image = g.oh * g.ow;
    let mut out = pool.take(g.b * img);
    if img == 0 {
        return finish(shape, out, "conv2d_input_grad");
    }
    // Whole images per task, as many as the row tiles of the product
    // `g @ Wᵀ` ([B * OH * OW, O] @ [O, KC], into a patch buffer of KC
    // columns) would hold; then the rows of a task's images are contiguous in
    // `g`.
    let t = row_tiles(g.b * per_image, kc, o);
    let images = (t / per_image.max(1)).clamp(1, g.b.max(1));
    let each = |(task, dx): (usize, &mut [T])| {
        dx.fill(T::zero());
        if o == 0 || per_image == 0 {
            return;
        }
        let b0 = task * images;
        let task_rows = (dx.len() / img) * per_image;
        let mut dcols = vec![T::zero(); t.min(task_rows) * kc];
        for r0 in (0..task_rows).step_by(t) {
            let rows = t.min(task_rows - r0);
            // SAFETY: g rows [rows, o] from row r0 of image b0; wᵀ is [o, kc] by
            // strides; dcols holds [rows, kc].
            unsafe {
                T::gemm(
                    rows,
                    o,
                    kc,
                    T::one(),
                    gs.as_ptr().add((b0 * per_image + r0) * o),
                    o as isize,
                    1,
                    ws.as_ptr(),
                    1,
                    o as isize,
                    T::zero(),
                    dcols.as_mut_ptr(),
                    kc as isize,
                    1,
                );
            }
            for i in 0..rows {
                let (b, rem) = ((r0 + i) / per_image, (r0 + i) % per_image);
                let (y, xo) = (rem / g.ow, rem % g.ow);
                let image = &mut dx[b * img..(b + 1) * img];
                let row = &dcols[i * kc..(i + 1) * kc];
                for ki in 0..g.kh {
                    for kj in 0..g.kw {
                        if let Some((hi, wi)) = g.at(y, xo, ki, kj) {
                            let p = (hi * g.w + wi) * g.c;
                            let src = &row[(ki * g.kw + kj) * g.c..(ki * g.kw + kj + 1) * g.c];
                            for (d, &s) in image[p..p + g.c].iter_mut().zip(src) {
                                *d = *d + s;
                            }
                        }
                    }
                }
            }
        }
    };
    if g.b > images {
        out.par_chunks_mut(img * images).enumerate().for_each(each);
    } else {
        out.chunks_mut(img * images).enumerate().for_each(each);
    }
    finish(shape, out, "conv2d_input_grad")
}

/// The weight gradient of a convolution: `x [B, H, W, C]`, `g [B, OH, OW, O]` ->
/// `[KH, KW, C, O]`, the sum over row tiles of `colsᵀ @ g`, added in tile order.
pub(crate) fn conv2d_weight_grad<T: Float>(
    x: &ArrayD<T>,
    gr: &ArrayD<T>,
    win: &Window,
    shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    let g = Geo::new(x.shape(), gr.shape(), win)?;
    let (xs, gs) = (standard(x)?, standard(gr)?);
    let o = shape[3];
    let (m, kc) = (g.b * g.oh * g.ow, g.kc());
    let mut out = pool.take(kc * o);
    out.fill(T::zero());
    if m == 0 || kc == 0 || o == 0 {
        return finish(shape, out, "conv2d_weight_grad");
    }
    let t = row_tiles(m, kc, o);
    let pointwise = g.pointwise();
    let partial = |tile: usize| -> Vec<T> {
        let r0 = tile * t;
        let rows = t.min(m - r0);
        let mut part = vec![T::zero(); kc * o];
        let mut cols = Vec::new();
        let a: *const T = if pointwise {
            // SAFETY: rows r0.. of the input seen as [M, C]
            unsafe { xs.as_ptr().add(r0 * kc) }
        } else {
            cols = vec![T::zero(); rows * kc];
            im2col(&xs, &g, r0, rows, &mut cols);
            cols.as_ptr()
        };
        // SAFETY: colsᵀ is [kc, rows] by strides, g rows [rows, o], part [kc, o].
        unsafe {
            T::gemm(
                kc,
                rows,
                o,
                T::one(),
                a,
                1,
                kc as isize,
                gs.as_ptr().add(r0 * o),
                o as isize,
                1,
                T::zero(),
                part.as_mut_ptr(),
                o as isize,
                1,
            );
        }
        drop(cols);
        part
    };
    let tiles = m.div_ceil(t);
    for start in (0..tiles).step_by(PARTIALS_AT_ONCE) {
        let end = (start + PARTIALS_AT_ONCE).min(tiles);
        let parts: Vec<Vec<T>> = if end - start > 1 {
            (start..end).into_par_iter().map(partial).collect()
        } else {
            vec![partial(start)]
        };
        for p in parts {
            for (a, b) in out.iter_mut().zip(&p) {
                *a = *a + *b;
            }
        }
    }
    finish(shape, out, "conv2d_weight_grad")
}

/// Runs `f(b, y, out_row)` for every output row `(b, y)` of `[B, OH, OW, C]`, in
/// parallel when large.
fn per_output_row<T: Float>(
    out: &mut [T],
    row_len: usize,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if row_len == 0 {
        return;
    }
    if out.len() >= 1 << 15 {
        out.par_chunks_mut(row_len)
            .enumerate()
            .for_each(|(i, o)| f(i, o));
    } else {
        out.chunks_mut(row_len)
            .enumerate()
            .for_each(|(i, o)| f(i, o));
    }
}

/// The first maximum of each channel in one pooling window: `best` the
/// values, `at` the window element (`ki * KW + kj`) holding each, `starts`
/// the offset of each element's pixel in the input (unused for padding).
struct Argmax<T> {
    best: Vec<T>,
    /// The next `best`, written whole each step (an update in place would be
    /// compiled to a store per taken lane, branching).
    next: Vec<T>,
    at: Vec<u32>,
    starts: Vec<usize>,
}

impl<T: Float> Argmax<T> {
    fn new(g: &Geo) -> Self {
        Argmax {
            best: vec![T::zero(); g.c],
            next: vec![T::zero(); g.c],
            at: vec![0; g.c],
            starts: vec![0; g.kh * g.kw],
        }
    }

    /// Finds the first maxima (row-major window order; a NaN beats any
    /// number) of window `(y, xo)` of image `b`; false when the window holds
    /// only padding.
    fn find(&mut self, x: &[T], g: &Geo, b: usize, y: usize, xo: usize) -> bool {
        let mut first = true;
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let Some((hi, wi)) = g.at(y, xo, ki, kj) else {
                    continue;
                };
                let k = ki * g.kw + kj;
                let p = g.pix(b, hi, wi);
                self.starts[k] = p;
                let xs = &x[p..p + g.c];
                if first {
                    self.best.copy_from_slice(xs);
                    self.at.fill(k as u32);
                    first = false;
                    continue;
                }
                // Branch-free, so that it vectorizes (and an unpredictable
                // comparison costs no mispredictions).
                let k = k as u32;
                let old = self.best.iter().zip(self.at.iter_mut());
                for ((nb, (&bv, at)), &v) in self.next.iter_mut().zip(old).zip(xs) {
                    let take = (v > bv) | (v.is_nan() & !bv.is_nan());
                    *nb = if take { v } else { bv };
                    *at = if take { k } else { *at };
                }
                std::mem::swap(&mut self.best, &mut self.next);
            }
        }
        !first
    }

    /// The input index of channel `ch`'s maximum (after [`Argmax::find`]).
    #[inline]
    fn index(&self, ch: usize) -> usize {
        self.starts[self.at[ch] as usize] + ch
    }
}

/// `t` at the first maximum of `x` in each window.
pub(crate) fn pool_select<T: Float>(
    x: &ArrayD<T>,
    t: &ArrayD<T>,
    win: &Window,
    shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    let g = Geo::new(x.shape(), shape, win)?;
    let (xs, ts) = (standard(x)?, standard(t)?);
    let mut out = pool.take(g.b * g.oh * g.ow * g.c);
    per_output_row(&mut out, g.ow * g.c, |row, o| {
        let (b, y) = (row / g.oh, row % g.oh);
        let mut am = Argmax::new(&g);
        for xo in 0..g.ow {
            let o = &mut o[xo * g.c..(xo + 1) * g.c];
            if am.find(&xs, &g, b, y, xo) {
                for (ch, v) in o.iter_mut().enumerate() {
                    *v = ts[am.index(ch)];
                }
            } else {
                o.fill(T::zero());
            }
        }
    });
    finish(shape, out, "pool_select")
}

/// Each `g` added at the first maximum of `x` in its window.
pub(crate) fn pool_scatter<T: Float>(
    x: &ArrayD<T>,
    gr: &ArrayD<T>,
    win: &Window,
    shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    let g = Geo::new(x.shape(), gr.shape(), win)?;
    let (xs, gs) = (standard(x)?, standard(gr)?);
    let img = g.h * g.w * g.c;
    let mut out = pool.take(g.b * img);
    per_output_row(&mut out, img, |b, dx| {
        dx.fill(T::zero());
        let mut am = Argmax::new(&g);
        for y in 0..g.oh {
            for xo in 0..g.ow {
                if !am.find(&xs, &g, b, y, xo) {
                    continue;
                }
                let q = ((b * g.oh + y) * g.ow + xo) * g.c;
                for (ch, &gv) in gs[q..q + g.c].iter().enumerate() {
                    let k = am.index(ch) - b * img;
                    dx[k] = dx[k] + gv;
                }
            }
        }
    });
    finish(shape, out, "pool_scatter")
}

/// Window sums (padding counts as zeros), in row-major window order.
pub(crate) fn pool_sum<T: Float>(
    x: &ArrayD<T>,
    win: &Window,
    shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    let g = Geo::new(x.shape(), shape, win)?;
    let xs = standard(x)?;
    let mut out = pool.take(g.b * g.oh * g.ow * g.c);
    per_output_row(&mut out, g.ow * g.c, |row, o| {
        let (b, y) = (row / g.oh, row % g.oh);
        o.fill(T::zero());
        for xo in 0..g.ow {
            let acc = &mut o[xo * g.c..(xo + 1) * g.c];
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    if let Some((hi, wi)) = g.at(y, xo, ki, kj) {
                        let p = g.pix(b, hi, wi);
                        for (a, &v) in acc.iter_mut().zip(&xs[p..p + g.c]) {
                            *a = *a + v;
                        }
                    }
                }
            }
        }
    });
    finish(shape, out, "pool_sum")
}

/// The adjoint of [`pool_sum`]: each `g` added to every input of its window.
pub(crate) fn pool_sum_t<T: Float>(
    gr: &ArrayD<T>,
    win: &Window,
    shape: &[usize],
    pool: &Pool<T>,
) -> Result<ArrayD<T>, EvalError> {
    let g = Geo::new(shape, gr.shape(), win)?;
    let gs = standard(gr)?;
    let img = g.h * g.w * g.c;
    let mut out = pool.take(g.b * img);
    per_output_row(&mut out, img, |b, dx| {
        dx.fill(T::zero());
        for y in 0..g.oh {
            for xo in 0..g.ow {
                let q = ((b * g.oh + y) * g.ow + xo) * g.c;
                for ki in 0..g.kh {
                    for kj in 0..g.kw {
                        if let Some((hi, wi)) = g.at(y, xo, ki, kj) {
                            let p = (hi * g.w + wi) * g.c;
                            for (d, &v) in dx[p..p + g.c].iter_mut().zip(&gs[q..q + g.c]) {
                                *d = *d + v;
                            }
                        }
                    }
                }
            }
        }
    });
    finish(shape, out, "pool_sum_t")
}
