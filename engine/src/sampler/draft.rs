//! The step every sampler takes: **allowed → pick → commit → extend →
//! verify**, over [`Draft`]s, through one [`Drafting`] that owns the model
//! calls and their clock.
//!
//! A sampler decides only what is its own — which token to pick, how to
//! weigh it, which drafts to keep. Everything else goes through here, so
//! that the samplers agree on what a step is (the same mask, the same
//! length budget, the same EOS handling) and so that the time of a run is
//! split into model, mask and verifier time in one place: `RunStats`'s
//! `sampler_seconds` is then whatever the sampler itself spent (weights,
//! resampling, cache reordering).

use std::sync::Arc;
use std::time::Instant;

use trellis_token_index::{TokenError, TokenId, TokenMatcher, TokenSet, Vocabulary};

use super::proposal::Allowed;
use super::{Progress, RunStats, Sample, SamplerError, Task};
use crate::model::{LanguageModel, SeqId};

/// One output being drawn: its model sequence (`None` once it has ended or
/// been dropped), its matcher (`None` without a grammar) and its text.
#[derive(Clone, Debug)]
pub(crate) struct Draft {
    pub seq: Option<SeqId>,
    pub matcher: Option<TokenMatcher>,
    pub sample: Sample,
}

/// What committing a token did to a draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The token was appended; the model sees it at the next
    /// [`Drafting::extend`].
    Extends,
    /// The token was EOS: the draft is an output (to verify), and its
    /// sequence is gone.
    Ended,
}

/// One draft's entry of [`Drafting::allowed_all`]: its allowed tokens, its
/// mask scratch, and the matcher's error if its mask could not be decided.
#[derive(Debug)]
struct BatchSlot {
    allowed: Allowed,
    mask: TokenSet,
    error: Option<TokenError>,
}

/// The model, the task and the clock of one run.
pub(crate) struct Drafting<'r, 't> {
    pub model: &'r mut dyn LanguageModel,
    pub task: &'r mut Task<'t>,
    pub vocabulary: Arc<Vocabulary>,
    /// The most tokens an output may have before EOS ([`Task::budget`]).
    pub budget: usize,
    /// The allowed tokens of the last [`Drafting::allowed`] call.
    pub allowed: Allowed,
    mask: TokenSet,
    /// The allowed tokens of each draft of the last
    /// [`Drafting::allowed_all`] call, with each one's mask scratch.
    batch: Vec<BatchSlot>,
    /// Tokens committed since the last [`Drafting::extend`].
    pending: Vec<(SeqId, TokenId)>,
    pub stats: RunStats,
    /// What the task's progress callback is told after each step; the
    /// samplers fill in their own fields (ESS, tries).
    pub progress: Progress,
    started: Instant,
}

impl<'r, 't> Drafting<'r, 't> {
    /// Starts the clock of a run; fails when the prompt leaves no room.
    pub fn new(model: &'r mut dyn LanguageModel, task: &'r mut Task<'t>) -> Result<Drafting<'r, 't>, SamplerError> {
        let started = Instant::now();
        let budget = task.budget(model)?;
        let vocabulary = model.vocabulary().clone();
        Ok(Drafting {
            mask: TokenSet::new(vocabulary.len()),
            model,
            task,
            vocabulary,
            budget,
            allowed: Allowed::default(),
            batch: Vec::new(),
            pending: Vec::new(),
            stats: RunStats::default(),
            progress: Progress::default(),
            started,
        })
    }

    /// Runs `call` on the model, counted as one forward pass.
    fn model_call<T>(
        &mut self,
        call: impl FnOnce(&mut dyn LanguageModel) -> Result<T, crate::ModelError>,
    ) -> Result<T, SamplerError> {
        let started = Instant::now();
        let result = call(&mut *self.model);
        self.stats.model_calls += 1;
        self.stats.model_seconds += started.elapsed().as_secs_f64();
        Ok(result?)
    }

    /// A draft at the start of the output: the prompt run through the
    /// model (one forward pass).
    pub fn start(&mut self) -> Result<Draft, SamplerError> {
        let prompt = self.task.prompt;
        let seq = self.model_call(|model| model.start(prompt))?;
        Ok(Draft { seq: Some(seq), matcher: self.task.matcher(), sample: Sample::empty() })
    }

