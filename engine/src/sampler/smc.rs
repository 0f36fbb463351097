//! Sequential Monte Carlo with the mask's allowed mass as weights, and its
//! twisted form.

use rand::Rng;
use trellis_token_index::{TokenId, Vocabulary};

use super::draft::{Draft, Drafting, Step};
use super::proposal::{Allowed, log_sum_exp, sample_log_weights};
use super::resample::{Resampling, effective_sample_size, resample};
use super::{Potential, RunStats, Sample, SamplerError, Task};
use crate::model::LanguageModel;

/// Settings of [`Smc`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmcConfig {
    /// Particles N. Default 16; at most 65,536.
    pub particles: usize,
    /// Resample when the effective sample size falls below
    /// `ess_threshold · N`. 0 never resamples (importance sampling with
    /// the masked proposal), 1 resamples whenever the weights differ.
    /// Default 0.5.
    pub ess_threshold: f64,
    /// The resampling scheme. Default systematic.
    pub resampling: Resampling,
}

impl Default for SmcConfig {
    fn default() -> Self {
        SmcConfig { particles: 16, ess_threshold: 0.5, resampling: Resampling::Systematic }
    }
}

/// One particle of a finished run.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightedSample {
    /// The output.
    pub sample: Sample,
    /// Its normalised log-weight `ln w̄` (the weights of a run sum to 1).
    pub log_weight: f64,
}

/// The outcome of an SMC run: weighted particles that approximate `g`
/// (or `σ ∝ a·b·φ` when twisted) and an estimate of `Z`.
#[derive(Clone, Debug)]
pub struct SmcRun {
    /// The particles that ended inside the target, with normalised
    /// weights. Empty when none did.
    pub particles: Vec<WeightedSample>,
    /// `ln Ẑ`: Ẑ is an unbiased estimate of `Z = Σ a·b` (of `Σ a·b·φ` when
    /// twisted), the acceptance rate rejection sampling would have; `-inf`
    /// when no particle survived.
    pub log_z: f64,
    /// The effective sample size after each step's reweighting.
    pub ess: Vec<f64>,
    /// How many times the particles were resampled.
    pub resamples: usize,
    /// Counters and timings.
    pub stats: RunStats,
    /// Whether the run was twisted (then Ẑ has no bound of 1).
    twisted: bool,
}

impl SmcRun {
    /// One particle drawn by weight: a single sample from the run's
    /// approximation of the target (biased by O(1/N) for finite N; see
    /// [`Self::draw_exact`] for a draw without bias).
    pub fn draw(&self, rng: &mut (impl Rng + ?Sized)) -> Result<&Sample, SamplerError> {
        let log_weights: Vec<f64> = self.particles.iter().map(|p| p.log_weight).collect();
        sample_log_weights(&log_weights, rng).map(|i| &self.particles[i].sample).ok_or(SamplerError::NoSurvivors)
    }

    /// An exact sample of `g ∝ a·b` at any N, or `None`: the run is
    /// accepted with probability Ẑ, and then one particle is drawn by
    /// weight. Since `E[Ẑ·w̄_y] = Z·g(y)` (the properly weighted property)
    /// and an untwisted run's Ẑ never exceeds 1 (every step's weight is a
    /// probability mass), `P(y | accepted) = g(y)` exactly, whatever N. On
    /// `None`, run again.
    ///
    /// Runs are accepted at rate `E[Ẑ] = Z`, the rate at which rejection
    /// sampling accepts single sequences, so as a sampler this is never
    /// cheaper than [`super::RejectionSampler`]; it exists to test SMC's
    /// weights and resampling sample by sample, with a plain chi-square
    /// test (a bug in either shows up as a biased draw).
    ///
    /// A twisted run's Ẑ has no such bound: an
    /// [`SamplerError::InvalidConfig`].
    pub fn draw_exact(&self, rng: &mut (impl Rng + ?Sized)) -> Result<Option<&Sample>, SamplerError> {
        if self.twisted {
            return Err(SamplerError::InvalidConfig(
                "an exact draw needs an untwisted run (a twisted run's estimate of Z is not bounded by 1)".into(),
            ));
        }
        if self.particles.is_empty() || rng.random::<f64>() >= self.log_z.exp() {
            return Ok(None);
        }
        self.draw(rng).map(Some)
    }
}

