//! Blockwise best-of-K (controlled decoding).

use rand::Rng;

use super::draft::{Draft, Drafting, Step};
use super::{Potential, RunStats, Sample, SamplerError, Task};
use crate::model::LanguageModel;

/// Settings of [`BestOfK`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BestOfKConfig {
    /// Continuations per block, K. Default 4.
    pub candidates: usize,
    /// Tokens per block, L. Default 8.
    pub block_tokens: usize,
}

impl Default for BestOfKConfig {
    fn default() -> Self {
        BestOfKConfig { candidates: 4, block_tokens: 8 }
    }
}

/// The output of [`BestOfK::run`].
#[derive(Clone, Debug)]
pub struct BestOfKStats {
    /// Blocks decoded.
    pub blocks: usize,
    /// The winning candidate's final score `ln φ(text)`.
    pub log_score: f64,
    /// Counters and timings.
    pub run: RunStats,
}

/// Blockwise best-of-K (controlled decoding, Mudgal et al. 2024): from the
/// current prefix, draw K continuations of up to L tokens from the masked
/// proposal, keep the one the scorer ranks highest ([`Potential`]:
/// `log_potential` for unfinished candidates, `log_final` for finished
/// ones), and go on from it until it ends. Every output is in the
/// language; the distribution is tilted towards the scorer, not exact.
///
/// ```
/// use std::sync::Arc;
/// use rand::SeedableRng;
/// use trellis_engine::model::TableModel;
/// use trellis_engine::sampler::{BestOfK, BestOfKConfig, Task};
/// use trellis_grammars::{CompiledGrammar, Format};
/// use trellis_token_index::{TokenConstraint, TokenIndex, TokenKind, Vocabulary};
///
/// let vocabulary = Arc::new(Vocabulary::from_tokens(
///     vec![(b"<eos>".to_vec(), TokenKind::Special), (b"0".to_vec(), TokenKind::Normal), (b"1".to_vec(), TokenKind::Normal)],
///     vec![0],
///     None,
/// )?);
/// let mut model = TableModel::random(Arc::clone(&vocabulary), 1, 9)?;
/// let grammar = CompiledGrammar::new("[01]{1,6}", Format::Regex)?;
/// let constraint = TokenConstraint::new(&grammar, &TokenIndex::new(vocabulary));
/// let ones = |text: &[u8]| text.iter().filter(|&&b| b == b'1').count() as f64;
/// let sampler = BestOfK::new(BestOfKConfig { candidates: 8, block_tokens: 2 }, &ones)?;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(4);
/// let (sample, _) = sampler.run(&mut model, &mut Task::new(&[], &constraint, 6), &mut rng)?;
/// assert!(grammar.accepts(&sample.text));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct BestOfK<'s> {
    config: BestOfKConfig,
    scorer: &'s dyn Potential,
}

impl std::fmt::Debug for BestOfK<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BestOfK").field("config", &self.config).finish_non_exhaustive()
    }
}

struct Candidate {
    draft: Draft,
    alive: bool,
}

impl<'s> BestOfK<'s> {
    /// A sampler scoring with `scorer`; fails on out-of-range settings.
    pub fn new(config: BestOfKConfig, scorer: &'s dyn Potential) -> Result<BestOfK<'s>, SamplerError> {
        if config.candidates == 0 || config.block_tokens == 0 {
            return Err(SamplerError::InvalidConfig("candidates and block_tokens must be at least 1".into()));
        }
        Ok(BestOfK { config, scorer })
    }

    /// The settings.
    pub fn config(&self) -> &BestOfKConfig {
        &self.config
    }

    /// One output.
    pub fn run(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<(Sample, BestOfKStats), SamplerError> {
        let mut drafting = Drafting::new(model, task)?;
        let (sample, mut stats) = self.run_in(&mut drafting, rng)?;
        stats.run = drafting.finish();
        Ok((sample, stats))
    }

    /// One output within a run's [`Drafting`] (whose stats are the run's).
    pub(crate) fn run_in(
        &self,
        drafting: &mut Drafting<'_, '_>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<(Sample, BestOfKStats), SamplerError> {
        let mut current = Candidate { draft: drafting.start()?, alive: true };
        let mut candidates = Vec::new();
        let result = self.blocks(drafting, &mut current, &mut candidates, rng);
        drafting.release(candidates.iter_mut().chain([&mut current]).map(|c| &mut c.draft));
        let (blocks, log_score) = result?;
        Ok((current.draft.sample, BestOfKStats { blocks, log_score, run: RunStats::default() }))
    }

    /// Decodes block after block from `current` until it ends; returns the
    /// number of blocks and the winner's last score.
    fn blocks(
        &self,
        drafting: &mut Drafting<'_, '_>,
        current: &mut Candidate,
        candidates: &mut Vec<Candidate>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<(usize, f64), SamplerError> {
        let (mut blocks, mut log_score) = (0, 0.0);
        while current.draft.sample.eos.is_none() {
            blocks += 1;
            if current.draft.seq.is_none() {
                break;
            }
            candidates.clear();
            let copies = drafting.copies(&mut current.draft, self.config.candidates)?;
            candidates.extend(copies.into_iter().map(|draft| Candidate { draft, alive: true }));
            for _ in 0..self.config.block_tokens {
                for candidate in candidates.iter_mut().filter(|c| c.alive && c.draft.sample.eos.is_none()) {
                    if candidate.draft.seq.is_none() {
                        continue;
                    }
                    let Some(token) = drafting.allowed(&candidate.draft, true)?.sample(rng) else {
                        candidate.alive = false;
                        continue;
                    };
                    if drafting.commit(&mut candidate.draft, token)? == Step::Ended {
                        candidate.alive = drafting.verify(&candidate.draft)?;
                    }
                }
                if !drafting.extend()? {
                    break;
                }
            }
            let score = |c: &Candidate| match (c.alive, c.draft.sample.eos.is_some()) {
                (false, _) => f64::NEG_INFINITY,
                (true, true) => self.scorer.log_final(&c.draft.sample.text),
                (true, false) => self.scorer.log_potential(&c.draft.sample.text),
            };
            let mut best: Option<(usize, f64)> = None;
            for (i, candidate) in candidates.iter().enumerate() {
                let value = score(candidate);
                if value > f64::NEG_INFINITY && best.is_none_or(|(_, b)| value > b) {
                    best = Some((i, value));
                }
            }
            let Some((best, score)) = best else {
                return Err(SamplerError::NoSurvivors);
            };
            log_score = score;
            let winner = candidates.swap_remove(best);
            for loser in candidates.iter_mut() {
                drafting.drop_sequence(&mut loser.draft)?;
            }
            candidates.clear();
            *current = winner;
        }
        Ok((blocks, log_score))
    }
}
