//! Masked decoding: each step samples from the model's next-token
//! distribution restricted to the allowed tokens.

use std::collections::HashMap;

use rand::Rng;
use trellis_token_index::{TokenId, TokenKind, Vocabulary};

use super::draft::{Draft, Drafting, Step};
use super::proposal::{Allowed, sample_log_weights};
use super::{RunStats, Sample, SamplerError, Task};
use crate::model::LanguageModel;

/// How masked decoding picks a token among the allowed ones. The mask is
/// applied first, then the temperature, then top-k, then top-p, so the
/// truncations only ever choose among allowed tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decoding {
    /// Divides log-probabilities; 0 picks the most likely allowed token
    /// (greedy). Default 1.
    pub temperature: f64,
    /// Keep only the k most likely allowed tokens. Default: all.
    pub top_k: Option<usize>,
    /// Keep the fewest most likely allowed tokens whose probability (after
    /// the mask, the temperature and top-k) reaches `top_p`. Default 1
    /// (all).
    pub top_p: f64,
    /// When the grammar forces the next bytes (one possible byte at a
    /// time), commit them without sampling, split greedily into the
    /// longest vocabulary tokens, in one model call. Faster, but the model
    /// would often have split the same bytes differently, and the next
    /// tokens are conditioned on that split: jumping changes the output
    /// distribution, not only the speed. So the exact samplers never jump,
    /// and [`MaskedSample::log_weight`] is no importance weight when it is
    /// on. Default false.
    pub jump_forward: bool,
    /// With a final verifier: how many whole outputs to try before giving
    /// up with [`SamplerError::VerifierRejected`] (masked decoding cannot see the
    /// verifier, so it starts over). Default 16.
    pub verifier_tries: usize,
}

impl Default for Decoding {
    fn default() -> Self {
        Decoding { temperature: 1.0, top_k: None, top_p: 1.0, jump_forward: false, verifier_tries: 16 }
    }
}

impl Decoding {
    /// Always the most likely allowed token.
    pub fn greedy() -> Decoding {
        Decoding { temperature: 0.0, ..Decoding::default() }
    }

    /// Whether this draws exactly from `q = a·m / Z_t`, the proposal whose
    /// importance weight is `Π_t Z_t`.
    pub fn is_plain_proposal(&self) -> bool {
        self.temperature == 1.0 && self.top_k.is_none() && self.top_p >= 1.0 && !self.jump_forward
    }

    fn validate(&self) -> Result<(), SamplerError> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(SamplerError::InvalidConfig(format!("temperature must be ≥ 0, not {}", self.temperature)));
        }
        if self.top_k == Some(0) {
            return Err(SamplerError::InvalidConfig("top_k must be at least 1".into()));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(SamplerError::InvalidConfig(format!("top_p must be in (0, 1], not {}", self.top_p)));
        }
        if self.verifier_tries == 0 {
            return Err(SamplerError::InvalidConfig("verifier_tries must be at least 1".into()));
        }
        Ok(())
    }
}

/// One output of masked decoding.
#[derive(Clone, Debug)]
pub struct MaskedSample {
    /// The output.
    pub sample: Sample,
    /// `Σ_t log Z_t`: the log importance weight `log(a(y)·b(y) / q(y))` of
    /// this output when [`Decoding::is_plain_proposal`]. Its exponential
    /// averages to Z, the acceptance rate (design.md §4).
    pub log_weight: f64,
    /// Tokens committed by jump-forward rather than sampled.
    pub forced_tokens: usize,
    /// Whole outputs tried (more than 1 only when a verifier rejected).
    pub tries: usize,
    /// Counters and timings.
    pub stats: RunStats,
}

/// Masked decoding (design.md §4): fast, always valid, biased.
///
/// ```
/// use std::sync::Arc;
/// use rand::SeedableRng;
/// use trellis_engine::model::TableModel;
/// use trellis_engine::sampler::{Decoding, MaskedDecoder, Task};
/// use trellis_grammars::{CompiledGrammar, Format};
/// use trellis_token_index::{TokenConstraint, TokenIndex, TokenKind, Vocabulary};
///
/// let vocabulary = Arc::new(Vocabulary::from_tokens(
///     vec![(b"<eos>".to_vec(), TokenKind::Special), (b"0".to_vec(), TokenKind::Normal), (b"1".to_vec(), TokenKind::Normal)],
///     vec![0],
///     None,
/// )?);
/// let mut model = TableModel::random(Arc::clone(&vocabulary), 2, 3)?;
/// let grammar = CompiledGrammar::new("1(0|1)*", Format::Regex)?;
/// let constraint = TokenConstraint::new(&grammar, &TokenIndex::new(vocabulary));
/// let decoder = MaskedDecoder::new(Decoding { top_k: Some(1), ..Decoding::default() })?;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let out = decoder.sample(&mut model, &mut Task::new(&[], &constraint, 8), &mut rng)?;
/// assert!(grammar.accepts(&out.sample.text));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct MaskedDecoder {
    decoding: Decoding,
}

