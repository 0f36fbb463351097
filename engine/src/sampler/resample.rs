//! Resampling schemes and the effective sample size.

use rand::Rng;

/// How SMC picks ancestors when it resamples. All three are unbiased: each
/// particle is expected to get `N·w̄_i` copies. Systematic and residual
/// resampling add less variance than multinomial (Douc, Cappé & Moulines
/// 2005), so systematic is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Resampling {
    /// N independent draws from the weights.
    Multinomial,
    /// One uniform offset, N evenly spaced points through the cumulative
    /// weights.
    #[default]
    Systematic,
    /// `⌊N·w̄_i⌋` copies of each particle, the rest drawn multinomially from
    /// the remainders.
    Residual,
}

/// The effective sample size `(Σ w)² / Σ w²` of log-weights: N for equal
/// weights, 1 when one particle holds all the weight, 0 when all are zero.
///
/// ```
/// use trellis_engine::sampler::effective_sample_size;
///
/// assert!((effective_sample_size(&[0.0; 8]) - 8.0).abs() < 1e-12);
/// assert!((effective_sample_size(&[0.0, f64::NEG_INFINITY]) - 1.0).abs() < 1e-12);
/// ```
pub fn effective_sample_size(log_weights: &[f64]) -> f64 {
    let max = log_weights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return 0.0;
    }
    let (sum, sum_sq) = log_weights.iter().fold((0.0, 0.0), |(s, s2), &lw| {
        let w = (lw - max).exp();
        (s + w, s2 + w * w)
    });
    sum * sum / sum_sq
}

/// `count` ancestor indices drawn from `log_weights` by `scheme`, in
/// increasing order. Empty if every weight is zero.
///
/// ```
/// use rand::SeedableRng;
/// use trellis_engine::sampler::{Resampling, resample};
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let weights = [0.0, f64::NEG_INFINITY, 3f64.ln()];
/// let ancestors = resample(Resampling::Systematic, &weights, 4, &mut rng);
/// assert_eq!(ancestors, [0, 2, 2, 2]); // exactly 1 and 3 copies
/// ```
pub fn resample(scheme: Resampling, log_weights: &[f64], count: usize, rng: &mut (impl Rng + ?Sized)) -> Vec<usize> {
    let max = log_weights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY || count == 0 {
        return Vec::new();
    }
    let weights: Vec<f64> = log_weights.iter().map(|&lw| (lw - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let normalised: Vec<f64> = weights.iter().map(|w| w / total).collect();
    let mut ancestors = Vec::with_capacity(count);
    match scheme {
        Resampling::Multinomial => {
            let mut points: Vec<f64> = (0..count).map(|_| rng.random::<f64>()).collect();
            points.sort_unstable_by(f64::total_cmp);
            walk_cumulative(&normalised, &points, &mut ancestors);
        }
        Resampling::Systematic => {
            let offset = rng.random::<f64>();
            let points: Vec<f64> = (0..count).map(|i| (i as f64 + offset) / count as f64).collect();
            walk_cumulative(&normalised, &points, &mut ancestors);
        }
        Resampling::Residual => {
            let mut residuals = Vec::with_capacity(normalised.len());
            for (i, &w) in normalised.iter().enumerate() {
                let copies = (w * count as f64).floor() as usize;
                ancestors.extend(std::iter::repeat_n(i, copies));
                residuals.push(w * count as f64 - copies as f64);
            }
            let left = count - ancestors.len().min(count);
            if left > 0 {
                let residual_total: f64 = residuals.iter().sum();
                let residual_weights: Vec<f64> = residuals.iter().map(|r| r / residual_total).collect();
                let mut points: Vec<f64> = (0..left).map(|_| rng.random::<f64>()).collect();
                points.sort_unstable_by(f64::total_cmp);
                walk_cumulative(&residual_weights, &points, &mut ancestors);
            }
            ancestors.truncate(count);
            ancestors.sort_unstable();
        }
    }
    ancestors
}

/// For sorted points in [0, 1), the index whose cumulative-weight interval
/// holds each point. Points past the total (rounding) go to the last
/// particle with positive weight.
fn walk_cumulative(weights: &[f64], points: &[f64], out: &mut Vec<usize>) {
    let last_positive = weights.iter().rposition(|&w| w > 0.0).unwrap_or(0);
    let mut index = 0;
    let mut cumulative = weights.first().copied().unwrap_or(0.0);
    for &point in points {
        while point >= cumulative && index < last_positive {
            index += 1;
            cumulative += weights[index];
        }
        out.push(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_scheme_is_unbiased() {
        let log_weights: Vec<f64> = [0.1, 0.0, 0.45, 0.05, 0.4].iter().map(|w: &f64| w.ln()).collect();
        for scheme in [Resampling::Multinomial, Resampling::Systematic, Resampling::Residual] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(11);
            let mut counts = [0usize; 5];
            let runs = 20_000;
            for _ in 0..runs {
                let ancestors = resample(scheme, &log_weights, 8, &mut rng);
                assert_eq!(ancestors.len(), 8);
                for a in ancestors {
                    counts[a] += 1;
                }
            }
            assert_eq!(counts[1], 0, "{scheme:?}");
            for (i, w) in [0.1, 0.0, 0.45, 0.05, 0.4].iter().enumerate() {
                let mean = counts[i] as f64 / runs as f64;
                assert!((mean - 8.0 * w).abs() < 0.03, "{scheme:?}: particle {i}: {mean} copies");
            }
        }
    }

    #[test]
    fn zero_weights_give_no_ancestors() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!(resample(Resampling::Residual, &[f64::NEG_INFINITY; 3], 3, &mut rng).is_empty());
        assert_eq!(effective_sample_size(&[f64::NEG_INFINITY; 3]), 0.0);
    }
}
