//! The locally constrained proposal `q(x) = a(x)·m_t(x) / Z_t` that every
//! sampler but rejection draws from, and its log-space arithmetic.

use rand::Rng;
use trellis_token_index::{TokenError, TokenId, TokenMatcher, TokenSet, Vocabulary};

/// The tokens allowed at one step with their model log-probabilities
/// (tokens the model gives probability zero are left out), and
/// `log Z_t`, the log of the mass the mask lets through. Reused across
/// steps so that a step allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Allowed {
    pub tokens: Vec<TokenId>,
    pub logprobs: Vec<f64>,
    pub log_mass: f64,
}

impl Allowed {
    /// The allowed tokens after a prefix: `matcher`'s mask (every token
    /// without a constraint), or only EOS at the step after the budget
    /// (`at_limit`), and only if the text is complete.
    pub fn fill(
        &mut self,
        logprobs: &[f32],
        matcher: Option<&TokenMatcher>,
        at_limit: bool,
        vocabulary: &Vocabulary,
        mask: &mut TokenSet,
    ) -> Result<(), TokenError> {
        self.tokens.clear();
        self.logprobs.clear();
        if at_limit {
            if matcher.is_none_or(TokenMatcher::is_complete) {
                for &eos in vocabulary.eos_tokens() {
                    self.push(eos, logprobs);
                }
            }
        } else {
            match matcher {
                Some(matcher) => {
                    matcher.mask(mask)?;
                    for (word_index, &word) in mask.words().iter().enumerate() {
                        let mut bits = word;
                        while bits != 0 {
                            let token = (word_index * 64) as u32 + bits.trailing_zeros();
                            bits &= bits - 1;
                            self.push(token, logprobs);
                        }
                    }
                }
                None => {
                    for token in 0..logprobs.len() {
                        self.push(token as TokenId, logprobs);
                    }
                }
            }
        }
        self.log_mass = log_sum_exp_wide(&self.logprobs);
        Ok(())
    }

    fn push(&mut self, token: TokenId, logprobs: &[f32]) {
        if let Some(&lp) = logprobs.get(token as usize)
            && lp > f32::NEG_INFINITY
        {
            self.tokens.push(token);
            self.logprobs.push(f64::from(lp));
        }
    }

    /// Whether no allowed token has positive probability.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Draws a token from `q` (the allowed tokens in proportion to their
    /// model probability). `None` when empty.
    ///
    /// One pass, against the mass already known (`log_mass`), with the
    /// terms' exponentials in `f32` as in [`log_sum_exp_wide`]: drawing
    /// from 40,000 allowed tokens was three passes of libm's `exp`.
    pub fn sample(&self, rng: &mut (impl Rng + ?Sized)) -> Option<TokenId> {
        if self.log_mass == f64::NEG_INFINITY || self.log_mass.is_nan() {
            return None;
        }
        // Σ exp(lp − log_mass) is 1 up to the rounding of the terms.
        let mut target = rng.random::<f64>();
        let mut last_positive = None;
        for (i, &lp) in self.logprobs.iter().enumerate() {
            if lp == f64::NEG_INFINITY {
                continue;
            }
            last_positive = Some(i);
            target -= f64::from(crate::numeric::exp((lp - self.log_mass) as f32));
            if target < 0.0 {
                return Some(self.tokens[i]);
            }
        }
        // Rounding left a sliver of mass past the last token.
        last_positive.map(|i| self.tokens[i])
    }
}

/// `ln Σ exp(x)`, stable; `-inf` for an empty slice.
pub(crate) fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    max + values.iter().map(|&x| (x - max).exp()).sum::<f64>().ln()
}

/// [`log_sum_exp`] for vocabulary-sized slices (a mask's allowed mass):
/// the terms' exponentials in `f32` ([`crate::numeric::exp`], relative
/// error 3e-7), summed in `f64`, so the loop vectorizes.
pub(crate) fn log_sum_exp_wide(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    max + crate::numeric::sum_exp_f64(values, max).ln()
}

/// An index drawn in proportion to `exp(log_weights)`; `None` when every
/// weight is zero.
pub(crate) fn sample_log_weights(log_weights: &[f64], rng: &mut (impl Rng + ?Sized)) -> Option<usize> {
    let max = log_weights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return None;
    }
    let total: f64 = log_weights.iter().map(|&x| (x - max).exp()).sum();
    let mut target = rng.random::<f64>() * total;
    let mut last_positive = None;
    for (i, &x) in log_weights.iter().enumerate() {
        if x == f64::NEG_INFINITY {
            continue;
        }
        last_positive = Some(i);
        target -= (x - max).exp();
        if target < 0.0 {
            return Some(i);
        }
    }
    // Rounding left a sliver of mass past the last token.
    last_positive
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn log_sum_exp_is_stable() {
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
        assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-9);
        assert!((log_sum_exp(&[0.5f64.ln(), 0.25f64.ln()]) - 0.75f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn sampling_never_picks_zero_weights() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let weights = [f64::NEG_INFINITY, 0.0, f64::NEG_INFINITY, 1.0f64.ln()];
        let mut counts = [0usize; 4];
        for _ in 0..10_000 {
            counts[sample_log_weights(&weights, &mut rng).unwrap_or(0)] += 1;
        }
        assert_eq!((counts[0], counts[2]), (0, 0));
        assert!((counts[1] as f64 / 10_000.0 - 0.5).abs() < 0.03, "{counts:?}");
        assert_eq!(sample_log_weights(&[f64::NEG_INFINITY], &mut rng), None);
    }
}