/// Sequential Monte Carlo (Lew et al. 2023; Loula et al. 2025), optionally
/// twisted (Zhao et al. 2024).
///
/// N particles are extended one token per step from the masked proposal
/// `q(x) ∝ a(x)·m_t(x)`, each weighted by `Z_t`, the mass its mask let
/// through; EOS ends a particle, and a particle with nothing allowed (a
/// text that cannot be finished within the budget) gets weight zero. When
/// the effective sample size falls below the threshold the population is
/// resampled, and the model's sequences follow their particles
/// ([`LanguageModel::reorder`]). All live particles are extended by one
/// batched model call per step.
///
/// With a twist ψ ([`Smc::with_twist`]) the proposal becomes
/// `q_t(x) ∝ a(x)·m_t(x)·ψ(y·x)`, the weight
/// `Σ_x a(x)·m_t(x)·ψ(y·x) / ψ(y)`, and at EOS ψ is replaced by the final
/// potential φ: the target is `σ ∝ a·b·φ` (design.md §4).
///
/// ```
/// use std::sync::Arc;
/// use rand::SeedableRng;
/// use trellis_engine::model::TableModel;
/// use trellis_engine::sampler::{Smc, SmcConfig, Task};
/// use trellis_grammars::{CompiledGrammar, Format};
/// use trellis_token_index::{TokenConstraint, TokenIndex, TokenKind, Vocabulary};
///
/// let tokens = ["<eos>", "a", "b", "ab"];
/// let vocabulary = Arc::new(Vocabulary::from_tokens(
///     tokens.iter().enumerate().map(|(i, t)| {
///         (t.as_bytes().to_vec(), if i == 0 { TokenKind::Special } else { TokenKind::Normal })
///     }).collect(),
///     vec![0],
///     None,
/// )?);
/// let mut model = TableModel::random(Arc::clone(&vocabulary), 2, 5)?;
/// let grammar = CompiledGrammar::new("(ab)+", Format::Regex)?;
/// let constraint = TokenConstraint::new(&grammar, &TokenIndex::new(vocabulary));
/// let mut rng = rand::rngs::StdRng::seed_from_u64(2);
///
/// // A soft preference for longer outputs on top of the grammar.
/// let longer = |text: &[u8]| 0.1 * text.len() as f64;
/// let smc = Smc::new(SmcConfig { particles: 32, ..SmcConfig::default() })?.with_twist(&longer);
/// let run = smc.run(&mut model, &mut Task::new(&[], &constraint, 6), &mut rng)?;
/// assert!(run.particles.iter().all(|p| grammar.accepts(&p.sample.text)));
/// assert!(run.log_z.is_finite());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct Smc<'p> {
    config: SmcConfig,
    twist: Option<&'p dyn Potential>,
}

impl std::fmt::Debug for Smc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smc").field("config", &self.config).field("twisted", &self.twist.is_some()).finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Active,
    Finished,
    Dead,
}

#[derive(Clone, Debug)]
struct Particle {
    draft: Draft,
    log_weight: f64,
    /// `ln ψ(text)` of the current prefix (0 untwisted).
    log_twist: f64,
    state: State,
}

/// Scratch space of twisted steps, reused across steps and particles.
#[derive(Default)]
struct Scratch {
    twisted: Vec<f64>,
    text: Vec<u8>,
}

impl Smc<'static> {
    /// Plain SMC; fails on out-of-range settings.
    pub fn new(config: SmcConfig) -> Result<Smc<'static>, SamplerError> {
        if config.particles == 0 || config.particles > 1 << 16 {
            return Err(SamplerError::InvalidConfig(format!(
                "particles must be in 1..=65536, not {}",
                config.particles
            )));
        }
        if !(0.0..=1.0).contains(&config.ess_threshold) {
            return Err(SamplerError::InvalidConfig(format!(
                "the ESS threshold must be in [0, 1], not {}",
                config.ess_threshold
            )));
        }
        Ok(Smc { config, twist: None })
    }
}

