//! Weights interleaved eight rows at a time, for CPUs with AVX-512 VNNI:
//! one `vpdpbusd` then computes a 4-element dot product for each of eight
//! weight rows at once, and the float work per block (scales, offsets) is
//! done for eight rows by one vector operation instead of one per row.
//!
//! The row-major kernels ([`super::x86`]) keep a block's 32 products in
//! the eight lanes of one vector and must convert and scale that vector
//! for every (weight row, block, activation row): about ten instructions
//! per block and a reduction at the end. Here lane `r` of every vector
//! belongs to weight row `r` of the group. For block `b`, vector `j` holds
//! bytes `4j..4j+4` of each row's block, so `vpdpbusd` with the four
//! activation bytes `4j..4j+4` broadcast to every lane adds those four
//! products to each row's lane; after the block's vectors each lane holds
//! that row's integer dot product, converted once and scaled by the
//! vector of the eight rows' `d` times the activation block's `d`
//! (llama.cpp's repacked `Q4_0_8x8` GEMV does the same for Q4_0 on ARM).
//! Nothing is requantized: the packed bytes are the GGUF bytes moved
//! (Q8_0's signed weights stored as `q + 128`, exactly), and
//! [`unpack_row`] gives back the GGUF block bit for bit.
//!
//! Per block of a group (8 rows × 32 weights), after the 16- or 32-byte
//! `f16` scales:
//!
//! | format | vectors | lane `r`, byte `t` of vector `j` | integer dot per lane |
//! |---|---|---|---|
//! | Q4_0 | 4 | `qs_r[4j+t]`: low nibble element `4j+t`, high `16+4j+t` | `Σ q·x − 8·Σx` |
//! | Q4_1 | 4 | as Q4_0; `m` as a second `f16` vector | `Σ q·x`, plus `m·d_x·Σx` |
//! | Q8_0 | 8 | `q_r[4j+t] + 128` | `Σ (q+128)·x − 128·Σx` |
//!
//! The offsets of Q4_0 and Q8_0 are removed in integers, so those two are
//! exact up to the final float scaling, as the scalar reference is.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::activations::ActBlock;
use super::formats::Format;

/// Weight rows interleaved in a group: one 32-bit lane each.
pub(crate) const ROWS: usize = 8;

/// Activation rows per pass over a group's block: its weights are decoded
/// once for all of them.
pub(crate) const TILE: usize = 4;

/// The dot products of one group's eight weight rows with each of
/// `x.len() / per_row` (at most [`TILE`]) activation rows: `out[n·8 + r]
/// = row r · x[n·per_row .. (n+1)·per_row]`.
pub(crate) type GroupFn = fn(group: &[u8], x: &[ActBlock], per_row: usize, out: &mut [f32]);

/// Bytes of one block of a group: the scales, then the weight vectors.
pub(crate) fn block_bytes(format: Format) -> Option<usize> {
    match format {
        Format::Q4_0 => Some(16 + 128),
        Format::Q4_1 => Some(32 + 128),
        Format::Q8_0 => Some(16 + 256),
        _ => None,
    }
}

/// The kernel for `format` when this CPU has AVX-512 VNNI (with VL, AVX2,
/// FMA and F16C) and the format has a packed layout.
pub(crate) fn select(format: Format) -> Option<GroupFn> {
    #[cfg(target_arch = "x86_64")]
    {
        let vnni = is_x86_feature_detected!("avx512vnni")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        if !vnni {
            return None;
        }
        // SAFETY (each wrapper below): handed out only here, after the
        // features its target_feature function needs were detected.
        let kernel: GroupFn = match format {
            Format::Q4_0 => |g, x, per_row, out| tiles(x, per_row, out, |n, o| unsafe { q4::<8>(g, x, per_row, n, o) }),
            Format::Q4_1 => |g, x, per_row, out| tiles(x, per_row, out, |n, o| unsafe { q4::<0>(g, x, per_row, n, o) }),
            Format::Q8_0 => |g, x, per_row, out| tiles(x, per_row, out, |n, o| unsafe { q8_0(g, x, per_row, n, o) }),
            _ => return None,
        };
        Some(kernel)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = format;
        None
    }
}

/// Checks the shapes once for the kernels (which then index without
/// bounds checks) and hands them the number of activation rows.
#[inline(always)]
fn tiles(x: &[ActBlock], per_row: usize, out: &mut [f32], kernel: impl FnOnce(usize, &mut [f32])) {
    let rows = out.len() / ROWS;
    assert!(per_row > 0 && rows <= TILE && out.len() == rows * ROWS && x.len() == rows * per_row);
    kernel(rows, out);
}

