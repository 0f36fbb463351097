//! Program synthesis where the hard constraint is a test suite, not only a
//! grammar: draw candidates, **filter** them by a [`Checker`], **repair**
//! the rejected ones with the checker's message, and **cluster** the
//! survivors by what they do on extra inputs (observational equivalence),
//! returning one representative per behaviour, largest groups first.
//!
//! # The loop
//!
//! ```text
//! prompt ──encode──► tokens ──Sampler (grammar-constrained)──► candidate
//!                                                                 │
//!      ┌──────────── valid? (EOS inside the grammar) ◄────────────┘
//!      │ yes                                  no: counted, not tested
//!      ▼
//!   Checker ── pass ──────────────────────────────► passing candidates
//!      │ fail (message)                                     │
//!      ▼                                                    ▼
//!   RepairTemplate({prompt}, {candidate}, {error})   Runner on every input
//!      │ up to R rounds, stopping at the first pass         │
//!      └──► encode ──► Sampler ──► Checker ...       group by output vector
//!                                                           │
//!                                                  clusters, largest first
//! ```
//!
//! - **Filtering** is the AlphaCode step: many samples, kept iff they pass
//!   the public tests. The check runs after sampling, not inside it as a
//!   [`Verifier`](crate::sampler::Verifier) would: a failed candidate and
//!   its message are what repair needs. Any [`Sampler`] draws the
//!   candidates (masked decoding, rejection, SMC, ...), under the grammar
//!   when the problem has one, so that every candidate that reaches the
//!   checker is syntactically valid (Synchromesh's point: the test budget
//!   goes to programs that parse).
//! - **Self-repair**: a rejected candidate and the checker's message go
//!   into a new prompt ([`RepairTemplate`]), and the model samples a
//!   repaired candidate; up to [`SynthesisConfig::repair_rounds`] rounds,
//!   each repairing the last candidate the checker rejected, stopping at
//!   the first that passes. A candidate keeps its whole history
//!   ([`Candidate::attempts`]).
//! - **Clustering** (AlphaCode's observational equivalence): each passing
//!   candidate is run on every input by a [`Runner`]; candidates whose
//!   [`Observation`]s agree on every input form one [`Cluster`]
//!   ([`group_by_key`] is the rule). Without inputs, candidates are grouped
//!   by identical text.
//!
//! A checker's verdict and a runner's observations are taken to be
//! deterministic: a text met twice (small models repeat themselves) is
//! checked and run once.
//!
//! # What is a failure of the candidate, and what stops the loop
//!
//! Whatever a candidate can cause — a crash, a hang, megabytes of output,
//! a command not found — is a [`Verdict::Fail`] or an
//! [`Observation::Failure`] of that candidate ([`CommandChecker`] and
//! [`CommandRunner`] run commands through [`crate::command`], which kills
//! a command past its timeout and bounds what is kept of its output).
//! Only what no candidate can fix stops the loop with a
//! [`SynthesisError`]: the model failing, a checker that cannot start, a
//! first prompt that does not fit. A repair prompt that no longer fits the
//! model's context ends that candidate's repairs.
//!
//! # Example
//!
//! Sums of 1s and 2s that must equal 4, from a random bigram model,
//! clustered by how many terms they have (the "input" is ignored here; a
//! real runner would run the program on it):
//!
//! ```
//! use std::sync::Arc;
//! use rand::SeedableRng;
//! use trellis_engine::model::TableModel;
//! use trellis_engine::sampler::{Decoding, MaskedDecoder, Sampler};
//! use trellis_engine::synthesis::{Observation, Problem, SynthesisConfig, Synthesizer, Verdict};
//! use trellis_grammars::{CompiledGrammar, Format};
//! use trellis_token_index::{TokenConstraint, TokenIndex, TokenKind, Vocabulary};
//!
//! let tokens = ["<eos>", "1", "2", "+"];
//! let vocabulary = Arc::new(Vocabulary::from_tokens(
//!     tokens.iter().enumerate().map(|(i, t)| {
//!         (t.as_bytes().to_vec(), if i == 0 { TokenKind::Special } else { TokenKind::Normal })
//!     }).collect(),
//!     vec![0],
//!     None,
//! )?);
//! let mut model = TableModel::random(Arc::clone(&vocabulary), 1, 5)?;
//! let grammar = CompiledGrammar::new(r"[12](\+[12])*", Format::Regex)?;
//! let constraint = TokenConstraint::new(&grammar, &TokenIndex::new(Arc::clone(&vocabulary)));
//!
//! let sum = |text: &[u8]| text.iter().filter(|b| b.is_ascii_digit()).map(|b| u32::from(b - b'0')).sum::<u32>();
//! let mut checker = |text: &[u8]| match sum(text) {
//!     4 => Verdict::Pass,
//!     other => Verdict::fail(format!("the sum is {other}, not 4")),
//! };
//! let mut runner = |text: &[u8], _input: &[u8]| Observation::Output(vec![text.iter().filter(|&&b| b == b'+').count() as u8]);
//! let inputs = [b"".to_vec()];
//! // The prompt is text; the model's own tokenizer would encode it.
//! let mut encode = |_prompt: &str| Ok(vec![1]);
//!
//! let mut problem = Problem::new("Write 4 as a sum of 1s and 2s.", &mut encode, &mut checker, 12)
//!     .with_constraint(&constraint)
//!     .with_inputs(&mut runner, &inputs);
//! let sampler = Sampler::Masked(MaskedDecoder::new(Decoding::default())?);
//! let config = SynthesisConfig { candidates: 32, repair_rounds: 1, ..SynthesisConfig::default() };
//! let mut rng = rand::rngs::StdRng::seed_from_u64(3);
//! let synthesis = Synthesizer::new(sampler, config)?.run(&mut model, &mut problem, &mut rng)?;
//!
//! for cluster in &synthesis.clusters {
//!     let text = &synthesis.candidates[cluster.members[0]].text();
//!     assert!(grammar.accepts(text) && sum(text) == 4);
//! }
//! assert_eq!(synthesis.stats.passed, synthesis.clusters.iter().map(|c| c.members.len()).sum::<usize>());
//! assert!(synthesis.stats.sampled >= 32);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checker;
mod cluster;
mod repair;

