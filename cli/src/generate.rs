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

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use clap::{Args, ValueEnum};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use trellis_engine::model::{ChatMessage, ChatTemplate, LanguageModel, Llama};
use trellis_engine::sampler::{
    BestOfK, BestOfKConfig, Decoding, MaskedDecoder, RejectionConfig, RejectionSampler, Resampling, RunStats, Sample,
    SamplerError, Smc, SmcConfig, Task, Verifier, VerifierError,
};
use trellis_token_index::{TokenConstraint, TokenId, TokenIndex, Tokenizer, default_model_path};

use crate::grammar_source::GrammarArgs;

#[derive(Args)]
pub struct GenerateArgs {
    /// The prompt. Wrapped in the model's chat template (from its GGUF
    /// metadata or tokenizer_config.json) as a user message, unless --raw.
    #[arg(long)]
    prompt: String,
    /// A .gguf file or a Hugging Face folder (config.json, tokenizer.json,
    /// *.safetensors). Default: SmolLM2-135M-Instruct as put in the cache by
    /// scripts/fetch-model.sh.
    #[arg(long)]
    model: Option<PathBuf>,
    /// At most this many generated tokens before EOS. An output must end
    /// with EOS within the budget (masked decoding: only EOS is allowed
    /// after it, and a text that is not complete there is an error).
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// The sampler (see `trellis generate --help` and design.md §4).
    #[arg(long, value_enum, default_value_t = SamplerKind::Masked)]
    sampler: SamplerKind,
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
    /// Feed the prompt as it is, without the chat template.
    #[arg(long)]
    raw: bool,
    /// Constrain the output to this grammar (.gbnf, .lark, .regex,
    /// .schema.json).
    #[arg(long, value_name = "FILE", conflicts_with = "grammar_text")]
    grammar: Option<PathBuf>,
    /// Constrain the output to the grammar of an index file from `trellis
    /// compile`, with its precomputed masks (it must have been compiled for
    /// the model's vocabulary: `--tokenizer MODEL.gguf`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["grammar", "grammar_text", "format", "lenient"])]
    index: Option<PathBuf>,
    /// The constraining grammar given inline (needs --format).
    #[arg(long, value_name = "TEXT")]
    grammar_text: Option<String>,
    /// Grammar format; by default taken from the file's extension.
    #[arg(long, value_name = "FORMAT", value_parser = ["gbnf", "lark", "regex", "json-schema"])]
    format: Option<String>,
    /// JSON Schema only: drop keywords that cannot be enforced instead of
    /// refusing the schema (each is listed in a warning).
    #[arg(long)]
    lenient: bool,
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

/// Exit codes: 0 done, 1 no valid output could be produced (masked
/// decoding's text is unfinished after --max-tokens — what was streamed is
/// a viable prefix, not a string of the language —, rejection sampling ran
/// out of --max-tries, or every particle/candidate ended outside the
/// constraint or was refused by --verify), 2 bad input (model, grammar,
/// prompt, options, a verifier that cannot run), 3 I/O error writing
/// stdout or the stats file.
pub fn run(args: GenerateArgs) -> ExitCode {
    match generate(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::NoOutput(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(error)) => {
            eprintln!("error: writing output failed: {error}");
            ExitCode::from(3)
        }
    }
}

enum Failure {
    Input(String),
    NoOutput(String),
    Output(io::Error),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure::Output(error)
    }
}

impl From<SamplerError> for Failure {
    fn from(error: SamplerError) -> Self {
        match error {
            SamplerError::Unfinished { tokens } => Failure::NoOutput(format!(
                "the output is not finished after {tokens} tokens: it is a viable prefix of the grammar's language \
                 but not in it (raise --max-tokens)"
            )),
            error
            @ (SamplerError::BudgetExhausted { .. } | SamplerError::NoSurvivors | SamplerError::NoMass { .. }) => {
                Failure::NoOutput(error.to_string())
            }
            SamplerError::Output(error) => Failure::Output(error),
            error => Failure::Input(error.to_string()),
        }
    }
}

fn input(error: impl std::fmt::Display) -> Failure {
    Failure::Input(error.to_string())
}