/// The packed form of a `rows × cols` matrix in ggml's row-major blocks,
/// or `None` when `format` has no packed layout or `rows` is not a whole
/// number of groups. Group `g`'s block `b` starts at byte
/// `(g · cols/32 + b) · block_bytes(format)`.
pub(crate) fn pack(format: Format, rows: usize, cols: usize, data: &[u8]) -> Option<Vec<u8>> {
    let group_block = block_bytes(format)?;
    if rows == 0 || !rows.is_multiple_of(ROWS) || !cols.is_multiple_of(32) {
        return None;
    }
    let (blocks, ggml) = (cols / 32, format.block_bytes());
    if data.len() != rows * blocks * ggml {
        return None;
    }
    let mut packed = vec![0u8; rows / ROWS * blocks * group_block];
    for (g, group) in packed.chunks_exact_mut(blocks * group_block).enumerate() {
        for (b, out) in group.chunks_exact_mut(group_block).enumerate() {
            for r in 0..ROWS {
                let row = g * ROWS + r;
                let block = &data[(row * blocks + b) * ggml..][..ggml];
                out[2 * r..2 * r + 2].copy_from_slice(&block[0..2]);
                match format {
                    Format::Q4_0 | Format::Q4_1 => {
                        let (scales, qs) =
                            if format == Format::Q4_1 { (32, &block[4..20]) } else { (16, &block[2..18]) };
                        if format == Format::Q4_1 {
                            out[16 + 2 * r..16 + 2 * r + 2].copy_from_slice(&block[2..4]);
                        }
                        for j in 0..4 {
                            out[scales + 32 * j + 4 * r..][..4].copy_from_slice(&qs[4 * j..4 * j + 4]);
                        }
                    }
                    _ => {
                        let qs = &block[2..34];
                        for j in 0..8 {
                            for t in 0..4 {
                                out[16 + 32 * j + 4 * r + t] = qs[4 * j + t] ^ 0x80;
                            }
                        }
                    }
                }
            }
        }
    }
    Some(packed)
}

/// Row `r`'s GGUF block `b` rebuilt from a packed group block: the exact
/// bytes [`pack`] moved.
fn unpack_block(format: Format, group_block: &[u8], r: usize, block: &mut [u8]) {
    block[0..2].copy_from_slice(&group_block[2 * r..2 * r + 2]);
    match format {
        Format::Q4_0 | Format::Q4_1 => {
            let (scales, qs_at) = if format == Format::Q4_1 { (32, 4) } else { (16, 2) };
            if format == Format::Q4_1 {
                block[2..4].copy_from_slice(&group_block[16 + 2 * r..16 + 2 * r + 2]);
            }
            for j in 0..4 {
                block[qs_at + 4 * j..qs_at + 4 * j + 4].copy_from_slice(&group_block[scales + 32 * j + 4 * r..][..4]);
            }
        }
        _ => {
            for j in 0..8 {
                for t in 0..4 {
                    block[2 + 4 * j + t] = group_block[16 + 32 * j + 4 * r + t] ^ 0x80;
                }
            }
        }
    }
}

/// Row `r` of a packed matrix of `cols` columns, decoded into `out`
/// (`cols` values) exactly as [`Format::dequantize_block`] decodes the
/// GGUF blocks.
pub(crate) fn unpack_row(format: Format, cols: usize, packed: &[u8], r: usize, out: &mut [f32]) {
    let Some(group_block) = block_bytes(format) else { return };
    let blocks = cols / 32;
    let group = &packed[r / ROWS * blocks * group_block..][..blocks * group_block];
    let mut block = vec![0u8; format.block_bytes()];
    for (source, out) in group.chunks_exact(group_block).zip(out.chunks_exact_mut(32)) {
        unpack_block(format, source, r % ROWS, &mut block);
        format.dequantize_block(&block, out);
    }
}

/// The four bytes `at..at + 4` of an activation block, broadcast to all
/// eight lanes.
///
/// # Safety
///
/// `a` must point at a live [`ActBlock`] and `at + 4 ≤ 32`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn broadcast(a: *const ActBlock, at: usize) -> __m256i {
    // SAFETY: the caller guarantees the block and that the four bytes lie
    // inside its `q` array; unaligned 32-bit read.
    _mm256_set1_epi32(unsafe { std::ptr::read_unaligned((*a).q.as_ptr().add(at).cast::<i32>()) })
}