use std::collections::HashMap;
use std::time::Instant;

use rand::Rng;
use serde::Serialize;
use trellis_token_index::{TokenConstraint, TokenId};

pub use checker::{CANDIDATE_VARIABLE, Checker, CheckerError, CommandChecker, Verdict, VerifierChecker};
pub use cluster::{CommandRunner, Observation, Runner, group_by_key};
pub use repair::RepairTemplate;

use crate::model::LanguageModel;
use crate::sampler::{Finish, Run, RunStats, Sampler, SamplerError, Task};
use cluster::Interner;
use repair::clip;

/// The most candidates one synthesis may draw: each is held with its
/// history until the end, and each costs a sampler run and a test.
pub const MAX_CANDIDATES: usize = 100_000;
/// The most repair rounds per candidate.
pub const MAX_REPAIR_ROUNDS: usize = 1_000;

/// How much work a synthesis does, and its bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthesisConfig {
    /// Candidates drawn from the first prompt. Default 16.
    pub candidates: usize,
    /// Repair rounds at most for each rejected candidate (0: no repair).
    /// Default 0.
    pub repair_rounds: usize,
    /// The checker's message is cut to this many characters (head and
    /// tail) in a repair prompt. Default 1,000: enough for the first error
    /// of a test run, and a few hundred tokens, well inside a small
    /// model's context; a message of thousands of tokens would crowd out
    /// the task itself.
    pub max_error_chars: usize,
    /// The distinct outputs of the runner, over all inputs, may hold this
    /// many bytes at most; past it the synthesis stops with
    /// [`SynthesisError::OutputsTooLarge`]. Default 256 MiB.
    pub max_output_bytes: usize,
}

impl Default for SynthesisConfig {
    fn default() -> Self {
        SynthesisConfig { candidates: 16, repair_rounds: 0, max_error_chars: 1000, max_output_bytes: 256 << 20 }
    }
}