impl MaskedDecoder {
    /// A decoder; fails on out-of-range settings.
    pub fn new(decoding: Decoding) -> Result<MaskedDecoder, SamplerError> {
        decoding.validate()?;
        Ok(MaskedDecoder { decoding })
    }

    /// The settings.
    pub fn decoding(&self) -> &Decoding {
        &self.decoding
    }

    /// One output.
    pub fn sample(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<MaskedSample, SamplerError> {
        self.sample_streaming(model, task, rng, &mut |_| Ok(()))
    }

    /// One output, handing the bytes of each token to `on_text` as soon as
    /// it is committed (EOS has none). With a verifier that rejects, the
    /// text of the rejected attempts was streamed too: stream only without
    /// one.
    pub fn sample_streaming(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        rng: &mut (impl Rng + ?Sized),
        on_text: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<MaskedSample, SamplerError> {
        let mut drafting = Drafting::new(model, task)?;
        let mut out = self.sample_in(&mut drafting, rng, on_text)?;
        out.stats = drafting.finish();
        Ok(out)
    }

    /// [`Self::sample_streaming`] within a run's [`Drafting`] (its
    /// `stats` are left to the caller: they are the drafting's).
    pub(crate) fn sample_in(
        &self,
        drafting: &mut Drafting<'_, '_>,
        rng: &mut (impl Rng + ?Sized),
        on_text: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<MaskedSample, SamplerError> {
        let splitter = match (self.decoding.jump_forward, drafting.task.constraint) {
            (true, Some(_)) => Some(ForcedSplitter::new(&drafting.vocabulary)),
            _ => None,
        };
        for tries in 1..=self.decoding.verifier_tries {
            let mut draft = drafting.start()?;
            let attempt = self.decode(drafting, &mut draft, splitter.as_ref(), rng, on_text);
            drafting.drop_sequence(&mut draft)?;
            let (log_weight, forced_tokens) = attempt?;
            // Unconstrained text cut off by the budget is not an output the
            // verifier can judge; hand it back as it is.
            if draft.sample.eos.is_none() || drafting.verify(&draft)? {
                let stats = RunStats::default();
                return Ok(MaskedSample { sample: draft.sample, log_weight, forced_tokens, tries, stats });
            }
        }
        Err(SamplerError::VerifierRejected { tries: self.decoding.verifier_tries })
    }

    /// Decodes `draft` to its end; returns its log importance weight
    /// `Σ_t ln Z_t` and the number of forced tokens.
    fn decode(
        &self,
        drafting: &mut Drafting<'_, '_>,
        draft: &mut Draft,
        splitter: Option<&ForcedSplitter>,
        rng: &mut (impl Rng + ?Sized),
        on_text: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(f64, usize), SamplerError> {
        let vocabulary = drafting.vocabulary.clone();
        let text = |token: TokenId| vocabulary.token_bytes(token).unwrap_or_default();
        let mut candidates = Vec::new();
        let mut log_weight = 0.0;
        let mut forced_tokens = 0;
        loop {
            let at_limit = draft.sample.tokens.len() >= drafting.budget;
            if let (Some(splitter), Some(matcher), false) = (splitter, draft.matcher.as_ref(), at_limit) {
                let room = drafting.budget - draft.sample.tokens.len();
                let forced = drafting.mask_work(|| splitter.split(&matcher.forced_bytes(), room));
                if !forced.is_empty() {
                    drafting.force(draft, &forced)?;
                    for &token in &forced {
                        on_text(text(token))?;
                    }
                    forced_tokens += forced.len();
                    continue;
                }
            }
            let allowed = drafting.allowed(draft, true)?;
            if allowed.is_empty() {
                return match (at_limit, &draft.matcher) {
                    (true, None) => Ok((log_weight, forced_tokens)),
                    (true, Some(_)) => Err(SamplerError::Unfinished {
                        tokens: draft.sample.tokens.len(),
                        text: draft.sample.text.clone(),
                    }),
                    (false, _) => Err(SamplerError::NoMass { tokens: draft.sample.tokens.len() }),
                };
            }
            log_weight += allowed.log_mass;
            let token = self.pick(allowed, &mut candidates, rng).ok_or(SamplerError::NoMass { tokens: 0 })?;
            if drafting.commit(draft, token)? == Step::Ended {
                return Ok((log_weight, forced_tokens));
            }
            on_text(text(token))?;
            drafting.extend()?;
        }
    }

    /// Applies temperature, top-k and top-p to the allowed tokens and draws
    /// one.
    fn pick(
        &self,
        allowed: &Allowed,
        candidates: &mut Vec<(f64, TokenId)>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Option<TokenId> {
        let decoding = &self.decoding;
        if decoding.temperature == 0.0 {
            // Ties go to the lowest id, so greedy decoding is deterministic.
            let best =
                allowed.logprobs.iter().enumerate().fold(None, |best: Option<(usize, f64)>, (i, &lp)| match best {
                    Some((_, b)) if b >= lp => best,
                    _ => Some((i, lp)),
                });
            return best.map(|(i, _)| allowed.tokens[i]);
        }
        if decoding.top_k.is_none() && decoding.top_p >= 1.0 && decoding.temperature == 1.0 {
            return allowed.sample(rng);
        }
        candidates.clear();
        candidates.extend(allowed.logprobs.iter().zip(&allowed.tokens).map(|(&lp, &t)| (lp / decoding.temperature, t)));
        let descending = |x: &(f64, TokenId), y: &(f64, TokenId)| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1));
        if let Some(k) = decoding.top_k
            && k < candidates.len()
        {
            candidates.select_nth_unstable_by(k - 1, descending);
            candidates.truncate(k);
        }
        if decoding.top_p < 1.0 {
            candidates.sort_unstable_by(descending);
            let max = candidates.first().map_or(0.0, |c| c.0);
            let total: f64 = candidates.iter().map(|c| (c.0 - max).exp()).sum();
            let mut cumulative = 0.0;
            let mut keep = candidates.len();
            for (i, c) in candidates.iter().enumerate() {
                cumulative += (c.0 - max).exp() / total;
                if cumulative >= decoding.top_p {
                    keep = i + 1;
                    break;
                }
            }
            candidates.truncate(keep);
        }
        let log_weights: Vec<f64> = candidates.iter().map(|c| c.0).collect();
        sample_log_weights(&log_weights, rng).map(|i| candidates[i].1)
    }
}

/// Splits forced bytes into vocabulary tokens, longest match first.
struct ForcedSplitter {
    by_bytes: HashMap<Vec<u8>, TokenId>,
    longest: usize,
}

impl ForcedSplitter {
    fn new(vocabulary: &Vocabulary) -> ForcedSplitter {
        let mut by_bytes = HashMap::new();
        let mut longest = 0;
        for (id, bytes, kind) in vocabulary.iter() {
            if bytes.is_empty() || !matches!(kind, TokenKind::Normal | TokenKind::ByteFallback) {
                continue;
            }
            longest = longest.max(bytes.len());
            // A normal token wins over a byte-fallback token with the same
            // byte: it is what the tokenizer itself would produce.
            let entry = by_bytes.entry(bytes.to_vec()).or_insert(id);
            if kind == TokenKind::Normal && vocabulary.kind(*entry) == Some(TokenKind::ByteFallback) {
                *entry = id;
            }
        }
        ForcedSplitter { by_bytes, longest }
    }

    /// At most `limit` tokens spelling a prefix of `forced` (all of it when
    /// the vocabulary and the limit allow).
    fn split(&self, forced: &[u8], limit: usize) -> Vec<TokenId> {
        let mut tokens = Vec::new();
        let mut at = 0;
        'outer: while at < forced.len() && tokens.len() < limit {
            for len in (1..=self.longest.min(forced.len() - at)).rev() {
                if let Some(&token) = self.by_bytes.get(&forced[at..at + len]) {
                    tokens.push(token);
                    at += len;
                    continue 'outer;
                }
            }
            break;
        }
        tokens
    }
}