/// Q4_0 (`OFFSET` 8) and Q4_1 (`OFFSET` 0: the `m` vector instead) for
/// `rows` (1 to [`TILE`]) activation rows.
///
/// # Safety
///
/// The CPU must have AVX-512 VNNI and VL, AVX2, FMA and F16C; `group` must
/// hold `per_row` group blocks, `x` `rows · per_row` blocks and `out`
/// `rows · 8` values ([`tiles`] checks the last two).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn q4<const OFFSET: i32>(group: &[u8], x: &[ActBlock], per_row: usize, rows: usize, out: &mut [f32]) {
    match rows {
        // SAFETY: the caller's guarantees, passed on.
        1 => unsafe { q4_rows::<OFFSET, 1>(group, x, per_row, out) },
        2 => unsafe { q4_rows::<OFFSET, 2>(group, x, per_row, out) },
        3 => unsafe { q4_rows::<OFFSET, 3>(group, x, per_row, out) },
        _ => unsafe { q4_rows::<OFFSET, 4>(group, x, per_row, out) },
    }
}

/// [`q4`] for `N` activation rows, all in registers.
///
/// # Safety
///
/// As [`q4`], with `rows = N`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn q4_rows<const OFFSET: i32, const N: usize>(group: &[u8], x: &[ActBlock], per_row: usize, out: &mut [f32]) {
    let with_min = OFFSET == 0;
    let (scales, stride) = if with_min { (32, 160) } else { (16, 144) };
    assert!(group.len() == per_row * stride);
    let mask = _mm256_set1_epi8(0x0F);
    let mut acc = [_mm256_setzero_ps(); N];
    let mut acc_min = [_mm256_setzero_ps(); N];
    for b in 0..per_row {
        // SAFETY: `b < per_row` and `group` holds `per_row` blocks of
        // `stride` bytes: the 16-byte scale loads and the four 32-byte
        // vector loads below read inside block `b`.
        let block = unsafe { group.as_ptr().add(b * stride) };
        let d = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(block.cast()) });
        let mut low = [_mm256_setzero_si256(); N];
        let mut high = [_mm256_setzero_si256(); N];
        for j in 0..4 {
            let w = unsafe { _mm256_loadu_si256(block.add(scales + 32 * j).cast()) };
            let (wl, wh) = (_mm256_and_si256(w, mask), _mm256_and_si256(_mm256_srli_epi16(w, 4), mask));
            for n in 0..N {
                // SAFETY: `n < N` rows of `per_row` blocks are in `x`;
                // bytes 4j..4j+4 and 16+4j..20+4j lie in its 32.
                let a = unsafe { x.as_ptr().add(n * per_row + b) };
                low[n] = _mm256_dpbusd_epi32(low[n], wl, unsafe { broadcast(a, 4 * j) });
                high[n] = _mm256_dpbusd_epi32(high[n], wh, unsafe { broadcast(a, 16 + 4 * j) });
            }
        }
        let m = if with_min { _mm256_cvtph_ps(unsafe { _mm_loadu_si128(block.add(16).cast()) }) } else { d };
        for n in 0..N {
            // SAFETY: as above.
            let a = unsafe { &*x.as_ptr().add(n * per_row + b) };
            let mut dots = _mm256_add_epi32(low[n], high[n]);
            if !with_min {
                dots = _mm256_sub_epi32(dots, _mm256_set1_epi32(OFFSET * a.sum));
            }
            acc[n] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), _mm256_mul_ps(d, _mm256_set1_ps(a.d)), acc[n]);
            if with_min {
                acc_min[n] = _mm256_fmadd_ps(m, _mm256_set1_ps(a.ds), acc_min[n]);
            }
        }
    }
    for n in 0..N {
        // SAFETY: `out` holds N·8 values.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(n * ROWS), _mm256_add_ps(acc[n], acc_min[n])) };
    }
}

/// Q8_0 for `rows` (1 to [`TILE`]) activation rows.
///
/// # Safety
///
/// As [`q4`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn q8_0(group: &[u8], x: &[ActBlock], per_row: usize, rows: usize, out: &mut [f32]) {
    match rows {
        // SAFETY: the caller's guarantees, passed on.
        1 => unsafe { q8_0_rows::<1>(group, x, per_row, out) },
        2 => unsafe { q8_0_rows::<2>(group, x, per_row, out) },
        3 => unsafe { q8_0_rows::<3>(group, x, per_row, out) },
        _ => unsafe { q8_0_rows::<4>(group, x, per_row, out) },
    }
}

