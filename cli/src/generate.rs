//! `trellis generate`: text generation with a model, optionally constrained
//! by a grammar, with one of the samplers of design.md §4
//! (`trellis_engine::sampler`).
//!
//! - `masked` (default): each step samples from the model's distribution
//!   restricted to the exact mask and renormalised (with `--temperature`,
//!   `--top-k`, `--top-p`, `--jump-forward`); fast and always valid, but
//!   biased. The only sampler that streams: with one sample, text is
//!   written as it is generated.
//! - `rejection`: exact samples of the model conditioned on the grammar;
//!   `--max-tries` bounds the work.
//! - `smc`: sequential Monte Carlo with `--particles` particles; consistent
//!   as the number of particles grows, and estimates the acceptance rate.
//! - `tsmc`: twisted SMC towards `--reward TEXT` (a soft bonus of
//!   `--reward-weight` nats per occurrence, on prefixes and at the end).
//! - `best-of-k`: blockwise best-of-K by the same reward.
//!
//! Every sampler but masked decoding prints at the end. With `--samples K`
//! (K > 1) each sample is one JSON string per line; with `--stats FILE` one
//! JSON object describes the run (see [`write_stats`]).
//!
//! Exit codes (the table in `error.rs`): 0 done; 1 no valid output could
//! be produced (masked decoding's text is unfinished after --max-tokens —
//! what was streamed is a viable prefix, not a string of the language —,
//! rejection sampling ran out of --max-tries, or every particle or
//! candidate ended outside the constraint or was refused by --verify); 2
//! bad input (model, grammar, prompt, options, a verifier that cannot
//! run); 4 writing stdout or the stats file failed.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use trellis_engine::model::{ChatMessage, ChatTemplate, LanguageModel, Llama, default_model_path};
use trellis_engine::sampler::{
    BestOfK, BestOfKConfig, CommandVerifier, Decoding, MaskedDecoder, Occurrences, RejectionConfig, RejectionSampler,
    Resampling, Run, Sampler, SamplerError, Smc, SmcConfig, Task,
};
use trellis_token_index::{TokenConstraint, TokenId, TokenIndex, Tokenizer};

use crate::error::{CliError, Status};
use crate::grammar_source::GrammarArgs;