impl SynthesisConfig {
    fn validate(&self) -> Result<(), SynthesisError> {
        let invalid = |message: String| Err(SynthesisError::InvalidConfig(message));
        if !(1..=MAX_CANDIDATES).contains(&self.candidates) {
            return invalid(format!("candidates must be in 1..={MAX_CANDIDATES}, not {}", self.candidates));
        }
        if self.repair_rounds > MAX_REPAIR_ROUNDS {
            return invalid(format!("repair rounds must be at most {MAX_REPAIR_ROUNDS}, not {}", self.repair_rounds));
        }
        if self.max_error_chars == 0 {
            return invalid("max_error_chars must be at least 1".into());
        }
        Ok(())
    }
}

/// Turns a prompt's text into the model's token ids (the chat template,
/// the tokenizer); the message of an error says why it could not.
pub type Encode<'a> = dyn FnMut(&str) -> Result<Vec<TokenId>, String> + 'a;

/// What to synthesize: the task in words, how to encode a prompt, the
/// grammar, the length budget, the test, and optionally the inputs to
/// cluster on.
pub struct Problem<'a> {
    prompt: &'a str,
    encode: &'a mut Encode<'a>,
    constraint: Option<&'a TokenConstraint>,
    max_tokens: usize,
    checker: &'a mut dyn Checker,
    runner: Option<(&'a mut dyn Runner, &'a [Vec<u8>])>,
    on_event: Option<&'a mut dyn FnMut(&Event)>,
}

impl<'a> Problem<'a> {
    /// Candidates for `prompt` of at most `max_tokens` tokens each,
    /// unconstrained, tested by `checker`.
    pub fn new(
        prompt: &'a str,
        encode: &'a mut Encode<'a>,
        checker: &'a mut dyn Checker,
        max_tokens: usize,
    ) -> Problem<'a> {
        Problem { prompt, encode, constraint: None, max_tokens, checker, runner: None, on_event: None }
    }

    /// Candidates in the language of `constraint`.
    pub fn with_constraint(mut self, constraint: &'a TokenConstraint) -> Problem<'a> {
        self.constraint = Some(constraint);
        self
    }

    /// Clusters passing candidates by what `runner` gives on each input.
    pub fn with_inputs(mut self, runner: &'a mut dyn Runner, inputs: &'a [Vec<u8>]) -> Problem<'a> {
        self.runner = Some((runner, inputs));
        self
    }

    /// Tells `on_event` of each step (for a progress line: it should be
    /// cheap).
    pub fn with_events(mut self, on_event: &'a mut dyn FnMut(&Event)) -> Problem<'a> {
        self.on_event = Some(on_event);
        self
    }

    fn event(&mut self, event: Event) {
        if let Some(on_event) = self.on_event.as_mut() {
            on_event(&event);
        }
    }
}

/// A step of a synthesis, as it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// About to sample candidate `candidate` (from 0), at repair round
    /// `round` (0: the first prompt).
    Sampling { candidate: usize, round: usize },
    /// Its verdict (`None`: not valid, not tested).
    Checked { candidate: usize, round: usize, passed: Option<bool> },
    /// Running passing candidate `candidate` on input `input`.
    Running { candidate: usize, input: usize },
}

/// One sample of a candidate's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Its text (what was generated when it did not finish).
    pub text: Vec<u8>,
    /// How the sampler's run ended.
    pub finish: Finish,
    /// The checker's verdict; `None` when the sample was not a valid
    /// output, or its repair prompt could not be sampled from.
    pub verdict: Option<Verdict>,
}

/// A candidate: its first sample and its repairs, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Never empty; the last one passed, or the candidate failed.
    pub attempts: Vec<Attempt>,
}

impl Candidate {
    /// The candidate's text: its last attempt's.
    pub fn text(&self) -> &[u8] {
        self.attempts.last().map_or(&[][..], |attempt| &attempt.text)
    }

    /// Whether its last attempt passed.
    pub fn passed(&self) -> bool {
        self.attempts.last().is_some_and(|attempt| attempt.verdict.as_ref().is_some_and(Verdict::passed))
    }

    /// Repair rounds it took (0: the first sample).
    pub fn repairs(&self) -> usize {
        self.attempts.len().saturating_sub(1)
    }
}

