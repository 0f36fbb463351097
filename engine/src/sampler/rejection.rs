//! Rejection sampling: exact draws from `g ∝ a·b`.

use rand::Rng;
use serde::Serialize;
use trellis_token_index::{TokenError, TokenMatcher};

use super::draft::{Draft, Drafting};
use super::{Interval, RunStats, Sample, SamplerError, Task};
use crate::model::LanguageModel;

/// Settings of [`RejectionSampler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RejectionConfig {
    /// Tries before giving up. Default 100,000.
    pub max_tries: u64,
    /// Tries run side by side in one batched model call per step. Only
    /// whole batches are used, and accepted samples are kept in the order
    /// of their tries, so the output does not favour tries that finish
    /// early. Default 1.
    pub batch: usize,
}

impl Default for RejectionConfig {
    fn default() -> Self {
        RejectionConfig { max_tries: 100_000, batch: 1 }
    }
}

/// What rejection sampling did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RejectionStats {
    /// Unconstrained samples started.
    pub tries: u64,
    /// Tries in the target (grammar, budget and verifier).
    pub accepted: u64,
    /// Tries cut short as soon as their prefix left the language: no
    /// continuation could be accepted, so stopping early is still exact.
    pub early_rejections: u64,
    /// Tries with no EOS within the budget.
    pub length_rejections: u64,
    /// Tries the grammar accepted and the verifier refused.
    pub verifier_rejections: u64,
    /// Counters and timings.
    pub run: RunStats,
}

impl RejectionStats {
    /// The acceptance rate `accepted / tries` with its 95% Wilson
    /// interval: an estimate of Z.
    pub fn acceptance(&self) -> Interval {
        Interval::wilson(self.accepted, self.tries)
    }
}

/// The accepted samples and the statistics of a rejection run.
#[derive(Clone, Debug)]
pub struct RejectionRun {
    /// Independent exact samples from `g`, in the order of their tries.
    pub samples: Vec<Sample>,
    /// What it cost.
    pub stats: RejectionStats,
}

/// Rejection sampling (design.md §4): draw from the model unconstrained,
/// keep the output iff the constraint accepts it. Exact; costs `1/Z` tries.
#[derive(Clone, Debug, Default)]
pub struct RejectionSampler {
    config: RejectionConfig,
}

impl RejectionSampler {
    /// A sampler; fails on out-of-range settings.
    pub fn new(config: RejectionConfig) -> Result<RejectionSampler, SamplerError> {
        if config.batch == 0 || config.max_tries == 0 {
            return Err(SamplerError::InvalidConfig("batch and max_tries must be at least 1".into()));
        }
        Ok(RejectionSampler { config })
    }

    /// The settings.
    pub fn config(&self) -> &RejectionConfig {
        &self.config
    }

