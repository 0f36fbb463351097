//! `y = x·Wᵀ` for a quantized `W` over a batch of activation rows: the
//! product every weight matrix of the model goes through.
//!
//! The activations come quantized ([`activations`]: once per input, shared
//! by the products that read it); then
//! each task takes a run of weight rows and, for each row, computes its dot
//! product with **every** activation row before moving on, so a weight row
//! is read from memory once per call, whatever the batch (a 64-sequence
//! decode step reads the 98 MB of SmolLM2's weights once, not 64 times),
//! and the activation blocks (a few KB per row) stay in cache. Tasks are
//! spread over the model's [`pool`]; a task is at least [`MIN_ROWS_PER_TASK`] rows
//! so that scheduling costs stay small against the arithmetic.

use super::activations::{self, ActBlock};
use super::formats::Format;
use super::pool::{self, Shards};
use super::{packed, scalar, x86};

/// Weight rows per task at the least: 64 rows of 576 Q4_1 weights are 23 KB
/// and about 10 µs of work at batch 1.
const MIN_ROWS_PER_TASK: usize = 64;

/// Weight rows kept in L1 while the activations pass over them.
const WEIGHT_BLOCK: usize = 16;

/// Activation rows per pass over a block of weight rows (a multiple of the
/// kernels' own tile, four rows).
const ACT_TILE: usize = 8;

/// A quantized matrix in its GGUF blocks, `rows × cols`, row-major: row `r`
/// is `cols / block_len` consecutive blocks.
pub(crate) struct QuantMatrix {
    format: Format,
    rows: usize,
    cols: usize,
    data: Vec<u8>,
    layout: Layout,
}

/// How `data` holds the weights and which kernel reads them.
#[derive(Clone, Copy)]
enum Layout {
    /// ggml's rows of blocks, read by the row kernels ([`x86`], else
    /// [`scalar`]).
    Rows(Option<x86::RowsFn>),
    /// Groups of eight interleaved rows ([`packed`]), on CPUs with VNNI.
    Packed(packed::GroupFn),
}

impl std::fmt::Debug for QuantMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantMatrix")
            .field("format", &self.format)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field(
                "kernel",
                &match self.layout {
                    Layout::Rows(Some(_)) => "rows, SIMD",
                    Layout::Rows(None) => "rows, scalar",
                    Layout::Packed(_) => "packed, VNNI",
                },
            )
            .finish()
    }
}

impl QuantMatrix {
    /// The matrix of `data` (ggml's layout), or `None` when `data` does not
    /// hold exactly `rows × cols` values of `format` or `cols` is not a
    /// whole number of blocks.
    pub(crate) fn new(format: Format, rows: usize, cols: usize, data: Vec<u8>) -> Option<QuantMatrix> {
        if cols == 0 || !cols.is_multiple_of(format.block_len()) {
            return None;
        }
        let row_bytes = cols / format.block_len() * format.block_bytes();
        if rows.checked_mul(row_bytes) != Some(data.len()) {
            return None;
        }
        // Repacked where the VNNI kernels cover the format: the same
        // bytes moved, so nothing is lost and memory does not grow.
        if let Some(kernel) = packed::select(format)
            && let Some(interleaved) = packed::pack(format, rows, cols, &data)
        {
            return Some(QuantMatrix { format, rows, cols, data: interleaved, layout: Layout::Packed(kernel) });
        }
        Some(QuantMatrix { format, rows, cols, data, layout: Layout::Rows(x86::select(format)) })
    }

    /// Input columns.
    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    fn row_bytes(&self) -> usize {
        self.cols / self.format.block_len() * self.format.block_bytes()
    }

    fn row(&self, r: usize) -> &[u8] {
        let bytes = self.row_bytes();
        &self.data[r * bytes..(r + 1) * bytes]
    }