/// Passing candidates that behave alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// Indices into [`Synthesis::candidates`], in the order drawn; the
    /// first is the representative.
    pub members: Vec<usize>,
    /// What the members do on each input, in order (empty without inputs).
    pub behaviour: Vec<Observation>,
}

/// Counts and times of a synthesis (`trellis synthesize --stats`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SynthesisStats {
    /// Candidates asked for.
    pub candidates: usize,
    /// Samples drawn: first samples and repairs.
    pub sampled: usize,
    /// Samples that were valid outputs (ended with EOS inside the grammar;
    /// without one, every finished output): the ones tested.
    pub valid: usize,
    /// Candidates that passed, with or without repair.
    pub passed: usize,
    /// Candidates whose first sample passed.
    pub passed_first: usize,
    /// Repair rounds run.
    pub repairs_tried: usize,
    /// Candidates that passed after at least one repair.
    pub repairs_succeeded: usize,
    /// Clusters of passing candidates.
    pub clusters: usize,
    /// Checker calls (a text met again is not tested again).
    pub tests_run: usize,
    /// Runner calls.
    pub runs: usize,
    /// The samplers' counters and timings, summed (model, masks).
    pub sampling: RunStats,
    /// Time in the checker.
    pub test_seconds: f64,
    /// Time in the runner.
    pub run_seconds: f64,
    /// Wall time of the whole synthesis.
    pub total_seconds: f64,
}

/// What a synthesis produced.
#[derive(Clone, Debug, Default)]
pub struct Synthesis {
    /// Every candidate, in the order drawn.
    pub candidates: Vec<Candidate>,
    /// The passing candidates grouped by behaviour, largest first (ties:
    /// the earlier representative first).
    pub clusters: Vec<Cluster>,
    pub stats: SynthesisStats,
}

impl Synthesis {
    /// The representatives of the `k` largest clusters.
    pub fn representatives(&self, k: usize) -> impl Iterator<Item = (&Cluster, &Candidate)> {
        self.clusters.iter().take(k).filter_map(|cluster| {
            cluster.members.first().and_then(|&first| self.candidates.get(first)).map(|candidate| (cluster, candidate))
        })
    }
}

/// Why a synthesis stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthesisError {
    /// The sampler (the model, the grammar) failed.
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    /// The checker or the runner could not run.
    #[error(transparent)]
    Checker(#[from] CheckerError),
    /// A prompt could not be encoded.
    #[error("the prompt: {0}")]
    Prompt(String),
    /// A setting is out of range.
    #[error("invalid synthesis setting: {0}")]
    InvalidConfig(String),
    /// The runner's distinct outputs passed
    /// [`SynthesisConfig::max_output_bytes`].
    #[error(
        "the outputs of the runs take more than {limit} bytes: lower the output limit, or use fewer candidates or \
         inputs"
    )]
    OutputsTooLarge { limit: usize },
}

/// The synthesis loop over a [`Sampler`]: filter, repair, cluster.
#[derive(Clone, Debug)]
pub struct Synthesizer<'p> {
    sampler: Sampler<'p>,
    config: SynthesisConfig,
    template: RepairTemplate,
}

/// The verdicts met so far, by text.
#[derive(Default)]
struct Checked {
    verdicts: HashMap<Vec<u8>, Verdict>,
}

impl<'p> Synthesizer<'p> {
    /// A synthesizer drawing with `sampler`; checks `config`.
    pub fn new(sampler: Sampler<'p>, config: SynthesisConfig) -> Result<Synthesizer<'p>, SynthesisError> {
        config.validate()?;
        Ok(Synthesizer { sampler, config, template: RepairTemplate::default() })
    }

    /// Repairs with `template` instead of [`RepairTemplate::DEFAULT`].
    pub fn with_template(mut self, template: RepairTemplate) -> Synthesizer<'p> {
        self.template = template;
        self
    }

    pub fn config(&self) -> &SynthesisConfig {
        &self.config
    }