    /// Up to `wanted` samples, stopping at the try budget without an
    /// error (the run says how many it got).
    pub fn run(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        wanted: usize,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<RejectionRun, SamplerError> {
        self.tries(model, task, wanted, self.config.max_tries, rng)
    }

    /// Exactly `wanted` samples, or [`SamplerError::BudgetExhausted`].
    pub fn sample_n(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        wanted: usize,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<RejectionRun, SamplerError> {
        let run = self.run(model, task, wanted, rng)?;
        if run.samples.len() < wanted {
            return Err(SamplerError::BudgetExhausted {
                tries: run.stats.tries,
                accepted: run.stats.accepted,
                wanted,
                upper: run.stats.acceptance().high,
            });
        }
        Ok(run)
    }

    /// Exactly `tries` tries whatever they give: measures the acceptance
    /// rate (the accepted samples come along).
    pub fn measure(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        tries: u64,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<RejectionRun, SamplerError> {
        self.tries(model, task, usize::MAX, tries, rng)
    }

    fn tries(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        wanted: usize,
        max_tries: u64,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<RejectionRun, SamplerError> {
        let mut drafting = Drafting::new(model, task)?;
        let mut run = self.tries_in(&mut drafting, wanted, max_tries, rng)?;
        run.stats.run = drafting.finish();
        Ok(run)
    }

    /// Up to `wanted` samples in at most `max_tries` tries, within a run's
    /// [`Drafting`] (whose stats are the run's).
    pub(crate) fn tries_in(
        &self,
        drafting: &mut Drafting<'_, '_>,
        wanted: usize,
        max_tries: u64,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<RejectionRun, SamplerError> {
        let mut stats = RejectionStats::default();
        let mut samples = Vec::new();
        let mut root = drafting.start()?;
        let mut batch = Vec::with_capacity(self.config.batch);
        let result = (|| -> Result<(), SamplerError> {
            while samples.len() < wanted && stats.tries < max_tries {
                let size = (max_tries - stats.tries).min(self.config.batch as u64) as usize;
                batch.clear();
                for _ in 0..size {
                    batch.push(drafting.fork(&root)?);
                }
                stats.tries += size as u64;
                drafting.progress.tries = stats.tries;
                self.run_batch(drafting, &mut batch, &mut samples, &mut stats, rng)?;
                drafting.progress.accepted = stats.accepted;
            }
            Ok(())
        })();
        // Sequences of an interrupted batch; finished ones are gone.
        drafting.release(&mut batch);
        drafting.drop_sequence(&mut root)?;
        result?;
        samples.truncate(wanted);
        Ok(RejectionRun { samples, stats })
    }

    /// Runs one batch to the end, appending accepted samples in try order.
    fn run_batch(
        &self,
        drafting: &mut Drafting<'_, '_>,
        batch: &mut Vec<Draft>,
        samples: &mut Vec<Sample>,
        stats: &mut RejectionStats,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<(), SamplerError> {
        // Accepted samples of this batch by try index, so the batch's
        // output order does not depend on which tries finish first.
        let mut accepted: Vec<Option<Sample>> = vec![None; batch.len()];
        let mut index: Vec<usize> = (0..batch.len()).collect();
        while !batch.is_empty() {
            let mut i = 0;
            while i < batch.len() {
                let draft = &mut batch[i];
                let at_limit = draft.sample.tokens.len() >= drafting.budget;
                let token = drafting
                    .allowed(draft, false)?
                    .sample(rng)
                    .ok_or(SamplerError::NoMass { tokens: draft.sample.tokens.len() })?;
                // `None`: the try goes on; `Some(in_grammar)`: it ended.
                let ended = if drafting.vocabulary.is_eos(token) {
                    if draft.matcher.as_ref().is_none_or(TokenMatcher::is_complete) {
                        drafting.commit(draft, token)?;
                        Some(true)
                    } else {
                        stats.early_rejections += 1;
                        Some(false)
                    }
                } else if at_limit {
                    stats.length_rejections += 1;
                    Some(false)
                } else {
                    match drafting.commit(draft, token) {
                        Ok(_) => None,
                        Err(SamplerError::Token(TokenError::NotAllowed { .. })) => {
                            stats.early_rejections += 1;
                            Some(false)
                        }
                        Err(error) => return Err(error),
                    }
                };
                let Some(in_grammar) = ended else {
                    i += 1;
                    continue;
                };
                if !in_grammar {
                    // The drawn token was not committed; it still counts.
                    drafting.stats.tokens += 1;
                }
                let mut draft = batch.swap_remove(i);
                let try_index = index.swap_remove(i);
                drafting.drop_sequence(&mut draft)?;
                if in_grammar {
                    if drafting.verify(&draft)? {
                        stats.accepted += 1;
                        accepted[try_index] = Some(draft.sample);
                    } else {
                        stats.verifier_rejections += 1;
                    }
                }
            }
            drafting.extend()?;
        }
        samples.extend(accepted.into_iter().flatten());
        Ok(())
    }
}
