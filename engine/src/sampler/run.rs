//! One entry point for every sampler: a [`Sampler`] runs any of them, and a
//! [`Run`] holds what runs produced — outputs, their weights, the
//! estimate of Z, the ESS traces, rejection's tries and the timings — so
//! that K independent samples are K runs added to one `Run`.

use rand::Rng;
use serde::Serialize;

use super::draft::Drafting;
use super::proposal::log_sum_exp;
use super::{BestOfK, Interval, MaskedDecoder, RejectionSampler, RunStats, Sample, SamplerError, Smc, Task};
use crate::model::LanguageModel;

/// Any of the samplers of design.md §4, behind one entry point. The
/// specialised types underneath keep their own richer results
/// ([`Smc::run`]'s weighted particles, [`RejectionSampler::measure`], ...).
///
/// ```
/// use std::sync::Arc;
/// use rand::SeedableRng;
/// use trellis_engine::model::TableModel;
/// use trellis_engine::sampler::{Run, Sampler, Smc, SmcConfig, Task};
/// use trellis_grammars::{CompiledGrammar, Format};
/// use trellis_token_index::{TokenConstraint, TokenIndex, TokenKind, Vocabulary};
///
/// let vocabulary = Arc::new(Vocabulary::from_tokens(
///     vec![(b"<eos>".to_vec(), TokenKind::Special), (b"a".to_vec(), TokenKind::Normal), (b"b".to_vec(), TokenKind::Normal)],
///     vec![0],
///     None,
/// )?);
/// let mut model = TableModel::random(Arc::clone(&vocabulary), 1, 7)?;
/// let grammar = CompiledGrammar::new("a+b", Format::Regex)?;
/// let constraint = TokenConstraint::new(&grammar, &TokenIndex::new(vocabulary));
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
///
/// let sampler = Sampler::Smc(Smc::new(SmcConfig { particles: 8, ..SmcConfig::default() })?);
/// let mut run = Run::default();
/// for _ in 0..3 {
///     sampler.run_into(&mut model, &mut Task::new(&[], &constraint, 6), &mut rng, &mut run, &mut |_| Ok(()))?;
/// }
/// assert_eq!(run.outputs.len(), 3);
/// assert!(run.valid_samples().all(|s| grammar.accepts(&s.text)));
/// assert!(run.log_z().is_some_and(|log_z| log_z <= 0.0)); // Z is a probability
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub enum Sampler<'p> {
    /// Masked decoding: one output per run; streams.
    Masked(MaskedDecoder),
    /// Rejection sampling: one exact output per run, or
    /// [`SamplerError::BudgetExhausted`].
    Rejection(RejectionSampler),
    /// SMC (twisted when it has a twist): one particle per run, drawn by
    /// weight, weighted by the run's Ẑ.
    Smc(Smc<'p>),
    /// Blockwise best-of-K: one output per run.
    BestOfK(BestOfK<'p>),
}

impl Sampler<'_> {
    /// Whether the sampler hands text to `on_text` as it is generated
    /// (masked decoding only; the others decide what the output is at the
    /// end).
    pub fn streams(&self) -> bool {
        matches!(self, Sampler::Masked(_))
    }

    /// The most model sequences a run holds at once: what its memory
    /// grows with ([`LanguageModel::memory_estimate`]).
    pub fn sequences(&self) -> usize {
        match self {
            Sampler::Masked(_) => 1,
            // The root of the tries and a batch of tries.
            Sampler::Rejection(sampler) => sampler.config().batch + 1,
            Sampler::Smc(smc) => smc.config().particles,
            Sampler::BestOfK(sampler) => sampler.config().candidates,
        }
    }

    /// One run: its output and figures.
    pub fn run(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<Run, SamplerError> {
        let mut run = Run::default();
        self.run_into(model, task, rng, &mut run, &mut |_| Ok(()))?;
        Ok(run)
    }

    /// One more run, its output and figures added to `run`; a sampler that
    /// [streams](Self::streams) hands each token's bytes to `on_text` as
    /// it is committed.
    ///
    /// A run that produces no valid output — masked decoding unfinished
    /// within the budget, rejection sampling out of tries, no particle or
    /// candidate left, a verifier that refused everything — is not an
    /// error: it adds an [`Output`] that says why ([`Finish`]), and its
    /// figures count as any run's. Errors are what stops sampling
    /// altogether: the model, the grammar, the verifier failing to run, a
    /// setting out of range, the output stream failing.
    pub fn run_into(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        rng: &mut (impl Rng + ?Sized),
        run: &mut Run,
        on_text: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), SamplerError> {
        let mut drafting = Drafting::new(model, task)?;
        let result = self.run_in(&mut drafting, rng, run, on_text);
        run.stats.add(&drafting.finish());
        let failure = match result {
            Ok(output) => {
                run.outputs.push(output);
                return Ok(());
            }
            Err(error) => error,
        };
        let (text, finish) = match failure {
            SamplerError::Unfinished { text, .. } => (text, Finish::MaxTokens),
            error @ (SamplerError::BudgetExhausted { .. }
            | SamplerError::NoSurvivors
            | SamplerError::VerifierRejected { .. }
            | SamplerError::NoMass { .. }) => (Vec::new(), Finish::NoValidOutput(error.to_string())),
            error => return Err(error),
        };
        run.outputs.push(Output { sample: Sample { tokens: Vec::new(), text, eos: None }, finish });
        Ok(())
    }

    /// The run itself; figures other than the drafting's go into `run`.
    fn run_in(
        &self,
        drafting: &mut Drafting<'_, '_>,
        rng: &mut (impl Rng + ?Sized),
        run: &mut Run,
        on_text: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<Output, SamplerError> {
        let sample = match self {
            Sampler::Masked(decoder) => {
                let out = decoder.sample_in(drafting, rng, on_text)?;
                // Σ ln Z_t is an importance weight only for the plain
                // proposal (design.md §4).
                if decoder.decoding().is_plain_proposal() {
                    run.log_weights.push(out.log_weight);
                }
                out.sample
            }
            Sampler::Rejection(sampler) => {
                let max_tries = sampler.config().max_tries;
                let tried = sampler.tries_in(drafting, 1, max_tries, rng)?;
                let acceptance = run.acceptance.get_or_insert_with(Acceptance::default);
                acceptance.tries += tried.stats.tries;
                acceptance.accepted += tried.stats.accepted;
                // Exact samples need no weight.
                tried.samples.into_iter().next().ok_or(SamplerError::BudgetExhausted {
                    tries: tried.stats.tries,
                    accepted: 0,
                    wanted: 1,
                    upper: tried.stats.acceptance().high,
                })?
            }
            Sampler::Smc(smc) => {
                let particles = smc.run_in(drafting, rng)?;
                // The run's figures count even when no particle survived.
                run.log_weights.push(particles.log_z);
                run.ess.push(particles.ess.clone());
                run.resamples += particles.resamples;
                particles.draw(rng)?.clone()
            }
            Sampler::BestOfK(sampler) => sampler.run_in(drafting, rng)?.0,
        };
        // Unconstrained masked decoding may stop at the budget without EOS.
        let finish = if sample.eos.is_some() { Finish::Eos } else { Finish::MaxTokens };
        Ok(Output { sample, finish })
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finish {
    /// With EOS, inside the target: the output is valid.
    Eos,
    /// The length budget ran out first. Without a grammar the text is
    /// still an output; with one it is a viable prefix of the language,
    /// not a string of it.
    MaxTokens,
    /// No output in the target; the message says why.
    NoValidOutput(String),
}

impl Finish {
    /// The name `--output json` reports: `eos`, `max_tokens`,
    /// `no_valid_output`.
    pub fn name(&self) -> &'static str {
        match self {
            Finish::Eos => "eos",
            Finish::MaxTokens => "max_tokens",
            Finish::NoValidOutput(_) => "no_valid_output",
        }
    }
}

/// The output of one run and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The output; when the run ended otherwise than by [`Finish::Eos`],
    /// what it had generated when it stopped (masked decoding), or nothing.
    pub sample: Sample,
    pub finish: Finish,
}

/// Rejection sampling's tries and acceptances, over the runs of a [`Run`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Acceptance {
    /// Tries made.
    pub tries: u64,
    /// Tries in the target.
    pub accepted: u64,
}

impl Acceptance {
    /// The acceptance rate with its 95% Wilson interval: an estimate of Z.
    pub fn rate(&self) -> Interval {
        Interval::wilson(self.accepted, self.tries)
    }
}

/// What one or more runs of a [`Sampler`] produced.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// One output per run, in order, with how the run ended.
    pub outputs: Vec<Output>,
    /// For samplers whose runs estimate Z, one per run: `ln` of the run's
    /// estimate — SMC's `ln Ẑ`, or masked decoding's `Σ_t ln Z_t` (the
    /// importance weight of its output under the plain proposal). Each
    /// output is properly weighted by it (design.md §4). Empty for the
    /// other samplers.
    pub log_weights: Vec<f64>,
    /// The effective-sample-size trace of each SMC run.
    pub ess: Vec<Vec<f64>>,
    /// Resampling events over all SMC runs.
    pub resamples: usize,
    /// Rejection sampling's tries (`None` for the other samplers).
    pub acceptance: Option<Acceptance>,
    /// Counters and timings, summed over the runs.
    pub stats: RunStats,
}