    /// The whole loop: `config.candidates` candidates, each repaired up to
    /// `config.repair_rounds` times, then the passing ones clustered.
    pub fn run(
        &self,
        model: &mut dyn LanguageModel,
        problem: &mut Problem<'_>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<Synthesis, SynthesisError> {
        let started = Instant::now();
        let mut synthesis = Synthesis::default();
        synthesis.stats.candidates = self.config.candidates;
        let first_prompt = (problem.encode)(problem.prompt).map_err(SynthesisError::Prompt)?;
        let mut checked = Checked::default();
        for index in 0..self.config.candidates {
            problem.event(Event::Sampling { candidate: index, round: 0 });
            // The first prompt not fitting is the user's error, not a
            // candidate's.
            let first = self.draw(model, problem, &first_prompt, rng, &mut synthesis.stats)?;
            let first = self.check(problem, first, &mut checked, &mut synthesis.stats)?;
            problem.event(Event::Checked {
                candidate: index,
                round: 0,
                passed: first.verdict.as_ref().map(Verdict::passed),
            });
            let mut candidate = Candidate { attempts: vec![first] };
            if candidate.passed() {
                synthesis.stats.passed_first += 1;
            } else {
                self.repair(model, problem, rng, index, &mut candidate, &mut checked, &mut synthesis.stats)?;
            }
            if candidate.passed() {
                synthesis.stats.passed += 1;
                synthesis.stats.repairs_succeeded += usize::from(candidate.repairs() > 0);
            }
            synthesis.candidates.push(candidate);
        }
        synthesis.clusters = self.cluster(problem, &synthesis.candidates, &mut synthesis.stats)?;
        synthesis.stats.clusters = synthesis.clusters.len();
        synthesis.stats.total_seconds = started.elapsed().as_secs_f64();
        Ok(synthesis)
    }

