//! `exp` for the loops over a vocabulary: log-softmax, the allowed mass of
//! a mask, drawing a token, attention's softmax and SiLU.
//!
//! libm's `exp` is a call per element that the compiler cannot vectorize;
//! over 49,152 logits per particle per step, three passes of it were a
//! quarter of the sampler's time beside a 64-particle model step. This one
//! is branch-free arithmetic (Cody–Waite reduction by `ln 2`, a degree-6
//! Taylor polynomial on `|r| ≤ ln 2 / 2`, the exponent put in by bits), so
//! loops over it vectorize; its relative error is below 3e-7 (the test),
//! a few `f32` ulps, and sums of its terms are kept in `f64`.

/// `e^x` to a relative error below 3e-7; 0 below −87 (where `f32` stops
/// being normal), NaN for NaN. Meant for `x ≤ 0` (arguments up to 88 are
/// finite, and larger ones give `e^88`).
#[inline]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that `n · LN2_HI` is exact for |n| ≤ 128 (Cody & Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2²³ rounds to an integer: no fraction bits are left.
    const SHIFT: f32 = 12_582_912.0;
    // min/max rather than branches, so the compiler can vectorize; NaN is
    // put back at the end.
    #[allow(clippy::manual_clamp)] // `clamp` keeps NaN, which does not vectorize.
    let clamped = x.max(-87.0).min(88.0);
    let shifted = clamped * LOG2E + SHIFT;
    let n = shifted - SHIFT;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^n from the exponent bits; n ∈ [−126, 127] after the clamp. `n` as
    // an integer is the low bits of `shifted` (no float-to-int conversion,
    // whose saturating form the compiler will not vectorize).
    let n_bits = shifted.to_bits().wrapping_sub(SHIFT.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    let y = p * scale;
    let y = if x < -87.0 { 0.0 } else { y };
    if x.is_nan() { x } else { y }
}

/// `Σ e^(x − shift)` over `xs`, each term by [`exp`]: eight `f32` partial
/// sums (so that the loop vectorizes) over runs of 256 values, whose sums
/// are added in `f64` (each `f32` partial adds at most 32 terms ≤ 1).
pub(crate) fn sum_exp(xs: &[f32], shift: f32) -> f64 {
    xs.chunks(256).map(|run| sum_run(run, |x| x - shift)).sum()
}

/// [`sum_exp`] for `f64` values (log-weights): each difference is taken in
/// `f64` and only its exponential in `f32`.
pub(crate) fn sum_exp_f64(xs: &[f64], shift: f64) -> f64 {
    xs.chunks(256).map(|run| sum_run(run, |x| (x - shift) as f32)).sum()
}

/// `Σ e^(argument(x))` over one run.
#[inline(always)]
fn sum_run<T: Copy>(run: &[T], argument: impl Fn(T) -> f32) -> f64 {
    let mut lanes = [0.0f32; 8];
    let chunks = run.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&x| f64::from(exp(argument(x)))).sum();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += exp(argument(x));
        }
    }
    lanes.iter().map(|&v| f64::from(v)).sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_a_few_ulps_of_f64s() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 87.0 * f64::from(i) / 200_000.0;
            let got = f64::from(exp(x as f32));
            let want = f64::from(x as f32).exp();
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(5.0) > 148.0 && exp(5.0) < 148.5);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn sums_match_the_f64_sum() {
        let xs: Vec<f32> = (0..1003).map(|i| -((i * 7919 % 1000) as f32) / 50.0).collect();
        let want: f64 = xs.iter().map(|&x| f64::from(x).exp()).sum();
        assert!((sum_exp(&xs, 0.0) - want).abs() <= 1e-6 * want, "{} against {want}", sum_exp(&xs, 0.0));
        let wide: Vec<f64> = xs.iter().map(|&x| f64::from(x) + 1000.0).collect();
        assert!((sum_exp_f64(&wide, 1000.0) - want).abs() <= 1e-6 * want);
    }
}