/// [`q8_0`] for `N` activation rows.
///
/// # Safety
///
/// As [`q4`], with `rows = N`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn q8_0_rows<const N: usize>(group: &[u8], x: &[ActBlock], per_row: usize, out: &mut [f32]) {
    const STRIDE: usize = 16 + 256;
    assert!(group.len() == per_row * STRIDE);
    let mut acc = [_mm256_setzero_ps(); N];
    for b in 0..per_row {
        // SAFETY: as in `q4_rows`: block `b` of `STRIDE` bytes is in `group`.
        let block = unsafe { group.as_ptr().add(b * STRIDE) };
        let d = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(block.cast()) });
        let mut even = [_mm256_setzero_si256(); N];
        let mut odd = [_mm256_setzero_si256(); N];
        for j in (0..8).step_by(2) {
            let w0 = unsafe { _mm256_loadu_si256(block.add(16 + 32 * j).cast()) };
            let w1 = unsafe { _mm256_loadu_si256(block.add(16 + 32 * (j + 1)).cast()) };
            for n in 0..N {
                // SAFETY: as in `q4_rows`; bytes 4j..4j+8 lie in the 32.
                let a = unsafe { x.as_ptr().add(n * per_row + b) };
                even[n] = _mm256_dpbusd_epi32(even[n], w0, unsafe { broadcast(a, 4 * j) });
                odd[n] = _mm256_dpbusd_epi32(odd[n], w1, unsafe { broadcast(a, 4 * j + 4) });
            }
        }
        for n in 0..N {
            // SAFETY: as above.
            let a = unsafe { &*x.as_ptr().add(n * per_row + b) };
            let dots = _mm256_sub_epi32(_mm256_add_epi32(even[n], odd[n]), _mm256_set1_epi32(128 * a.sum));
            acc[n] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dots), _mm256_mul_ps(d, _mm256_set1_ps(a.d)), acc[n]);
        }
    }
    for (n, acc) in acc.iter().enumerate() {
        // SAFETY: `out` holds N·8 values.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(n * ROWS), *acc) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::activations::quantize_rows;
    use crate::model::kernels::formats::tests::candle_blocks;
    use crate::model::kernels::scalar;

    const PACKED: [Format; 3] = [Format::Q4_0, Format::Q4_1, Format::Q8_0];

    #[test]
    fn packing_keeps_every_block() {
        for format in PACKED {
            let (rows, cols) = (16, 96);
            let (data, decoded) = candle_blocks(format, rows * cols / 32, 3);
            let packed = pack(format, rows, cols, &data).expect("packs");
            assert_eq!(packed.len(), data.len(), "{format:?}: no bytes added");
            let mut row = vec![0.0; cols];
            for r in 0..rows {
                unpack_row(format, cols, &packed, r, &mut row);
                assert_eq!(row, decoded[r * cols..(r + 1) * cols], "{format:?} row {r}");
            }
        }
        assert!(pack(Format::Q4_1, 12, 32, &[0; 12 * 20]).is_none(), "not a whole group");
        assert!(pack(Format::Q5_0, 8, 32, &[0; 8 * 22]).is_none(), "no packed layout");
        assert!(pack(Format::Q4_1, 8, 32, &[0; 8 * 20 - 1]).is_none(), "short data");
    }

    /// Against the scalar reference on the unpacked rows, for 1 to 4
    /// activation rows and 1 to 23 blocks per row.
    #[test]
    fn kernels_agree_with_the_scalar_reference() {
        for format in PACKED {
            let Some(kernel) = select(format) else { continue };
            for seed in 0..60u64 {
                let blocks = 1 + seed as usize % 23;
                let acts = 1 + seed as usize % TILE;
                let cols = blocks * 32;
                let (data, _) = candle_blocks(format, ROWS * blocks, seed);
                let packed = pack(format, ROWS, cols, &data).expect("packs");
                let x: Vec<_> = (0..acts)
                    .flat_map(|n| quantize_rows(&scalar::tests::activations(cols, seed + 7 + n as u64), cols, 1))
                    .collect();
                let mut out = vec![0.0; acts * ROWS];
                kernel(&packed, &x, blocks, &mut out);
                let row_bytes = blocks * format.block_bytes();
                for n in 0..acts {
                    for r in 0..ROWS {
                        let reference =
                            scalar::dot(format, &data[r * row_bytes..][..row_bytes], &x[n * blocks..][..blocks]);
                        let got = out[n * ROWS + r];
                        assert!(
                            (got - reference).abs() <= 1e-4 * reference.abs().max(1.0),
                            "{format:?} seed {seed} act {n} row {r}: {got} against {reference}"
                        );
                    }
                }
            }
        }
    }
}