    /// Up to `repair_rounds` repairs of `candidate`, each from the last
    /// attempt the checker rejected, stopping at the first pass.
    #[allow(clippy::too_many_arguments)]
    fn repair(
        &self,
        model: &mut dyn LanguageModel,
        problem: &mut Problem<'_>,
        rng: &mut (impl Rng + ?Sized),
        index: usize,
        candidate: &mut Candidate,
        checked: &mut Checked,
        stats: &mut SynthesisStats,
    ) -> Result<(), SynthesisError> {
        for round in 1..=self.config.repair_rounds {
            // Only a candidate the checker has seen has a message to repair
            // from; an invalid first sample is not repaired.
            let Some((text, message)) = candidate.attempts.iter().rev().find_map(|attempt| {
                let message = attempt.verdict.as_ref()?.message()?;
                Some((String::from_utf8_lossy(&attempt.text).into_owned(), clip(message, self.config.max_error_chars)))
            }) else {
                return Ok(());
            };
            let prompt_text = self.template.render(problem.prompt, &text, &message);
            let prompt = (problem.encode)(&prompt_text).map_err(SynthesisError::Prompt)?;
            stats.repairs_tried += 1;
            problem.event(Event::Sampling { candidate: index, round });
            let attempt = match self.draw(model, problem, &prompt, rng, stats) {
                Ok(attempt) => attempt,
                // The candidate and the message made the prompt too long:
                // this candidate's repairs end, the synthesis goes on.
                Err(error @ SamplerError::PromptTooLong { .. }) => {
                    candidate.attempts.push(Attempt {
                        text: Vec::new(),
                        finish: Finish::NoValidOutput(format!("the repair prompt does not fit: {error}")),
                        verdict: None,
                    });
                    return Ok(());
                }
                Err(error) => return Err(error.into()),
            };
            let attempt = self.check(problem, attempt, checked, stats)?;
            let passed = attempt.verdict.as_ref().map(Verdict::passed);
            problem.event(Event::Checked { candidate: index, round, passed });
            candidate.attempts.push(attempt);
            if passed == Some(true) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// One sampler run from `prompt`: an attempt not yet checked.
    fn draw(
        &self,
        model: &mut dyn LanguageModel,
        problem: &Problem<'_>,
        prompt: &[TokenId],
        rng: &mut (impl Rng + ?Sized),
        stats: &mut SynthesisStats,
    ) -> Result<Attempt, SamplerError> {
        let mut task = match problem.constraint {
            Some(constraint) => Task::new(prompt, constraint, problem.max_tokens),
            None => Task::unconstrained(prompt, problem.max_tokens),
        };
        let mut run = Run::default();
        self.sampler.run_into(model, &mut task, rng, &mut run, &mut |_| Ok(()))?;
        stats.sampled += 1;
        stats.sampling.add(&run.stats);
        let output = run.outputs.pop().ok_or(SamplerError::NoSurvivors)?;
        Ok(Attempt { text: output.sample.text, finish: output.finish, verdict: None })
    }

    /// Checks a valid attempt (once per distinct text).
    fn check(
        &self,
        problem: &mut Problem<'_>,
        mut attempt: Attempt,
        checked: &mut Checked,
        stats: &mut SynthesisStats,
    ) -> Result<Attempt, SynthesisError> {
        // Without a grammar, text cut off by the budget is still an output
        // (as `trellis generate` has it); with one it is only a prefix.
        let valid =
            attempt.finish == Finish::Eos || (attempt.finish == Finish::MaxTokens && problem.constraint.is_none());
        if !valid {
            return Ok(attempt);
        }
        stats.valid += 1;
        let verdict = match checked.verdicts.get(&attempt.text) {
            Some(verdict) => verdict.clone(),
            None => {
                let started = Instant::now();
                let verdict = problem.checker.check(&attempt.text)?;
                stats.test_seconds += started.elapsed().as_secs_f64();
                stats.tests_run += 1;
                checked.verdicts.insert(attempt.text.clone(), verdict.clone());
                verdict
            }
        };
        attempt.verdict = Some(verdict);
        Ok(attempt)
    }

    /// The passing candidates grouped by behaviour (by text without
    /// inputs).
    fn cluster(
        &self,
        problem: &mut Problem<'_>,
        candidates: &[Candidate],
        stats: &mut SynthesisStats,
    ) -> Result<Vec<Cluster>, SynthesisError> {
        let passing = candidates.iter().enumerate().filter(|(_, candidate)| candidate.passed());
        let Some((runner, inputs)) = problem.runner.as_mut() else {
            let groups = group_by_key(passing.map(|(index, candidate)| (index, candidate.text())));
            return Ok(groups.into_iter().map(|(_, members)| Cluster { members, behaviour: Vec::new() }).collect());
        };
        let mut interner = Interner::new(inputs.len());
        let mut seen: HashMap<&[u8], Vec<u32>> = HashMap::new();
        let mut behaviours = Vec::new();
        for (index, candidate) in passing {
            let text = candidate.text();
            if let Some(ids) = seen.get(text) {
                behaviours.push((index, ids.clone()));
                continue;
            }
            let mut ids = Vec::with_capacity(inputs.len());
            for (input_index, input) in inputs.iter().enumerate() {
                if let Some(on_event) = problem.on_event.as_mut() {
                    on_event(&Event::Running { candidate: index, input: input_index });
                }
                let started = Instant::now();
                let observation = runner.run(text, input, input_index)?;
                stats.run_seconds += started.elapsed().as_secs_f64();
                stats.runs += 1;
                ids.push(interner.intern(input_index, observation));
                if interner.bytes > self.config.max_output_bytes {
                    return Err(SynthesisError::OutputsTooLarge { limit: self.config.max_output_bytes });
                }
            }
            seen.insert(text, ids.clone());
            behaviours.push((index, ids));
        }
        Ok(group_by_key(behaviours)
            .into_iter()
            .map(|(ids, members)| Cluster { members, behaviour: interner.behaviour(&ids) })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_settings_are_refused_with_the_range() {
        for (config, needle) in [
            (SynthesisConfig { candidates: 0, ..SynthesisConfig::default() }, "candidates must be in 1..=100000"),
            (SynthesisConfig { candidates: usize::MAX, ..SynthesisConfig::default() }, "not 18446744073709551615"),
            (SynthesisConfig { repair_rounds: 1_000_000, ..SynthesisConfig::default() }, "at most 1000"),
            (SynthesisConfig { max_error_chars: 0, ..SynthesisConfig::default() }, "max_error_chars"),
        ] {
            let error = config.validate().expect_err(needle).to_string();
            assert!(error.contains(needle), "{error}");
        }
        assert!(SynthesisConfig::default().validate().is_ok());
    }
}