    /// A copy of `draft` whose model sequence is a fork of its sequence
    /// (cheap: copy-on-write).
    pub fn fork(&mut self, draft: &Draft) -> Result<Draft, SamplerError> {
        let seq = draft.seq.map(|seq| self.model.fork(seq)).transpose()?;
        Ok(Draft { seq, ..draft.clone() })
    }

    /// `n` copies of `draft`, which hands its sequence over to them (one
    /// resampling call: the first copy takes the sequence, the others fork
    /// it).
    pub fn copies(&mut self, draft: &mut Draft, n: usize) -> Result<Vec<Draft>, SamplerError> {
        let seqs = match draft.seq.take() {
            Some(seq) => self.model.reorder(&[seq], &vec![0; n])?.into_iter().map(Some).collect(),
            None => vec![None; n],
        };
        Ok(seqs.into_iter().map(|seq| Draft { seq, ..draft.clone() }).collect())
    }

    /// Runs `work` (mask work done outside [`Drafting::allowed`], such as
    /// finding forced bytes), timed as mask time.
    pub fn mask_work<T>(&mut self, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = work();
        self.stats.mask_seconds += started.elapsed().as_secs_f64();
        result
    }

    /// The tokens the constraint allows next for `draft`, with their model
    /// log-probabilities and mass ([`Allowed`]); only EOS once the budget
    /// is reached, and only if the text is complete. `masked: false` gives
    /// every token the model can produce, for rejection sampling.
    pub fn allowed(&mut self, draft: &Draft, masked: bool) -> Result<&Allowed, SamplerError> {
        let started = Instant::now();
        let seq = draft.seq.ok_or(SamplerError::NoMass { tokens: draft.sample.tokens.len() })?;
        let logprobs = self.model.logprobs(seq)?;
        match masked {
            true => {
                let at_limit = draft.sample.tokens.len() >= self.budget;
                self.allowed.fill(logprobs, draft.matcher.as_ref(), at_limit, &self.vocabulary, &mut self.mask)?;
            }
            false => self.allowed.fill(logprobs, None, false, &self.vocabulary, &mut self.mask)?,
        }
        self.stats.mask_seconds += started.elapsed().as_secs_f64();
        Ok(&self.allowed)
    }

