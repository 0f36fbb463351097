//! Blockwise best-of-K (controlled decoding).

use std::time::Instant;

use rand::Rng;
use trellis_token_index::{TokenMatcher, TokenSet};

use super::proposal::Allowed;
use super::{Potential, RunStats, Sample, SamplerError, Task};
use crate::model::{LanguageModel, SeqId};

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
    seq: Option<SeqId>,
    matcher: Option<TokenMatcher>,
    sample: Sample,
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

    /// One output.
    pub fn run(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<(Sample, BestOfKStats), SamplerError> {
        let started = Instant::now();
        let budget = task.budget(model)?;
        let mut stats = BestOfKStats { blocks: 0, log_score: 0.0, run: RunStats::default() };
        let model_started = Instant::now();
        let root = model.start(task.prompt)?;
        stats.run.model_calls += 1;
        stats.run.model_seconds += model_started.elapsed().as_secs_f64();
        let mut current = Candidate { seq: Some(root), matcher: task.matcher(), sample: Sample::empty(), alive: true };
        let mut candidates = Vec::new();
        let result = self.blocks(model, task, budget, &mut current, &mut candidates, &mut stats, rng);
        for candidate in candidates.iter().chain(std::iter::once(&current)) {
            if let Some(seq) = candidate.seq {
                let _ = model.drop_sequence(seq);
            }
        }
        result?;
        stats.run.finish(started);
        Ok((current.sample, stats))
    }

    #[allow(clippy::too_many_arguments)]
    fn blocks(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        budget: usize,
        current: &mut Candidate,
        candidates: &mut Vec<Candidate>,
        stats: &mut BestOfKStats,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<(), SamplerError> {
        let vocabulary = model.vocabulary().clone();
        let mut mask = TokenSet::new(vocabulary.len());
        let mut allowed = Allowed::default();
        let mut steps = Vec::new();
        while current.sample.eos.is_none() {
            stats.blocks += 1;
            let Some(seq) = current.seq.take() else { break };
            let seqs = model.reorder(&[seq], &vec![0; self.config.candidates])?;
            candidates.clear();
            candidates.extend(seqs.into_iter().map(|seq| Candidate {
                seq: Some(seq),
                matcher: current.matcher.clone(),
                sample: current.sample.clone(),
                alive: true,
            }));
            for _ in 0..self.config.block_tokens {
                steps.clear();
                let mask_started = Instant::now();
                let verifier_before = stats.run.verifier_seconds;
                for candidate in candidates.iter_mut().filter(|c| c.alive && c.sample.eos.is_none()) {
                    let Some(seq) = candidate.seq else { continue };
                    let at_limit = candidate.sample.tokens.len() >= budget;
                    allowed.fill(model.logprobs(seq)?, candidate.matcher.as_ref(), at_limit, &vocabulary, &mut mask);
                    stats.run.tokens += 1;
                    let Some(token) = allowed.sample(rng) else {
                        candidate.alive = false;
                        continue;
                    };
                    if let Some(matcher) = candidate.matcher.as_mut() {
                        matcher.commit(token)?;
                    }
                    candidate.sample.push(&vocabulary, token);
                    if candidate.sample.eos.is_some() {
                        model.drop_sequence(seq)?;
                        candidate.seq = None;
                        candidate.alive = task.verify(&candidate.sample.text, &mut stats.run)?;
                    } else {
                        steps.push((seq, token));
                    }
                }
                let verifying = stats.run.verifier_seconds - verifier_before;
                stats.run.mask_seconds += mask_started.elapsed().as_secs_f64() - verifying;
                if steps.is_empty() {
                    break;
                }
                let model_started = Instant::now();
                model.extend(&steps)?;
                stats.run.model_calls += 1;
                stats.run.model_seconds += model_started.elapsed().as_secs_f64();
            }
            let score = |c: &Candidate| match (c.alive, c.sample.eos.is_some()) {
                (false, _) => f64::NEG_INFINITY,
                (true, true) => self.scorer.log_final(&c.sample.text),
                (true, false) => self.scorer.log_potential(&c.sample.text),
            };
            let mut best: Option<(usize, f64)> = None;
            for (i, candidate) in candidates.iter().enumerate() {
                let value = score(candidate);
                if value > f64::NEG_INFINITY && best.is_none_or(|(_, b)| value > b) {
                    best = Some((i, value));
                }
            }
            let Some((best, log_score)) = best else {
                return Err(SamplerError::NoSurvivors);
            };
            stats.log_score = log_score;
            let winner = candidates.swap_remove(best);
            for loser in candidates.drain(..) {
                if let Some(seq) = loser.seq {
                    model.drop_sequence(seq)?;
                }
            }
            *current = winner;
        }
        Ok(())
    }
}