#[derive(Args)]
pub struct GenerateArgs {
    /// The prompt. Wrapped in the model's chat template (from its GGUF
    /// metadata or tokenizer_config.json) as a user message, unless --raw.
    #[arg(long)]
    prompt: String,
    /// Feed the prompt as it is, without the chat template.
    #[arg(long)]
    raw: bool,
    /// A .gguf file or a Hugging Face folder (config.json, tokenizer.json,
    /// *.safetensors). Default: SmolLM2-135M-Instruct as put in the cache by
    /// scripts/fetch-model.sh.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The constraint on the output (none: unconstrained). An --index must
    /// have been compiled for the model's vocabulary (`trellis compile
    /// --tokenizer MODEL.gguf`).
    #[command(flatten)]
    grammar: GrammarArgs,
    /// At most this many generated tokens before EOS. An output must end
    /// with EOS within the budget (masked decoding: only EOS is allowed
    /// after it, and a text that is not complete there is an error).
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    #[command(flatten)]
    sampler: SamplerArgs,
    /// How many samples (independent runs); more than one prints one JSON
    /// string per line.
    #[arg(long, default_value_t = 1)]
    samples: usize,
    /// Write one JSON object of statistics to this file.
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    /// A final check: run `sh -c CMD` with each finished output on stdin;
    /// exit status 0 accepts it. Applied on top of the grammar (a hard 0/1
    /// potential: rejection stays exact, SMC consistent).
    #[arg(long, value_name = "CMD")]
    verify: Option<String>,
    /// Seed of the sampler's random numbers: the same seed, prompt and
    /// model give the same text.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Which sampler, and the settings of each.
#[derive(Args)]
struct SamplerArgs {
    /// The sampler (see `trellis generate --help` and design.md §4).
    #[arg(long = "sampler", value_enum, default_value_t = SamplerKind::Masked)]
    kind: SamplerKind,
    /// Masked decoding only: sampling temperature (default 0.7); 0 picks
    /// the most likely allowed token every step. The other samplers draw
    /// from the model itself (temperature 1).
    #[arg(long)]
    temperature: Option<f32>,
    /// Masked decoding only: keep the k most likely allowed tokens.
    #[arg(long)]
    top_k: Option<usize>,
    /// Masked decoding only: keep the most likely allowed tokens up to this
    /// much probability.
    #[arg(long)]
    top_p: Option<f64>,
    /// Masked decoding only: commit text the grammar forces without
    /// sampling it (faster; changes token boundaries, so the distribution).
    #[arg(long)]
    jump_forward: bool,
    /// SMC and twisted SMC: particles.
    #[arg(long, default_value_t = 16)]
    particles: usize,
    /// SMC: resample when the effective sample size falls below this
    /// fraction of the particles (0 never, 1 whenever weights differ).
    #[arg(long, default_value_t = 0.5)]
    ess_threshold: f64,
    /// SMC: how ancestors are drawn when resampling.
    #[arg(long, value_enum, default_value_t = ResamplingKind::Systematic)]
    resampling: ResamplingKind,
    /// Rejection sampling: give up after this many tries per sample.
    #[arg(long, default_value_t = 10_000)]
    max_tries: u64,
    /// Best-of-K: continuations per block.
    #[arg(long, default_value_t = 4)]
    candidates: usize,
    /// Best-of-K: tokens per block.
    #[arg(long, default_value_t = 8)]
    block_tokens: usize,
    /// Twisted SMC and best-of-K: reward occurrences of this text.
    #[arg(long, value_name = "TEXT")]
    reward: Option<String>,
    /// Nats of reward per occurrence of --reward.
    #[arg(long, default_value_t = 1.0)]
    reward_weight: f64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SamplerKind {
    Masked,
    Rejection,
    Smc,
    Tsmc,
    BestOfK,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ResamplingKind {
    Multinomial,
    Systematic,
    Residual,
}

impl SamplerArgs {
    /// The kind's name as the flag spells it.
    fn name(&self) -> String {
        self.kind.to_possible_value().map(|value| value.get_name().to_string()).unwrap_or_default()
    }

    /// Checks that every option given applies to the sampler, before
    /// anything is loaded.
    fn validate(&self) -> Result<(), CliError> {
        let input = |message: &str| Err(CliError::Input(message.to_string()));
        if self.kind != SamplerKind::Masked
            && (self.temperature.is_some_and(|t| t != 1.0)
                || self.top_k.is_some()
                || self.top_p.is_some_and(|p| p < 1.0)
                || self.jump_forward)
        {
            return input(
                "--temperature, --top-k, --top-p and --jump-forward apply to masked decoding only: the other \
                 samplers target the model's own distribution",
            );
        }
        if let Some(t) = self.temperature
            && !(t.is_finite() && t >= 0.0)
        {
            return Err(CliError::Input(format!("--temperature must be a number ≥ 0, not {t}")));
        }
        if matches!(self.kind, SamplerKind::Tsmc | SamplerKind::BestOfK) && self.reward.is_none() {
            return input("--sampler tsmc and best-of-k need --reward TEXT (what to prefer)");
        }
        if !self.reward_weight.is_finite() {
            return input("--reward-weight must be finite");
        }
        Ok(())
    }

    /// The soft reward of `--reward`.
    fn reward(&self) -> Occurrences {
        Occurrences { text: self.reward.clone().unwrap_or_default().into_bytes(), weight: self.reward_weight }
    }

    /// The sampler these settings describe, scoring with `reward`.
    fn build<'p>(&self, reward: &'p Occurrences) -> Result<Sampler<'p>, SamplerError> {
        Ok(match self.kind {
            SamplerKind::Masked => Sampler::Masked(MaskedDecoder::new(Decoding {
                temperature: f64::from(self.temperature.unwrap_or(0.7)),
                top_k: self.top_k,
                top_p: self.top_p.unwrap_or(1.0),
                jump_forward: self.jump_forward,
                ..Decoding::default()
            })?),
            SamplerKind::Rejection => {
                Sampler::Rejection(RejectionSampler::new(RejectionConfig { max_tries: self.max_tries, batch: 1 })?)
            }
            SamplerKind::Smc | SamplerKind::Tsmc => {
                let smc = Smc::new(SmcConfig {
                    particles: self.particles,
                    ess_threshold: self.ess_threshold,
                    resampling: match self.resampling {
                        ResamplingKind::Multinomial => Resampling::Multinomial,
                        ResamplingKind::Systematic => Resampling::Systematic,
                        ResamplingKind::Residual => Resampling::Residual,
                    },
                })?;
                Sampler::Smc(if self.kind == SamplerKind::Tsmc { smc.with_twist(reward) } else { smc })
            }
            SamplerKind::BestOfK => Sampler::BestOfK(BestOfK::new(
                BestOfKConfig { candidates: self.candidates, block_tokens: self.block_tokens },
                reward,
            )?),
        })
    }
}

/// What a run of `generate` works with, once set up.
struct Setup {
    model: Llama,
    prompt: Vec<TokenId>,
    constraint: Option<TokenConstraint>,
    verifier: Option<CommandVerifier>,
}

impl From<SamplerError> for CliError {
    fn from(error: SamplerError) -> CliError {
        match error {
            SamplerError::Unfinished { tokens } => CliError::NoOutput(format!(
                "the output is not finished after {tokens} tokens: it is a viable prefix of the grammar's language \
                 but not in it (raise --max-tokens)"
            )),
            error
            @ (SamplerError::BudgetExhausted { .. } | SamplerError::NoSurvivors | SamplerError::NoMass { .. }) => {
                CliError::NoOutput(error.to_string())
            }
            SamplerError::Output(error) => CliError::Io(error),
            error => CliError::Input(error.to_string()),
        }
    }
}

pub fn run(args: GenerateArgs) -> Result<Status, CliError> {
    if args.samples == 0 {
        return Err(CliError::Input("--samples must be at least 1".into()));
    }
    args.sampler.validate()?;
    let mut setup = set_up(&args)?;
    let reward = args.sampler.reward();
    let sampler = args.sampler.build(&reward)?;
    let mut task = match &setup.constraint {
        Some(constraint) => Task::new(&setup.prompt, constraint, args.max_tokens),
        None => Task::unconstrained(&setup.prompt, args.max_tokens),
    };
    if let Some(verifier) = setup.verifier.as_mut() {
        task = task.with_verifier(verifier);
    }
    // Streaming: one masked sample, written as it comes (not with a
    // verifier, which may reject what was already written).
    let streaming = sampler.streams() && args.samples == 1 && args.verify.is_none();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut run = Run::default();
    let started = Instant::now();
    let result = sample(&args, &sampler, &mut setup.model, &mut task, &mut rng, streaming, &mut run);
    run.stats.total_seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.stats {
        write_stats(path, &args, &run)?;
    }
    result?;
    if !streaming {
        let mut stdout = io::stdout().lock();
        for sample in &run.samples {
            if args.samples == 1 {
                stdout.write_all(&sample.text)?;
                writeln!(stdout)?;
            } else {
                let line = serde_json::to_string(&String::from_utf8_lossy(&sample.text)).map_err(io::Error::other)?;
                writeln!(stdout, "{line}")?;
            }
        }
        stdout.flush()?;
    }
    Ok(Status::Success)
}

/// Loads the grammar, the model and the prompt. A grammar is compiled
/// before the model loads (seconds), so that its errors come first; an
/// index file needs the model's vocabulary, so it loads after.
fn set_up(args: &GenerateArgs) -> Result<Setup, CliError> {
    let path = match &args.model {
        Some(path) => path.clone(),
        None => {
            let path = default_model_path();
            if !path.exists() {
                return Err(CliError::Input(format!(
                    "the default model is not at {}: run scripts/fetch-model.sh to fetch it, or pass --model PATH",
                    path.display()
                )));
            }
            path
        }
    };
    let grammar = match args.grammar.is_given() && args.grammar.index.is_none() {
        true => Some(args.grammar.load()?),
        false => None,
    };
    let model = Llama::load(&path).map_err(|e| CliError::Input(e.to_string()))?;
    let tokenizer = model
        .tokenizer()
        .cloned()
        .ok_or_else(|| CliError::Input(format!("{}: the model has no tokenizer", path.display())))?;
    let prompt = prompt_tokens(&tokenizer, args).map_err(|e| CliError::Input(format!("the prompt: {e}")))?;
    let index = || TokenIndex::new(model.vocabulary().clone());
    let constraint = match grammar {
        Some(grammar) => Some(TokenConstraint::new(&grammar, &index())),
        None if args.grammar.is_given() => Some(args.grammar.load_constraint(&index())?),
        None => None,
    };
    let verifier = args.verify.clone().map(|command| CommandVerifier { command });
    Ok(Setup { model, prompt, constraint, verifier })
}

/// Runs the sampler once per sample; one streamed sample goes to stdout as
/// it is generated.
fn sample(
    args: &GenerateArgs,
    sampler: &Sampler<'_>,
    model: &mut Llama,
    task: &mut Task<'_>,
    rng: &mut StdRng,
    streaming: bool,
    run: &mut Run,
) -> Result<(), CliError> {
    if streaming {
        let mut stdout = io::stdout().lock();
        let mut pending = Vec::new();
        let result = sampler.run_into(model, task, rng, run, &mut |bytes| {
            pending.extend_from_slice(bytes);
            write_complete_characters(&mut stdout, &mut pending)
        });
        // Bytes of a character the model never finished.
        stdout.write_all(String::from_utf8_lossy(&pending).as_bytes())?;
        writeln!(stdout)?;
        stdout.flush()?;
        return Ok(result?);
    }
    let progress = io::stderr().is_terminal() && args.samples > 1;
    for index in 0..args.samples {
        if progress {
            eprint!("\rsample {}/{}", index + 1, args.samples);
        }
        sampler.run_into(model, task, rng, run, &mut |_| Ok(()))?;
    }
    if progress {
        eprintln!();
    }
    Ok(())
}

/// Writes the `--stats` object:
///
/// - `sampler`, `samples`, `seed`, `max_tokens`;
/// - `log_z`: [`Run::log_z`] — SMC's estimate of the acceptance rate Z
///   (the log of the mean Ẑ over runs); for plain masked decoding
///   (temperature 1, no truncation) the importance estimate `mean Π Z_t`;
///   for rejection `ln(accepted / tries)`; `null` otherwise. `log_z_runs`
///   has each run's;
/// - `acceptance_rate`: rejection sampling's `{rate, low, high}` (95%
///   Wilson interval) and `tries`; `null` for other samplers;
/// - `ess`: the effective-sample-size trace of each SMC run (a list of
///   lists); `resamples`: resampling events over all runs;
/// - `model_calls`, `verifier_calls`, `tokens` (sampled, all sequences);
/// - `timings`: `total_seconds`, `model_seconds`, `mask_seconds`,
///   `verifier_seconds`, `sampler_seconds` (the sampler's own overhead).
fn write_stats(path: &Path, args: &GenerateArgs, run: &Run) -> Result<(), CliError> {
    let finite = |x: f64| x.is_finite().then_some(x);
    let acceptance = run.acceptance.map(|acceptance| {
        let interval = acceptance.rate();
        json!({ "rate": interval.rate, "low": interval.low, "high": interval.high })
    });
    let stats = &run.stats;
    let object = json!({
        "sampler": args.sampler.name(),
        "samples": run.samples.len(),
        "seed": args.seed,
        "max_tokens": args.max_tokens,
        "log_z": run.log_z(),
        "log_z_runs": run.log_weights.iter().map(|&l| finite(l)).collect::<Vec<_>>(),
        "acceptance_rate": acceptance,
        "tries": run.acceptance.map_or(0, |acceptance| acceptance.tries),
        "ess": run.ess,
        "resamples": run.resamples,
        "model_calls": stats.model_calls,
        "verifier_calls": stats.verifier_calls,
        "tokens": stats.tokens,
        "timings": {
            "total_seconds": stats.total_seconds,
            "model_seconds": stats.model_seconds,
            "mask_seconds": stats.mask_seconds,
            "verifier_seconds": stats.verifier_seconds,
            "sampler_seconds": (stats.total_seconds - stats.model_seconds - stats.mask_seconds - stats.verifier_seconds).max(0.0),
        },
    });
    let text = serde_json::to_string_pretty(&object).map_err(io::Error::other)?;
    std::fs::write(path, text + "\n")
        .map_err(|e| CliError::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display()))))
}