    /// [`Drafting::allowed`] (masked) for every draft of `drafts` at once,
    /// spread over the threads; [`Drafting::batch`]`(i)` is then
    /// `drafts[i]`'s. The masks of one step's particles are independent
    /// (each reads its own matcher; the constraint's cache they share is
    /// `Sync`), and with the model step now a few milliseconds they are
    /// what a 64-particle step would otherwise wait for on one core.
    ///
    /// They run on the model's thread pool, whose workers are still
    /// spinning from the forward pass that just ended (rayon's would have
    /// to be woken: with the tiny vocabularies of the exactness tests, a
    /// wake-up per step tripled their time in system calls), and only when
    /// the vocabulary is large enough for a mask to outweigh a dispatch.
    pub fn allowed_all(&mut self, drafts: &[&Draft]) -> Result<(), SamplerError> {
        /// Tokens below which a mask is computed inline: a few µs of work.
        const PARALLEL_VOCABULARY: usize = 4096;
        let started = Instant::now();
        let mut logprobs = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let seq = draft.seq.ok_or(SamplerError::NoMass { tokens: draft.sample.tokens.len() })?;
            logprobs.push(self.model.logprobs(seq)?);
        }
        let vocabulary_len = self.vocabulary.len();
        if self.batch.len() < drafts.len() {
            self.batch.resize_with(drafts.len(), || BatchSlot {
                allowed: Allowed::default(),
                mask: TokenSet::new(vocabulary_len),
                error: None,
            });
        }
        let (budget, vocabulary) = (self.budget, &*self.vocabulary);
        let fill = |i: usize, slot: &mut BatchSlot| {
            let draft = drafts[i];
            let at_limit = draft.sample.tokens.len() >= budget;
            slot.error =
                slot.allowed.fill(logprobs[i], draft.matcher.as_ref(), at_limit, vocabulary, &mut slot.mask).err();
        };
        let batch = &mut self.batch[..drafts.len()];
        if vocabulary_len >= PARALLEL_VOCABULARY && drafts.len() > 1 {
            crate::model::kernels::pool::for_rows(batch, 1, 1, |i, entry| fill(i, &mut entry[0]));
        } else {
            batch.iter_mut().enumerate().for_each(|(i, entry)| fill(i, entry));
        }
        self.stats.mask_seconds += started.elapsed().as_secs_f64();
        // The first draft's error, as the one-at-a-time loop would have
        // met it.
        match self.batch[..drafts.len()].iter_mut().find_map(|slot| slot.error.take()) {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    /// Entry `i` of the last [`Drafting::allowed_all`] call.
    pub fn batch(&self, i: usize) -> &Allowed {
        &self.batch[i].allowed
    }

    /// Commits `token` to `draft`: its matcher consumes it (refused with
    /// [`trellis_token_index::TokenError::NotAllowed`] when the grammar does
    /// not allow it, nothing changed), its text grows, and the model will
    /// see it at the next [`Drafting::extend`]. EOS ends the draft and
    /// frees its sequence.
    pub fn commit(&mut self, draft: &mut Draft, token: TokenId) -> Result<Step, SamplerError> {
        if let Some(matcher) = draft.matcher.as_mut() {
            self.mask_work(|| matcher.commit(token))?;
        }
        self.stats.tokens += 1;
        draft.sample.push(&self.vocabulary, token);
        if draft.sample.eos.is_some() {
            self.drop_sequence(draft)?;
            return Ok(Step::Ended);
        }
        if let Some(seq) = draft.seq {
            self.pending.push((seq, token));
        }
        Ok(Step::Extends)
    }

    /// Commits forced `tokens` to `draft` and runs them through the model
    /// at once (one forward pass): jump-forward decoding.
    pub fn force(&mut self, draft: &mut Draft, tokens: &[TokenId]) -> Result<(), SamplerError> {
        for &token in tokens {
            if let Some(matcher) = draft.matcher.as_mut() {
                matcher.commit(token)?;
            }
            draft.sample.push(&self.vocabulary, token);
        }
        let seq = draft.seq.ok_or(SamplerError::NoMass { tokens: draft.sample.tokens.len() })?;
        self.model_call(|model| model.append(seq, tokens))
    }

    /// One batched forward pass over every token committed since the last
    /// call; false when there were none (and no call).
    pub fn extend(&mut self) -> Result<bool, SamplerError> {
        if self.pending.is_empty() {
            return Ok(false);
        }
        // Taken out and put back, so that the model call can borrow `self`
        // while the list keeps its capacity.
        let mut pending = std::mem::take(&mut self.pending);
        let result = self.model_call(|model| model.extend(&pending));
        self.progress.steps += 1;
        self.progress.live = pending.len();
        self.progress.tokens = self.stats.tokens;
        if let Some(report) = self.task.progress.as_mut() {
            report(&self.progress);
        }
        pending.clear();
        self.pending = pending;
        result.map(|()| true)
    }

    /// Whether the task's final verifier accepts a finished draft (true
    /// without one).
    pub fn verify(&mut self, draft: &Draft) -> Result<bool, SamplerError> {
        let started = Instant::now();
        let verdict = self.task.verify(&draft.sample.text);
        if self.task.verifier.is_some() {
            self.stats.verifier_calls += 1;
            self.stats.verifier_seconds += started.elapsed().as_secs_f64();
        }
        verdict
    }

    /// Frees `draft`'s sequence, if it still has one.
    pub fn drop_sequence(&mut self, draft: &mut Draft) -> Result<(), SamplerError> {
        if let Some(seq) = draft.seq.take() {
            self.pending.retain(|&(pending, _)| pending != seq);
            self.model.drop_sequence(seq)?;
        }
        Ok(())
    }

    /// Frees the sequences of `drafts` after a run, or after an error (a
    /// failure to free one is not worth hiding the run's own error).
    pub fn release<'d>(&mut self, drafts: impl IntoIterator<Item = &'d mut Draft>) {
        for draft in drafts {
            let _ = self.drop_sequence(draft);
        }
    }

    /// The run's counters and timings, the clock stopped.
    pub fn finish(mut self) -> RunStats {
        self.stats.finish(self.started);
        self.stats
    }
}