impl<'p> Smc<'p> {
    /// Twisted SMC with `twist` as ψ (prefixes) and φ (finished outputs).
    pub fn with_twist<'q>(self, twist: &'q dyn Potential) -> Smc<'q> {
        Smc { config: self.config, twist: Some(twist) }
    }

    /// The settings.
    pub fn config(&self) -> &SmcConfig {
        &self.config
    }

    /// One run of N particles to the end.
    pub fn run(
        &self,
        model: &mut dyn LanguageModel,
        task: &mut Task<'_>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<SmcRun, SamplerError> {
        let mut drafting = Drafting::new(model, task)?;
        let mut run = self.run_in(&mut drafting, rng)?;
        run.stats = drafting.finish();
        Ok(run)
    }

    /// The twist's `ln ψ` of the empty prefix (0 untwisted), checked.
    fn log_twist_start(&self) -> Result<f64, SamplerError> {
        let Some(twist) = self.twist else { return Ok(0.0) };
        let value = twist.log_potential(b"");
        if value.is_nan() || value == f64::NEG_INFINITY || value == f64::INFINITY {
            return Err(SamplerError::InvalidConfig(format!(
                "the twist must be positive and finite on the empty prefix (ln ψ = {value})"
            )));
        }
        Ok(value)
    }

    /// One run within a run's [`Drafting`] (whose stats are the run's).
    pub(crate) fn run_in(
        &self,
        drafting: &mut Drafting<'_, '_>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<SmcRun, SamplerError> {
        let log_twist_start = self.log_twist_start()?;
        let n = self.config.particles;
        let mut root = drafting.start()?;
        let mut particles: Vec<Particle> = drafting
            .copies(&mut root, n)?
            .into_iter()
            .map(|draft| Particle { draft, log_weight: 0.0, log_twist: log_twist_start, state: State::Active })
            .collect();
        let result = self.steps(drafting, &mut particles, rng);
        drafting.release(particles.iter_mut().map(|p| &mut p.draft));
        let (mut log_z, ess, resamples) = result?;
        let log_weights: Vec<f64> = particles.iter().map(|p| p.log_weight).collect();
        let total = log_sum_exp(&log_weights);
        log_z += total - (n as f64).ln() + log_twist_start;
        let survivors = if total == f64::NEG_INFINITY {
            log_z = f64::NEG_INFINITY;
            Vec::new()
        } else {
            particles
                .into_iter()
                .filter(|p| p.state == State::Finished && p.log_weight > f64::NEG_INFINITY)
                .map(|p| WeightedSample { sample: p.draft.sample, log_weight: p.log_weight - total })
                .collect()
        };
        let stats = RunStats::default();
        Ok(SmcRun { particles: survivors, log_z, ess, resamples, stats, twisted: self.twist.is_some() })
    }

    /// Steps until no particle is active. Returns the part of `ln Ẑ`
    /// accumulated at resampling, the ESS trace and the resample count.
    fn steps(
        &self,
        drafting: &mut Drafting<'_, '_>,
        particles: &mut Vec<Particle>,
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<(f64, Vec<f64>, usize), SamplerError> {
        let n = particles.len();
        let vocabulary = drafting.vocabulary.clone();
        let mut scratch = Scratch::default();
        let mut log_weights = Vec::with_capacity(n);
        let mut ess_trace = Vec::new();
        let mut log_z = 0.0;
        let mut resamples = 0;
        let mut stepping = Vec::with_capacity(n);
        while particles.iter().any(|p| p.state == State::Active) {
            // Every stepping particle's mask at once (in parallel), then
            // the draws in particle order, so a seed gives the same run.
            stepping.clear();
            stepping
                .extend((0..n).filter(|&i| particles[i].state == State::Active && particles[i].draft.seq.is_some()));
            let drafts: Vec<&Draft> = stepping.iter().map(|&i| &particles[i].draft).collect();
            drafting.allowed_all(&drafts)?;
            for (k, &i) in stepping.iter().enumerate() {
                let particle = &mut particles[i];
                let allowed = drafting.batch(k);
                let token = match self.twist {
                    None => {
                        particle.log_weight += allowed.log_mass;
                        allowed.sample(rng)
                    }
                    Some(twist) => Self::twisted_step(twist, particle, allowed, &mut scratch, &vocabulary, rng),
                };
                let Some(token) = token else {
                    // Nothing allowed has mass: the prefix cannot be
                    // finished within the budget.
                    particle.log_weight = f64::NEG_INFINITY;
                    particle.state = State::Dead;
                    drafting.drop_sequence(&mut particle.draft)?;
                    continue;
                };
                if drafting.commit(&mut particle.draft, token)? == Step::Ended {
                    particle.state = State::Finished;
                    // The verifier is a 0/1 factor of the final weight.
                    if particle.log_weight > f64::NEG_INFINITY && !drafting.verify(&particle.draft)? {
                        particle.log_weight = f64::NEG_INFINITY;
                    }
                }
            }
            drafting.extend()?;
            log_weights.clear();
            log_weights.extend(particles.iter().map(|p| p.log_weight));
            let ess = effective_sample_size(&log_weights);
            ess_trace.push(ess);
            drafting.progress.ess = Some(ess);
            if ess == 0.0 {
                break;
            }
            let active = particles.iter().any(|p| p.state == State::Active);
            if active && ess < self.config.ess_threshold * n as f64 {
                log_z += log_sum_exp(&log_weights) - (n as f64).ln();
                self.resample(drafting.model, particles, &log_weights, rng)?;
                resamples += 1;
            }
        }
        Ok((log_z, ess_trace, resamples))
    }

    /// One twisted step for `particle`: weights the allowed tokens by
    /// ψ(prefix·x) (φ for EOS), adds `ln Σ_x a·m·ψ(y·x) − ln ψ(y)` to the
    /// weight and draws from the twisted proposal.
    fn twisted_step(
        twist: &dyn Potential,
        particle: &mut Particle,
        allowed: &Allowed,
        scratch: &mut Scratch,
        vocabulary: &Vocabulary,
        rng: &mut (impl Rng + ?Sized),
    ) -> Option<TokenId> {
        let Scratch { twisted, text } = scratch;
        twisted.clear();
        text.clear();
        text.extend_from_slice(&particle.draft.sample.text);
        let base = text.len();
        for (&token, &lp) in allowed.tokens.iter().zip(&allowed.logprobs) {
            let value = if vocabulary.is_eos(token) {
                twist.log_final(&text[..base])
            } else {
                text.truncate(base);
                text.extend_from_slice(vocabulary.token_bytes(token).unwrap_or_default());
                twist.log_potential(text)
            };
            // NaN or +inf from a user potential would poison every weight.
            let value = if value.is_nan() || value == f64::INFINITY { f64::NEG_INFINITY } else { value };
            twisted.push(lp + value);
        }
        let total = log_sum_exp(twisted);
        particle.log_weight += total - particle.log_twist;
        let chosen = sample_log_weights(twisted, rng)?;
        particle.log_twist = twisted[chosen] - allowed.logprobs[chosen];
        Some(allowed.tokens[chosen])
    }

    /// Resamples the population; the model's sequences follow.
    fn resample(
        &self,
        model: &mut dyn LanguageModel,
        particles: &mut Vec<Particle>,
        log_weights: &[f64],
        rng: &mut (impl Rng + ?Sized),
    ) -> Result<(), SamplerError> {
        let n = particles.len();
        let ancestors = resample(self.config.resampling, log_weights, n, rng);
        let mut live = Vec::new();
        let mut live_index = vec![usize::MAX; n];
        for (i, particle) in particles.iter().enumerate() {
            if let Some(seq) = particle.draft.seq {
                live_index[i] = live.len();
                live.push(seq);
            }
        }
        let named: Vec<usize> =
            ancestors.iter().filter(|&&a| live_index[a] != usize::MAX).map(|&a| live_index[a]).collect();
        let mut seqs = model.reorder(&live, &named)?.into_iter();
        let mut next = Vec::with_capacity(n);
        for &a in &ancestors {
            let mut particle = particles[a].clone();
            particle.log_weight = 0.0;
            if particle.draft.seq.is_some() {
                particle.draft.seq = seqs.next();
            }
            next.push(particle);
        }
        *particles = next;
        Ok(())
    }
}