/// `--verify CMD`: the text on stdin of `sh -c CMD`, accepted iff it exits
/// with status 0.
struct CommandVerifier {
    command: String,
}

impl Verifier for CommandVerifier {
    fn verify(&mut self, text: &[u8]) -> Result<bool, VerifierError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| VerifierError(format!("cannot run `{}`: {e}", self.command)))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A checker that exits without reading all of its input closes
            // the pipe: that is its verdict, not an error.
            match stdin.write_all(text) {
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                    return Err(VerifierError(format!("writing to `{}`: {e}", self.command)));
                }
                _ => {}
            }
        }
        let status = child.wait().map_err(|e| VerifierError(format!("waiting for `{}`: {e}", self.command)))?;
        match status.code() {
            Some(code) => Ok(code == 0),
            None => Err(VerifierError(format!("`{}` was killed by a signal", self.command))),
        }
    }
}

/// The soft reward of --reward: `weight` nats per occurrence of `text`.
struct Reward {
    text: Vec<u8>,
    weight: f64,
}

impl trellis_engine::sampler::Potential for Reward {
    fn log_potential(&self, prefix: &[u8]) -> f64 {
        if self.text.is_empty() {
            return 0.0;
        }
        let occurrences = prefix.windows(self.text.len()).filter(|w| *w == self.text.as_slice()).count();
        self.weight * occurrences as f64
    }
}

/// What the runs produced, for stdout and --stats.
#[derive(Default)]
struct Report {
    outputs: Vec<Sample>,
    /// Per run: ln Ẑ (SMC), ln of the importance weight (masked), or none.
    log_z_runs: Vec<f64>,
    ess: Vec<Vec<f64>>,
    resamples: usize,
    tries: u64,
    accepted: u64,
    stats: RunStats,
}