/// The prompt's token ids: the chat template around a user message when the
/// model has one (and not `--raw`), else the text alone after BOS if the
/// model wants one.
fn prompt_tokens(tokenizer: &Tokenizer, args: &GenerateArgs) -> Result<Vec<TokenId>, String> {
    let template = if args.raw { None } else { ChatTemplate::for_tokenizer(tokenizer).map_err(|e| e.to_string())? };
    let mut ids = Vec::new();
    match template {
        Some(template) => {
            let text = template.render(&[ChatMessage::user(args.prompt.clone())], true).map_err(|e| e.to_string())?;
            // The template's own control tokens must become control ids;
            // templates that want BOS write `{{ bos_token }}` themselves.
            ids = tokenizer.encode_with_special(&text).map_err(|e| e.to_string())?;
        }
        None => {
            if let (true, Some(bos)) = (tokenizer.add_bos_token(), tokenizer.vocabulary().bos_token()) {
                ids.push(bos);
            }
            ids.extend(tokenizer.encode(&args.prompt).map_err(|e| e.to_string())?);
        }
    }
    if ids.is_empty() {
        return Err("it is empty, and the model needs at least one token to start from".into());
    }
    Ok(ids)
}

/// Writes the longest prefix of `pending` that is whole UTF-8 characters and
/// keeps the rest: a token may end inside a character (design.md §2), and
/// the next token finishes it. Invalid bytes are written as U+FFFD.
fn write_complete_characters(out: &mut impl Write, pending: &mut Vec<u8>) -> io::Result<()> {
    let keep = match std::str::from_utf8(pending) {
        Ok(_) => 0,
        // An incomplete character at the end: hold it back.
        Err(e) if e.error_len().is_none() => pending.len() - e.valid_up_to(),
        Err(_) => 0,
    };
    let split = pending.len() - keep;
    out.write_all(String::from_utf8_lossy(&pending[..split]).as_bytes())?;
    out.flush()?;
    pending.drain(..split);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_characters_are_held_back_until_complete() {
        let mut out = Vec::new();
        let mut pending = "é".as_bytes()[..1].to_vec();
        write_complete_characters(&mut out, &mut pending).unwrap();
        assert!(out.is_empty());
        pending.extend_from_slice(&"é!".as_bytes()[1..]);
        write_complete_characters(&mut out, &mut pending).unwrap();
        assert_eq!(out, "é!".as_bytes());
        assert!(pending.is_empty());
    }
}