impl Run {
    /// Adds another run's outputs and figures to these.
    pub fn merge(&mut self, other: Run) {
        self.outputs.extend(other.outputs);
        self.log_weights.extend(other.log_weights);
        self.ess.extend(other.ess);
        self.resamples += other.resamples;
        if let Some(theirs) = other.acceptance {
            let ours = self.acceptance.get_or_insert_with(Acceptance::default);
            ours.tries += theirs.tries;
            ours.accepted += theirs.accepted;
        }
        self.stats.add(&other.stats);
    }

    /// The outputs that ended with EOS inside the target.
    pub fn valid_samples(&self) -> impl Iterator<Item = &Sample> {
        self.outputs.iter().filter(|output| output.finish == Finish::Eos).map(|output| &output.sample)
    }

    /// `ln Ẑ`, the estimate of `ln Z` (the log of the acceptance rate that
    /// rejection sampling has) over every run: for rejection sampling
    /// `ln(accepted / tries)`; otherwise the log of the mean of the runs'
    /// estimates (each is unbiased for Z, so their mean is too). `None`
    /// when there is no estimate or it is `ln 0`.
    pub fn log_z(&self) -> Option<f64> {
        let log_z = match self.acceptance {
            Some(Acceptance { tries, accepted }) if tries > 0 => (accepted as f64 / tries as f64).ln(),
            Some(_) => return None,
            None if self.log_weights.is_empty() => return None,
            None => log_sum_exp(&self.log_weights) - (self.log_weights.len() as f64).ln(),
        };
        log_z.is_finite().then_some(log_z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(text: &str) -> Output {
        Output {
            sample: Sample { tokens: Vec::new(), text: text.as_bytes().to_vec(), eos: Some(0) },
            finish: Finish::Eos,
        }
    }

    #[test]
    fn log_z_is_the_log_of_the_mean_estimate() {
        let mut run = Run::default();
        assert_eq!(run.log_z(), None);
        run.merge(Run { outputs: vec![output("a")], log_weights: vec![0.5f64.ln()], ..Run::default() });
        let stats = RunStats { model_calls: 3, ..RunStats::default() };
        run.merge(Run { outputs: vec![output("b")], log_weights: vec![0.1f64.ln()], stats, ..Run::default() });
        assert_eq!(run.valid_samples().count(), 2);
        assert_eq!(run.stats.model_calls, 3);
        assert!((run.log_z().expect("an estimate") - 0.3f64.ln()).abs() < 1e-12);
        // ln 0 is no estimate.
        let dead = Run { log_weights: vec![f64::NEG_INFINITY], ..Run::default() };
        assert_eq!(dead.log_z(), None);
    }

    #[test]
    fn rejection_estimates_z_by_its_acceptance_rate() {
        let mut run = Run { acceptance: Some(Acceptance { tries: 10, accepted: 2 }), ..Run::default() };
        run.merge(Run { acceptance: Some(Acceptance { tries: 30, accepted: 6 }), ..Run::default() });
        assert_eq!(run.acceptance, Some(Acceptance { tries: 40, accepted: 8 }));
        assert!((run.log_z().expect("an estimate") - 0.2f64.ln()).abs() < 1e-12);
        assert!(run.acceptance.is_some_and(|a| a.rate().low < 0.2 && 0.2 < a.rate().high));
        let none = Run { acceptance: Some(Acceptance { tries: 5, accepted: 0 }), ..Run::default() };
        assert_eq!(none.log_z(), None);
    }
}