fn generate(args: &GenerateArgs) -> Result<(), Failure> {
    check_options(args)?;
    let path = match &args.model {
        Some(path) => path.clone(),
        None => {
            let path = default_model_path();
            if !path.exists() {
                return Err(input(format!(
                    "the default model is not at {}: run scripts/fetch-model.sh to fetch it, \
                     or pass --model PATH",
                    path.display()
                )));
            }
            path
        }
    };
    let source = (args.grammar.is_some() || args.grammar_text.is_some() || args.index.is_some()).then(|| GrammarArgs {
        grammar: args.grammar.clone(),
        grammar_text: args.grammar_text.clone(),
        format: args.format.clone(),
        lenient: args.lenient,
        index: args.index.clone(),
    });
    // A grammar is checked before the model loads (seconds), so that its
    // errors come first; an index file needs the model's vocabulary.
    let grammar = match &source {
        Some(source) if source.index.is_none() => Some(source.load().map_err(|e| Failure::Input(e.0))?),
        _ => None,
    };
    let mut model = Llama::load(&path).map_err(input)?;
    let tokenizer =
        model.tokenizer().cloned().ok_or_else(|| input(format!("{}: the model has no tokenizer", path.display())))?;
    let prompt = prompt_tokens(&tokenizer, args).map_err(|e| input(format!("the prompt: {e}")))?;
    let constraint = match (&source, grammar) {
        (_, Some(grammar)) => Some(TokenConstraint::new(&grammar, &TokenIndex::new(model.vocabulary().clone()))),
        (Some(source), None) => Some(
            source.load_constraint(&TokenIndex::new(model.vocabulary().clone())).map_err(|e| Failure::Input(e.0))?,
        ),
        (None, None) => None,
    };
    let mut verifier = args.verify.clone().map(|command| CommandVerifier { command });
    let mut task = match &constraint {
        Some(constraint) => Task::new(&prompt, constraint, args.max_tokens),
        None => Task::unconstrained(&prompt, args.max_tokens),
    };
    if let Some(verifier) = verifier.as_mut() {
        task = task.with_verifier(verifier);
    }
    let mut rng = StdRng::seed_from_u64(args.seed);
    let started = std::time::Instant::now();
    // Streaming: one masked sample, written as it comes (not with a
    // verifier, which may reject what was already written).
    let streaming = args.sampler == SamplerKind::Masked && args.samples == 1 && args.verify.is_none();
    let mut report = Report::default();
    let result = sample_all(args, &mut model, &mut task, &mut rng, streaming, &mut report);
    report.stats.total_seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &args.stats {
        write_stats(path, args, &report)?;
    }
    result?;
    if !streaming {
        let mut stdout = io::stdout().lock();
        for sample in &report.outputs {
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
    Ok(())
}

fn check_options(args: &GenerateArgs) -> Result<(), Failure> {
    let masked = args.sampler == SamplerKind::Masked;
    if !masked
        && (args.temperature.is_some_and(|t| t != 1.0)
            || args.top_k.is_some()
            || args.top_p.is_some_and(|p| p < 1.0)
            || args.jump_forward)
    {
        return Err(input(
            "--temperature, --top-k, --top-p and --jump-forward apply to masked decoding only: the other samplers \
             target the model's own distribution",
        ));
    }
    if let Some(t) = args.temperature
        && !(t.is_finite() && t >= 0.0)
    {
        return Err(input(format!("--temperature must be a number ≥ 0, not {t}")));
    }
    if args.samples == 0 {
        return Err(input("--samples must be at least 1"));
    }
    if matches!(args.sampler, SamplerKind::Tsmc | SamplerKind::BestOfK) && args.reward.is_none() {
        return Err(input("--sampler tsmc and best-of-k need --reward TEXT (what to prefer)"));
    }
    if !args.reward_weight.is_finite() {
        return Err(input("--reward-weight must be finite"));
    }
    Ok(())
}

fn sample_all(
    args: &GenerateArgs,
    model: &mut Llama,
    task: &mut Task<'_>,
    rng: &mut StdRng,
    streaming: bool,
    report: &mut Report,
) -> Result<(), Failure> {
    let reward = Reward { text: args.reward.clone().unwrap_or_default().into_bytes(), weight: args.reward_weight };
    let progress = io::stderr().is_terminal() && args.samples > 1;
    for index in 0..args.samples {
        if progress {
            eprint!("\rsample {}/{}", index + 1, args.samples);
        }
        match args.sampler {
            SamplerKind::Masked => {
                let decoding = Decoding {
                    temperature: f64::from(args.temperature.unwrap_or(0.7)),
                    top_k: args.top_k,
                    top_p: args.top_p.unwrap_or(1.0),
                    jump_forward: args.jump_forward,
                    ..Decoding::default()
                };
                let decoder = MaskedDecoder::new(decoding)?;
                let out = if streaming {
                    let mut stdout = io::stdout().lock();
                    let mut pending = Vec::new();
                    let result = decoder.sample_streaming(model, task, rng, &mut |bytes| {
                        pending.extend_from_slice(bytes);
                        write_complete_characters(&mut stdout, &mut pending)
                    });
                    // Bytes of a character the model never finished.
                    stdout.write_all(String::from_utf8_lossy(&pending).as_bytes())?;
                    writeln!(stdout)?;
                    stdout.flush()?;
                    result?
                } else {
                    decoder.sample(model, task, rng)?
                };
                if decoder.decoding().is_plain_proposal() {
                    report.log_z_runs.push(out.log_weight);
                }
                report.stats.add(&out.stats);
                report.outputs.push(out.sample);
            }
            SamplerKind::Rejection => {
                let sampler = RejectionSampler::new(RejectionConfig { max_tries: args.max_tries, batch: 1 })?;
                let run = sampler.run(model, task, 1, rng)?;
                report.tries += run.stats.tries;
                report.accepted += run.stats.accepted;
                report.stats.add(&run.stats.run);
                if run.samples.is_empty() {
                    let acceptance = run.stats.acceptance();
                    return Err(SamplerError::BudgetExhausted {
                        tries: run.stats.tries,
                        accepted: 0,
                        wanted: 1,
                        upper: acceptance.high,
                    }
                    .into());
                }
                report.outputs.extend(run.samples);
            }
            SamplerKind::Smc | SamplerKind::Tsmc => {
                let config = SmcConfig {
                    particles: args.particles,
                    ess_threshold: args.ess_threshold,
                    resampling: match args.resampling {
                        ResamplingKind::Multinomial => Resampling::Multinomial,
                        ResamplingKind::Systematic => Resampling::Systematic,
                        ResamplingKind::Residual => Resampling::Residual,
                    },
                };
                let smc = Smc::new(config)?;
                let smc = if args.sampler == SamplerKind::Tsmc { smc.with_twist(&reward) } else { smc };
                let run = smc.run(model, task, rng)?;
                report.log_z_runs.push(run.log_z);
                report.ess.push(run.ess.clone());
                report.resamples += run.resamples;
                report.stats.add(&run.stats);
                report.outputs.push(run.draw(rng)?.clone());
            }
            SamplerKind::BestOfK => {
                let config = BestOfKConfig { candidates: args.candidates, block_tokens: args.block_tokens };
                let (sample, stats) = BestOfK::new(config, &reward)?.run(model, task, rng)?;
                report.stats.add(&stats.run);
                report.outputs.push(sample);
            }
        }
    }
    if progress {
        eprintln!();
    }
    Ok(())
}

/// Writes the `--stats` object:
///
/// - `sampler`, `samples`, `seed`, `max_tokens`;
/// - `log_z`: the log of the mean Ẑ over runs — SMC's estimate of the
///   acceptance rate Z; for plain masked decoding (temperature 1, no
///   truncation) the importance estimate `mean Π Z_t`; for rejection
///   `ln(accepted / tries)`; `null` otherwise. `log_z_runs` has each run's;
/// - `acceptance_rate`: rejection sampling's `{rate, low, high}` (95%
///   Wilson interval) and `tries`; `null` for other samplers;
/// - `ess`: the effective-sample-size trace of each SMC run (a list of
///   lists); `resamples`: resampling events over all runs;
/// - `model_calls`, `verifier_calls`, `tokens` (sampled, all sequences);
/// - `timings`: `total_seconds`, `model_seconds`, `mask_seconds`,
///   `verifier_seconds`, `sampler_seconds` (the sampler's own overhead).
fn write_stats(path: &std::path::Path, args: &GenerateArgs, report: &Report) -> Result<(), Failure> {
    let sampler = args.sampler.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
    let finite = |x: f64| if x.is_finite() { Some(x) } else { None };
    let log_z = match args.sampler {
        SamplerKind::Rejection if report.tries > 0 => finite((report.accepted as f64 / report.tries as f64).ln()),
        _ if report.log_z_runs.is_empty() => None,
        _ => {
            let max = report.log_z_runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if max == f64::NEG_INFINITY {
                None
            } else {
                let mean =
                    report.log_z_runs.iter().map(|l| (l - max).exp()).sum::<f64>() / report.log_z_runs.len() as f64;
                finite(max + mean.ln())
            }
        }
    };
    let acceptance = (args.sampler == SamplerKind::Rejection).then(|| {
        let interval = trellis_engine::sampler::Interval::wilson(report.accepted, report.tries);
        json!({ "rate": interval.rate, "low": interval.low, "high": interval.high })
    });
    let stats = &report.stats;
    let object = json!({
        "sampler": sampler,
        "samples": report.outputs.len(),
        "seed": args.seed,
        "max_tokens": args.max_tokens,
        "log_z": log_z,
        "log_z_runs": report.log_z_runs.iter().map(|&l| finite(l)).collect::<Vec<_>>(),
        "acceptance_rate": acceptance,
        "tries": report.tries,
        "ess": report.ess,
        "resamples": report.resamples,
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
        .map_err(|e| Failure::Output(io::Error::new(e.kind(), format!("{}: {e}", path.display()))))
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

    #[test]
    fn the_reward_counts_occurrences() {
        use trellis_engine::sampler::Potential;
        let reward = Reward { text: b"ab".to_vec(), weight: 0.5 };
        assert_eq!(reward.log_potential(b"xabyab"), 1.0);
        assert_eq!(reward.log_final(b""), 0.0);
    }

    #[test]
    fn the_verifier_command_decides_by_exit_status() {
        let mut accept = CommandVerifier { command: "grep -q cat".into() };
        assert_eq!(accept.verify(b"a cat"), Ok(true));
        assert_eq!(accept.verify(b"a dog"), Ok(false));
    }
}
