//! What a run cost, and interval estimates.

use serde::Serialize;

/// Counters and timings of one sampler run.
///
/// `model_calls` counts forward passes (a prompt prefill, a batched
/// `extend` for many sequences, an `append` of forced tokens: one each);
/// `mask_seconds` is the time spent computing masks and the proposal;
/// `sampler_seconds` is everything that is neither the model, the masks nor
/// the verifier (weights, resampling, bookkeeping).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunStats {
    /// Forward passes.
    pub model_calls: u64,
    /// Final-verifier calls.
    pub verifier_calls: u64,
    /// Tokens sampled (over all sequences or particles).
    pub tokens: u64,
    /// Wall time of the whole run.
    pub total_seconds: f64,
    /// Time inside the model.
    pub model_seconds: f64,
    /// Time computing masks and proposals.
    pub mask_seconds: f64,
    /// Time inside the verifier.
    pub verifier_seconds: f64,
    /// The rest: the sampler's own overhead.
    pub sampler_seconds: f64,
}

impl RunStats {
    pub(crate) fn finish(&mut self, started: std::time::Instant) {
        self.total_seconds = started.elapsed().as_secs_f64();
        self.sampler_seconds =
            (self.total_seconds - self.model_seconds - self.mask_seconds - self.verifier_seconds).max(0.0);
    }

    /// Adds another run's counters to these.
    pub fn add(&mut self, other: &RunStats) {
        self.model_calls += other.model_calls;
        self.verifier_calls += other.verifier_calls;
        self.tokens += other.tokens;
        self.total_seconds += other.total_seconds;
        self.model_seconds += other.model_seconds;
        self.mask_seconds += other.mask_seconds;
        self.verifier_seconds += other.verifier_seconds;
        self.sampler_seconds += other.sampler_seconds;
    }
}

/// A proportion with its 95% Wilson score interval.
///
/// ```
/// use trellis_engine::sampler::Interval;
///
/// let rate = Interval::wilson(30, 100);
/// assert!((rate.rate - 0.3).abs() < 1e-12);
/// assert!(rate.low < 0.3 && 0.3 < rate.high);
/// assert_eq!(Interval::wilson(0, 0).high, 1.0); // no data: anything goes
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// The point estimate `successes / trials` (0 without trials).
    pub rate: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

impl Interval {
    /// The Wilson score interval at 95% (z = 1.96): unlike the normal
    /// approximation it stays inside [0, 1] and is sensible at 0 successes,
    /// which is what a rare constraint gives.
    pub fn wilson(successes: u64, trials: u64) -> Interval {
        if trials == 0 {
            return Interval { rate: 0.0, low: 0.0, high: 1.0 };
        }
        let z = 1.96f64;
        let n = trials as f64;
        let p = successes as f64 / n;
        let denominator = 1.0 + z * z / n;
        let centre = (p + z * z / (2.0 * n)) / denominator;
        let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
        Interval { rate: p, low: (centre - half).max(0.0), high: (centre + half).min(1.0) }
    }
}