    /// Row `r` decoded into `out` (`cols` values): an embedding lookup.
    pub(crate) fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let format = self.format;
        if let Layout::Packed(_) = self.layout {
            packed::unpack_row(format, self.cols, &self.data, r, out);
            return;
        }
        for (block, out) in self.row(r).chunks_exact(format.block_bytes()).zip(out.chunks_exact_mut(format.block_len()))
        {
            format.dequantize_block(block, out);
        }
    }

    /// `y[n][o] = Σ_c x[n][c] · W[o][c]` for the `batch` rows of `x`, given
    /// as `terms` (1 or 2) rows of blocks each (each `cols / 32` blocks,
    /// [`activations::quantize_rows`]); `y` gets `rows` values per row of
    /// `x`.
    pub(crate) fn matmul(&self, quantized: &[ActBlock], batch: usize, terms: usize, y: &mut Vec<f32>) {
        let per_row = self.cols / activations::BLOCK;
        debug_assert!(terms == 1 || terms == 2);
        debug_assert_eq!(batch * terms * per_row, quantized.len());
        let simd = match self.layout {
            Layout::Packed(kernel) => return self.matmul_packed(kernel, quantized, batch, terms, y),
            Layout::Rows(simd) => simd,
        };
        let (outputs, batch) = (batch, batch * terms);
        // Computed transposed (weight row-major, the batch inner) so each
        // task writes one contiguous run; transposed back below.
        let mut transposed = vec![0.0f32; self.rows * batch];
        let pool = pool::global();
        let rows_per_task = MIN_ROWS_PER_TASK.max(self.rows / (4 * pool.threads()));
        let tasks = self.rows.div_ceil(rows_per_task);
        let out = Shards::new(&mut transposed, rows_per_task * batch);
        pool.run(tasks, &|task| {
            let first = task * rows_per_task;
            // SAFETY: each task index is run exactly once (`Pool::run`), so
            // shard `task` is borrowed by this call alone.
            let out = unsafe { out.shard(task) };
            // Blocked both ways: WEIGHT_BLOCK weight rows (about 15 KB of
            // Q4_1) stay in L1 while every tile of TILE activation rows
            // passes over them, so at large batches the activations are
            // read from L2 once per WEIGHT_BLOCK weight rows, not once per
            // row.
            for (block_index, out_block) in out.chunks_mut(WEIGHT_BLOCK * batch).enumerate() {
                let block_first = first + block_index * WEIGHT_BLOCK;
                for tile_first in (0..batch).step_by(ACT_TILE) {
                    let tile_len = ACT_TILE.min(batch - tile_first);
                    let x = &quantized[tile_first * per_row..(tile_first + tile_len) * per_row];
                    for (i, out_row) in out_block.chunks_exact_mut(batch).enumerate() {
                        let weights = self.row(block_first + i);
                        let out = &mut out_row[tile_first..tile_first + tile_len];
                        match simd {
                            Some(kernel) => kernel(weights, x, per_row, out),
                            None => {
                                for (o, x) in out.iter_mut().zip(x.chunks_exact(per_row)) {
                                    *o = scalar::dot(self.format, weights, x);
                                }
                            }
                        }
                    }
                }
            }
        });
        y.clear();
        y.resize(outputs * self.rows, 0.0);
        for (o, column) in transposed.chunks_exact(batch).enumerate() {
            for (n, terms) in column.chunks_exact(terms).enumerate() {
                y[n * self.rows + o] = terms.iter().sum();
            }
        }
    }
}

impl QuantMatrix {
    /// [`QuantMatrix::matmul`] on the packed layout: each task takes a run
    /// of groups of eight weight rows and, for each group, every tile of
    /// [`packed::TILE`] activation rows while the group's weights (3–8 KB)
    /// stay in L1; the kernel's eight outputs per activation row are eight
    /// consecutive values of `y`, written in place.
    fn matmul_packed(
        &self,
        kernel: packed::GroupFn,
        quantized: &[ActBlock],
        outputs: usize,
        terms: usize,
        y: &mut Vec<f32>,
    ) {
        let per_row = self.cols / activations::BLOCK;
        let group_bytes = per_row * packed::block_bytes(self.format).unwrap_or(0);
        let groups = self.rows / packed::ROWS;
        // Tiles hold whole outputs: TILE is a multiple of `terms`.
        let batch = outputs * terms;
        y.clear();
        y.resize(outputs * self.rows, 0.0);
        let pool = pool::global();
        let groups_per_task = (MIN_ROWS_PER_TASK / packed::ROWS).max(groups / (4 * pool.threads()));
        let out = Scatter::new(y);
        pool.run(groups.div_ceil(groups_per_task), &|task| {
            let mut tile = [0.0f32; packed::ROWS * packed::TILE];
            for g in task * groups_per_task..groups.min((task + 1) * groups_per_task) {
                let weights = &self.data[g * group_bytes..(g + 1) * group_bytes];
                for first in (0..batch).step_by(packed::TILE) {
                    let rows = packed::TILE.min(batch - first);
                    let tile = &mut tile[..rows * packed::ROWS];
                    kernel(weights, &quantized[first * per_row..(first + rows) * per_row], per_row, tile);
                    for (n, values) in tile.chunks_exact(packed::ROWS * terms).enumerate() {
                        let mut sum = [0.0f32; packed::ROWS];
                        for term in values.chunks_exact(packed::ROWS) {
                            for (s, v) in sum.iter_mut().zip(term) {
                                *s += v;
                            }
                        }
                        // SAFETY: outputs `g·8 .. g·8 + 8` of every input
                        // row belong to group `g`, which only this task
                        // computes.
                        unsafe { out.write((first / terms + n) * self.rows + g * packed::ROWS, &sum) };
                    }
                }
            }
        });
    }
}

/// A slice that the tasks of one job write at disjoint places.
struct Scatter<'a> {
    ptr: *mut f32,
    len: usize,
    _slice: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: the tasks sharing a `Scatter` write disjoint ranges of a slice it
// borrows mutably (the contract of `write`); `f32` is `Send`.
unsafe impl Sync for Scatter<'_> {}

impl<'a> Scatter<'a> {
    fn new(slice: &'a mut [f32]) -> Scatter<'a> {
        Scatter { ptr: slice.as_mut_ptr(), len: slice.len(), _slice: std::marker::PhantomData }
    }

    /// Copies `values` to `at..at + values.len()`.
    ///
    /// # Safety
    ///
    /// No other thread may read or write that range during the job.
    unsafe fn write(&self, at: usize, values: &[f32]) {
        assert!(at + values.len() <= self.len, "a write past the output");
        // SAFETY: in bounds (checked above); exclusive by the caller's
        // guarantee.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), self.ptr.add(at), values.len()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::formats::tests::candle_blocks;
    use crate::model::kernels::scalar::tests::activations;

    /// Against the f64 product of the decoded weights with the unquantized
    /// activations: the error is the activations' 8-bit rounding only.
    #[test]
    fn matmul_matches_the_decoded_product() {
        // 70 rows: the row layout; 72: whole groups of eight, packed where
        // the CPU has the VNNI kernels. Batches of 3 and 9: one short tile,
        // and whole tiles with a remainder.
        for (format, rows, batch) in Format::ALL.iter().flat_map(|&f| [(f, 70, 3), (f, 72, 3), (f, 72, 9)]) {
            let cols = 2 * format.block_len();
            let blocks_per_row = cols / format.block_len();
            let (data, decoded) = candle_blocks(format, rows * blocks_per_row, 5);
            let matrix = QuantMatrix::new(format, rows, cols, data).expect("shape");
            let x = activations(batch * cols, 9);
            let mut y = Vec::new();
            matrix.matmul(&activations::quantize_rows(&x, cols, 1), batch, 1, &mut y);
            let mut two_terms = Vec::new();
            matrix.matmul(&activations::quantize_rows(&x, cols, 2), batch, 2, &mut two_terms);
            assert_eq!(y.len(), batch * rows);
            for n in 0..batch {
                let xs = &x[n * cols..(n + 1) * cols];
                for o in 0..rows {
                    let w = &decoded[o * cols..(o + 1) * cols];
                    let exact: f64 = w.iter().zip(xs).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                    let magnitude: f64 = w.iter().zip(xs).map(|(&a, &b)| f64::from((a * b).abs())).sum();
                    let got = f64::from(y[n * rows + o]);
                    assert!(
                        (got - exact).abs() <= 0.02 * magnitude.max(1e-3),
                        "{format:?} ({n}, {o}): {got} against {exact}"
                    );
                    // Two terms: the activations' error is 254 times
                    // smaller, so the bound is 100 times tighter.
                    let got = f64::from(two_terms[n * rows + o]);
                    assert!(
                        (got - exact).abs() <= 2e-4 * magnitude.max(1e-3),
                        "{format:?} ({n}, {o}), two terms: {got} against {exact}"
                    );
                }
            }
            let mut row = vec![0.0; cols];
            matrix.dequantize_row(3, &mut row);
            assert_eq!(row, decoded[3 * cols..4 * cols]);
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused() {
        assert!(QuantMatrix::new(Format::Q4_1, 2, 32, vec![0; 40]).is_some());
        assert!(QuantMatrix::new(Format::Q4_1, 2, 32, vec![0; 39]).is_none());
        assert!(QuantMatrix::new(Format::Q4_1, 2, 31, vec![0; 40]).is_none());
        assert!(QuantMatrix::new(Format::Q4K, 1, 32, vec![0; 144]).is_none());
    }
}
