//! `trellis generate`: text generation with a model, optionally constrained
//! by a grammar, with one of the samplers of design.md §4
//! (`trellis_engine::sampler`).
//!
//! - `masked` (default): each step samples from the model's distribution
//!   restricted to the exact mask and renormalised (with `--temperature`,
//!   `--top-k`, `--top-p`, `--jump-forward`); fast and always valid, but
//!   biased. The only sampler that streams: with one sample and text
//!   output, text is written as it is generated.
//! - `rejection`: exact samples of the model conditioned on the grammar;
//!   `--max-tries` bounds the work.
//! - `smc`: sequential Monte Carlo with `--particles` particles; consistent
//!   as the number of particles grows, and estimates the acceptance rate.
//! - `tsmc`: twisted SMC towards `--reward TEXT` (a soft bonus of
//!   `--reward-weight` nats per occurrence, on prefixes and at the end).
//! - `best-of-k`: blockwise best-of-K by the same reward.
//!
//! The flow is parse (clap, then [`GenerateArgs::validate`]: every option
//! is checked against the sampler before anything loads) → set up
//! ([`set_up`]: grammar, model, prompt, memory check) → run (one
//! [`Sampler::run_into`] per sample, each output written as it ends).
//!
//! Output ([`OutputFormat`]): `text` writes exactly the generated text
//! (several samples: one per line, a newline between them); `jsonl` one
//! object per sample as it ends; `json` one object with every sample and
//! the run's figures. `--stats FILE` writes the figures ([`stats_object`]).
//!
//! Exit codes (the table in `error.rs`): 0 done; 1 some sample has no
//! valid output (masked decoding unfinished after --max-tokens — what was
//! written is a viable prefix, not a string of the language —, rejection
//! sampling out of --max-tries, every particle or candidate outside the
//! constraint or refused by --verify); 2 bad input (model, grammar, prompt,
//! options, a verifier that cannot run); 4 writing stdout or the stats
//! file failed.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use trellis_engine::model::{ChatMessage, ChatTemplate, LanguageModel, Llama, default_model_path, set_threads};
use trellis_engine::sampler::{
    BestOfK, BestOfKConfig, CommandVerifier, Decoding, Finish, MaskedDecoder, Occurrences, Output, Progress,
    RejectionConfig, RejectionSampler, Resampling, Run, Sampler, SamplerError, Smc, SmcConfig, Task,
};
use trellis_token_index::{TokenConstraint, TokenId, TokenIndex, Tokenizer};

use crate::error::{CliError, Status};
use crate::grammar_source::GrammarArgs;

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    prompt: PromptArgs,
    #[command(flatten)]
    template: TemplateArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// The constraint on the output (none: unconstrained). An --index must
    /// have been compiled for the model's vocabulary (`trellis compile
    /// --tokenizer MODEL.gguf`).
    #[command(flatten)]
    grammar: GrammarArgs,
    /// At most this many generated tokens before EOS. An output must end
    /// with EOS within the budget (masked decoding: only EOS is allowed
    /// after it, and a text that is not complete there is unfinished).
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    #[command(flatten)]
    sampler: SamplerArgs,
    /// Best-of-K: continuations per block (default 4).
    #[arg(long)]
    candidates: Option<usize>,
    /// How many samples (independent runs).
    #[arg(long, default_value_t = 1)]
    samples: usize,
    #[command(flatten)]
    verify: VerifyArgs,
    #[command(flatten)]
    output: OutputArgs,
    /// Seed of the sampler's random numbers: the same seed, prompt and
    /// model give the same text.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Refuse settings whose estimated memory exceeds this many MB
    /// (default: the memory available now).
    #[arg(long, value_name = "MB")]
    memory_limit: Option<u64>,
}

/// The model, and its threads. Shared by `generate` and `synthesize`.
#[derive(Args)]
pub(crate) struct ModelArgs {
    /// A .gguf file or a Hugging Face folder (config.json, tokenizer.json,
    /// *.safetensors). Default: SmolLM2-135M-Instruct as put in the cache by
    /// scripts/fetch-model.sh.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Threads for the model (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

impl ModelArgs {
    /// Checks what can be checked before loading.
    pub fn validate(&self) -> Result<(), CliError> {
        match self.threads {
            Some(0) => Err(CliError::Input("--threads must be at least 1".into())),
            _ => Ok(()),
        }
    }

    /// Where the model is: `--model`, or the default model when it has
    /// been fetched.
    pub fn path(&self) -> Result<PathBuf, CliError> {
        match &self.model {
            Some(path) => Ok(path.clone()),
            None => {
                let path = default_model_path();
                if !path.exists() {
                    return Err(CliError::Input(format!(
                        "the default model is not at {}: run scripts/fetch-model.sh to fetch it, or pass --model PATH",
                        path.display()
                    )));
                }
                Ok(path)
            }
        }
    }

    /// Sets the threads, loads the model at `path` and its tokenizer.
    pub fn load(&self, path: &Path) -> Result<(Llama, Tokenizer), CliError> {
        if let Some(threads) = self.threads {
            set_threads(threads).map_err(|e| CliError::Input(e.to_string()))?;
        }
        let model = Llama::load(path).map_err(|e| CliError::Input(e.to_string()))?;
        let tokenizer = model
            .tokenizer()
            .cloned()
            .ok_or_else(|| CliError::Input(format!("{}: the model has no tokenizer", path.display())))?;
        Ok((model, tokenizer))
    }
}

/// Where the prompt comes from: exactly one of these.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct PromptArgs {
    /// The prompt, or `-` to read it from stdin. Wrapped in the model's
    /// chat template (from its GGUF metadata or tokenizer_config.json) as a
    /// user message, unless --raw.
    #[arg(long)]
    prompt: Option<String>,
    /// Read the prompt from this file.
    #[arg(short = 'f', long, value_name = "FILE")]
    prompt_file: Option<PathBuf>,
    /// A conversation instead of a prompt: a JSON file holding an
    /// OpenAI-style list of messages (`[{"role": "user", "content": "..."}]`,
    /// or an object with a `messages` field).
    #[arg(long, value_name = "FILE")]
    messages: Option<PathBuf>,
}

/// How the prompt is turned into tokens. Shared by `generate` and
/// `synthesize`.
#[derive(Args)]
pub(crate) struct TemplateArgs {
    /// Feed the prompt as it is, without the chat template.
    #[arg(long)]
    pub raw: bool,
    /// A system message before the prompt, in the chat template.
    #[arg(long, value_name = "TEXT", conflicts_with = "raw")]
    pub system: Option<String>,
}

/// Which sampler, and the settings of each. An option given for a sampler
/// it does not apply to is an error. Shared by `generate` and `synthesize`.
#[derive(Args)]
pub(crate) struct SamplerArgs {
    /// The sampler (see `trellis generate --help` and design.md §4).
    #[arg(long = "sampler", value_enum, default_value_t = SamplerKind::Masked)]
    pub kind: SamplerKind,
    /// Masked decoding: sampling temperature (default 0.7); 0 picks the
    /// most likely allowed token every step. The other samplers draw from
    /// the model itself (temperature 1).
    #[arg(long, allow_negative_numbers = true)]
    temperature: Option<f32>,
    /// Masked decoding: keep the k most likely allowed tokens.
    #[arg(long)]
    top_k: Option<usize>,
    /// Masked decoding: keep the most likely allowed tokens up to this much
    /// probability.
    #[arg(long, allow_negative_numbers = true)]
    top_p: Option<f64>,
    /// Masked decoding: commit text the grammar forces without sampling it
    /// (faster; changes token boundaries, so the distribution).
    #[arg(long)]
    jump_forward: bool,
    /// SMC and twisted SMC: particles (default 16).
    #[arg(long)]
    particles: Option<usize>,
    /// SMC and twisted SMC: resample when the effective sample size falls
    /// below this fraction of the particles (0 never, 1 whenever weights
    /// differ; default 0.5).
    #[arg(long, allow_negative_numbers = true)]
    ess_threshold: Option<f64>,
    /// SMC and twisted SMC: how ancestors are drawn when resampling
    /// (default systematic).
    #[arg(long, value_enum)]
    resampling: Option<ResamplingKind>,
    /// Rejection sampling: give up after this many tries per sample
    /// (default 10000). Masked decoding with --verify: whole outputs tried
    /// per sample before giving up (default 16).
    #[arg(long)]
    max_tries: Option<u64>,
    /// Best-of-K: continuations per block, from the command's own flag
    /// (`generate --candidates`, `synthesize --block-candidates`: in
    /// `synthesize`, `--candidates` counts candidate programs).
    #[arg(skip)]
    pub best_of_k: BestOfKWidth,
    /// Best-of-K: tokens per block (default 8).
    #[arg(long)]
    block_tokens: Option<usize>,
    /// Twisted SMC and best-of-K: reward occurrences of this text.
    #[arg(long, value_name = "TEXT")]
    reward: Option<String>,
    /// Twisted SMC and best-of-K: nats of reward per occurrence of
    /// --reward (default 1).
    #[arg(long, allow_negative_numbers = true)]
    reward_weight: Option<f64>,
}

/// Best-of-K's K, and the flag that gave it.
#[derive(Clone, Copy, Default)]
pub(crate) struct BestOfKWidth {
    pub flag: &'static str,
    pub value: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SamplerKind {
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

/// The final check of each output.
#[derive(Args)]
struct VerifyArgs {
    /// A final check: run `sh -c CMD` with each finished output on stdin;
    /// exit status 0 accepts it. Applied on top of the grammar (a hard 0/1
    /// potential: rejection stays exact, SMC consistent). A command that
    /// cannot run (exit 126, 127), is killed by a signal or runs past
    /// --verify-timeout is an error, not a rejection.
    #[arg(long, value_name = "CMD")]
    verify: Option<String>,
    /// Seconds one --verify verdict may take (default 10).
    #[arg(long, value_name = "SECONDS")]
    verify_timeout: Option<f64>,
}

/// What is written, and where.
#[derive(Args)]
struct OutputArgs {
    /// `text`: exactly the generated text (several samples: a newline
    /// between them); `jsonl`: one JSON object per sample (`text`,
    /// `finished`, `finish_reason`, `usage`); `json`: one object with the
    /// samples and the run's figures.
    #[arg(long = "output", id = "output_format", value_name = "FORMAT", value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Write one JSON object of statistics to this file.
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    /// No progress on stderr (there is none when stderr is not a terminal).
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Jsonl,
}

impl SamplerKind {
    /// The name as the flag spells it.
    pub fn name(self) -> String {
        self.to_possible_value().map(|value| value.get_name().to_string()).unwrap_or_default()
    }
}

impl SamplerArgs {
    /// Checks that every option given applies to the sampler, before
    /// anything is loaded.
    pub fn validate(&self) -> Result<(), CliError> {
        use SamplerKind::*;
        let given: [(&str, bool, &[SamplerKind]); 12] = [
            ("--temperature", self.temperature.is_some(), &[Masked]),
            ("--top-k", self.top_k.is_some(), &[Masked]),
            ("--top-p", self.top_p.is_some(), &[Masked]),
            ("--jump-forward", self.jump_forward, &[Masked]),
            ("--particles", self.particles.is_some(), &[Smc, Tsmc]),
            ("--ess-threshold", self.ess_threshold.is_some(), &[Smc, Tsmc]),
            ("--resampling", self.resampling.is_some(), &[Smc, Tsmc]),
            ("--max-tries", self.max_tries.is_some(), &[Masked, Rejection]),
            (self.best_of_k.flag, self.best_of_k.value.is_some(), &[BestOfK]),
            ("--block-tokens", self.block_tokens.is_some(), &[BestOfK]),
            ("--reward", self.reward.is_some(), &[Tsmc, BestOfK]),
            ("--reward-weight", self.reward_weight.is_some(), &[Tsmc, BestOfK]),
        ];
        for (flag, is_given, samplers) in given {
            if is_given && !samplers.contains(&self.kind) {
                let names: Vec<String> = samplers.iter().map(|kind| kind.name()).collect();
                let why = if samplers == [Masked] {
                    " (masked decoding only: the other samplers target the model's own distribution)"
                } else {
                    ""
                };
                return Err(CliError::Input(format!(
                    "{flag} applies to --sampler {} only, not {}{why}",
                    names.join(" and "),
                    self.kind.name()
                )));
            }
        }
        if matches!(self.kind, Tsmc | BestOfK) && self.reward.is_none() {
            return Err(CliError::Input("--sampler tsmc and best-of-k need --reward TEXT (what to prefer)".into()));
        }
        if self.reward_weight.is_some_and(|weight| !weight.is_finite()) {
            return Err(CliError::Input("--reward-weight must be finite".into()));
        }
        // The samplers' own checks of ranges run now too, so that a bad
        // value is refused before the model loads.
        self.build(&self.reward()).map(|_| ()).map_err(CliError::from)
    }

    /// The soft reward of `--reward`.
    pub fn reward(&self) -> Occurrences {
        Occurrences {
            text: self.reward.clone().unwrap_or_default().into_bytes(),
            weight: self.reward_weight.unwrap_or(1.0),
        }
    }

    /// The sampler these settings describe, scoring with `reward`.
    pub fn build<'p>(&self, reward: &'p Occurrences) -> Result<Sampler<'p>, SamplerError> {
        Ok(match self.kind {
            SamplerKind::Masked => Sampler::Masked(MaskedDecoder::new(Decoding {
                temperature: f64::from(self.temperature.unwrap_or(0.7)),
                top_k: self.top_k,
                top_p: self.top_p.unwrap_or(1.0),
                jump_forward: self.jump_forward,
                verifier_tries: match self.max_tries {
                    Some(tries) => usize::try_from(tries).unwrap_or(usize::MAX),
                    None => Decoding::default().verifier_tries,
                },
            })?),
            SamplerKind::Rejection => Sampler::Rejection(RejectionSampler::new(RejectionConfig {
                max_tries: self.max_tries.unwrap_or(10_000),
                batch: 1,
            })?),
            SamplerKind::Smc | SamplerKind::Tsmc => {
                let defaults = SmcConfig::default();
                let smc = Smc::new(SmcConfig {
                    particles: self.particles.unwrap_or(defaults.particles),
                    ess_threshold: self.ess_threshold.unwrap_or(defaults.ess_threshold),
                    resampling: match self.resampling {
                        None => defaults.resampling,
                        Some(ResamplingKind::Multinomial) => Resampling::Multinomial,
                        Some(ResamplingKind::Systematic) => Resampling::Systematic,
                        Some(ResamplingKind::Residual) => Resampling::Residual,
                    },
                })?;
                Sampler::Smc(if self.kind == SamplerKind::Tsmc { smc.with_twist(reward) } else { smc })
            }
            SamplerKind::BestOfK => {
                let defaults = BestOfKConfig::default();
                let config = BestOfKConfig {
                    candidates: self.best_of_k.value.unwrap_or(defaults.candidates),
                    block_tokens: self.block_tokens.unwrap_or(defaults.block_tokens),
                };
                Sampler::BestOfK(BestOfK::new(config, reward)?)
            }
        })
    }
}

impl GenerateArgs {
    /// Everything that can be checked without loading anything.
    fn validate(&self) -> Result<(), CliError> {
        let input = |message: &str| Err(CliError::Input(message.to_string()));
        if self.samples == 0 {
            return input("--samples must be at least 1");
        }
        if self.max_tokens == 0 {
            return input("--max-tokens must be at least 1");
        }
        self.model.validate()?;
        if self.memory_limit == Some(0) {
            return input("--memory-limit must be at least 1 (MB)");
        }
        match (&self.verify.verify, self.verify.verify_timeout) {
            (None, Some(_)) => return input("--verify-timeout applies with --verify only"),
            (_, Some(timeout)) => {
                seconds("--verify-timeout", timeout)?;
            }
            _ => {}
        }
        if self.prompt.messages.is_some() && (self.raw() || self.system().is_some()) {
            return input("--messages holds the whole conversation: it takes no --raw or --system");
        }
        self.sampler.validate()
    }

    fn raw(&self) -> bool {
        self.template.raw
    }

    fn system(&self) -> Option<&str> {
        self.template.system.as_deref()
    }
}

/// What a run of `generate` works with, once set up.
struct Setup {
    model: Llama,
    prompt: Vec<TokenId>,
    constraint: Option<TokenConstraint>,
    verifier: Option<CommandVerifier>,
    /// Opened before any work, so that a bad path fails at once.
    stats: Option<(PathBuf, File)>,
}

impl From<SamplerError> for CliError {
    fn from(error: SamplerError) -> CliError {
        match error {
            SamplerError::Output(error) => CliError::Io(error),
            error => CliError::Input(error.to_string()),
        }
    }
}

pub fn run(mut args: GenerateArgs, io: &mut crate::Io<'_>) -> Result<Status, CliError> {
    args.sampler.best_of_k = BestOfKWidth { flag: "--candidates", value: args.candidates };
    args.validate()?;
    // Opened first: a path that cannot be written fails before the model
    // loads, not after the run.
    let stats = match &args.output.stats {
        Some(path) => Some((
            path.clone(),
            File::create(path).map_err(|e| CliError::Input(format!("--stats {}: {e}", path.display())))?,
        )),
        None => None,
    };
    let mut setup = set_up(&args, stats, &mut *io.stdin)?;
    let reward = args.sampler.reward();
    let sampler = args.sampler.build(&reward)?;
    check_memory(&setup.model, &sampler, setup.prompt.len() + args.max_tokens, args.memory_limit)?;

    let mut out = Writer::new(
        &args,
        &sampler,
        setup.prompt.len(),
        setup.constraint.is_some(),
        io.stdout_is_terminal,
        &mut *io.stdout,
    );
    let bar = out.bar.clone();
    let mut report = |progress: &Progress| bar.set_message(describe(progress));
    let mut task = match &setup.constraint {
        Some(constraint) => Task::new(&setup.prompt, constraint, args.max_tokens),
        None => Task::unconstrained(&setup.prompt, args.max_tokens),
    };
    if let Some(verifier) = setup.verifier.as_mut() {
        task = task.with_verifier(verifier);
    }
    task = task.with_progress(&mut report);
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut run = Run::default();
    let started = Instant::now();
    let result = sample(&args, &sampler, &mut setup.model, &mut task, &mut rng, &mut run, &mut out);
    run.stats.total_seconds = started.elapsed().as_secs_f64();
    if let Some((path, file)) = setup.stats.take() {
        write_stats(&path, file, &args, &run, setup.prompt.len())?;
    }
    result?;
    out.finish(&args, &run)
}

/// Loads the grammar, the model and the prompt. A grammar is compiled
/// before the model loads (seconds), so that its errors come first; an
/// index file needs the model's vocabulary, so it loads after.
fn set_up(args: &GenerateArgs, stats: Option<(PathBuf, File)>, stdin: &mut dyn Read) -> Result<Setup, CliError> {
    let path = args.model.path()?;
    let messages = prompt_messages(args, stdin)?;
    let grammar = match args.grammar.is_given() && args.grammar.index.is_none() {
        true => Some(args.grammar.load()?),
        false => None,
    };
    let (model, tokenizer) = args.model.load(&path)?;
    let prompt =
        prompt_tokens(&tokenizer, &messages, args.raw()).map_err(|e| CliError::Input(format!("the prompt: {e}")))?;
    let index = || TokenIndex::new(model.vocabulary().clone());
    let constraint = match grammar {
        Some(grammar) => Some(TokenConstraint::new(&grammar, &index())),
        None if args.grammar.is_given() => Some(args.grammar.load_constraint(&index())?),
        None => None,
    };
    let verifier = args.verify.verify.as_ref().map(|command| {
        let mut verifier = CommandVerifier::new(command.clone());
        if let Some(seconds) = args.verify.verify_timeout {
            verifier.timeout = Duration::from_secs_f64(seconds);
        }
        verifier
    });
    Ok(Setup { model, prompt, constraint, verifier, stats })
}

/// The conversation to render: `--messages`, or the prompt as a user
/// message after the `--system` one.
fn prompt_messages(args: &GenerateArgs, stdin: &mut dyn Read) -> Result<Vec<ChatMessage>, CliError> {
    let prompt = &args.prompt;
    let text = match (&prompt.prompt, &prompt.prompt_file, &prompt.messages) {
        (Some(text), _, _) if text == "-" => {
            let mut text = String::new();
            stdin.read_to_string(&mut text).map_err(|e| CliError::Input(format!("--prompt -: reading stdin: {e}")))?;
            text
        }
        (Some(text), _, _) => text.clone(),
        (None, Some(path), _) => std::fs::read_to_string(path)
            .map_err(|e| CliError::Input(format!("--prompt-file {}: {e}", path.display())))?,
        (None, None, Some(path)) => return read_messages(path),
        (None, None, None) => return Err(CliError::Input("give --prompt, --prompt-file or --messages".into())),
    };
    let mut messages: Vec<ChatMessage> = args.system().map(ChatMessage::system).into_iter().collect();
    messages.push(ChatMessage::user(text));
    Ok(messages)
}

/// An OpenAI-style messages file: a list of `{"role", "content"}`, or an
/// object with such a list as `messages`.
fn read_messages(path: &Path) -> Result<Vec<ChatMessage>, CliError> {
    let origin = format!("--messages {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("{origin}: {e}")))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| CliError::Input(format!("{origin}: not JSON: {e}")))?;
    let list = match &value {
        Value::Array(list) => list,
        Value::Object(object) => match object.get("messages") {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(CliError::Input(format!(
                    "{origin}: expected a list of messages or {{\"messages\": [...]}}"
                )));
            }
        },
        _ => return Err(CliError::Input(format!("{origin}: expected a list of messages"))),
    };
    let mut messages = Vec::with_capacity(list.len());
    for (index, message) in list.iter().enumerate() {
        let field = |name: &str| message.get(name).and_then(Value::as_str);
        let (Some(role), Some(content)) = (field("role"), field("content")) else {
            return Err(CliError::Input(format!(
                "{origin}: message {index} needs string fields \"role\" and \"content\""
            )));
        };
        if !["system", "user", "assistant"].contains(&role) {
            return Err(CliError::Input(format!(
                "{origin}: message {index} has role {role:?}; expected system, user or assistant"
            )));
        }
        messages.push(ChatMessage { role: role.to_string(), content: content.to_string() });
    }
    if messages.is_empty() {
        return Err(CliError::Input(format!("{origin}: no messages")));
    }
    Ok(messages)
}

/// Refuses a sampler setting whose memory would not fit, with the figure
/// (and where it comes from), before it runs.
pub(crate) fn check_memory(
    model: &Llama,
    sampler: &Sampler<'_>,
    tokens: usize,
    memory_limit: Option<u64>,
) -> Result<(), CliError> {
    let sequences = sampler.sequences();
    let needed = model.memory_estimate(sequences, tokens);
    let (available, source) = match memory_limit {
        Some(mb) => (mb.saturating_mul(1 << 20), "--memory-limit"),
        None => match available_memory() {
            Some(bytes) => (bytes, "available now"),
            None => return Ok(()),
        },
    };
    if needed <= available {
        return Ok(());
    }
    let gb = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;
    Err(CliError::Input(format!(
        "{} model sequences of up to {tokens} tokens need about {:.1} GB, and {:.1} GB are {source}: use fewer \
         particles or candidates, a smaller --max-tokens, or raise --memory-limit",
        sequences,
        gb(needed),
        gb(available)
    )))
}

/// A timeout flag's value: positive and at most a day (past that,
/// `Duration` would be the least of the problems: it cannot hold 1e300
/// seconds).
pub(crate) fn seconds(flag: &str, value: f64) -> Result<Duration, CliError> {
    match value.is_finite() && value > 0.0 && value <= 86_400.0 {
        true => Ok(Duration::from_secs_f64(value)),
        false => {
            Err(CliError::Input(format!("{flag} must be a positive number of seconds, at most 86400, not {value}")))
        }
    }
}

/// `MemAvailable` of `/proc/meminfo`, in bytes; `None` where there is none.
pub(crate) fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|line| line.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs the sampler once per sample, writing each output as it ends (a
/// streamed one as it is generated).
fn sample(
    args: &GenerateArgs,
    sampler: &Sampler<'_>,
    model: &mut Llama,
    task: &mut Task<'_>,
    rng: &mut StdRng,
    run: &mut Run,
    out: &mut Writer<'_>,
) -> Result<(), CliError> {
    for index in 0..args.samples {
        out.start_sample(index);
        let before = run.outputs.len();
        if out.streaming {
            let mut pending = Vec::new();
            let result = sampler.run_into(model, task, rng, run, &mut |bytes| {
                pending.extend_from_slice(bytes);
                write_complete_characters(&mut *out.stdout, &mut pending)
            });
            // Bytes of a character the model never finished.
            out.stdout.write_all(String::from_utf8_lossy(&pending).as_bytes())?;
            out.stdout.flush()?;
            result?;
        } else {
            sampler.run_into(model, task, rng, run, &mut |_| Ok(()))?;
        }
        for output in &run.outputs[before..] {
            out.output(index, output)?;
        }
    }
    Ok(())
}

/// The progress line on stderr: on a terminal, unless `--quiet`, and not
/// when a streamed output goes to the same terminal.
fn progress_bar(args: &GenerateArgs, streams_to_terminal: bool) -> ProgressBar {
    if args.output.quiet || !io::stderr().is_terminal() || streams_to_terminal {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {prefix}{msg} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The progress line's text after a model step.
fn describe(progress: &Progress) -> String {
    let mut text = format!("step {} · {} live · {} tokens", progress.steps, progress.live, progress.tokens);
    if let Some(ess) = progress.ess {
        text.push_str(&format!(" · ESS {ess:.1}"));
    }
    if progress.tries > 0 {
        text.push_str(&format!(" · {} of {} tries accepted", progress.accepted, progress.tries));
    }
    text
}

/// Writes outputs as they end, in the chosen format.
struct Writer<'w> {
    stdout: &'w mut dyn Write,
    format: OutputFormat,
    /// Whether a single output is streamed to stdout as it is generated.
    streaming: bool,
    prompt_tokens: usize,
    constrained: bool,
    max_tokens: usize,
    samples: usize,
    written: usize,
    failed: usize,
    bar: ProgressBar,
}

impl<'w> Writer<'w> {
    fn new(
        args: &GenerateArgs,
        sampler: &Sampler<'_>,
        prompt_tokens: usize,
        constrained: bool,
        stdout_is_terminal: bool,
        stdout: &'w mut dyn Write,
    ) -> Writer<'w> {
        let streaming = args.output.format == OutputFormat::Text
            && sampler.streams()
            && args.samples == 1
            && args.verify.verify.is_none();
        Writer {
            stdout,
            format: args.output.format,
            streaming,
            prompt_tokens,
            constrained,
            max_tokens: args.max_tokens,
            samples: args.samples,
            written: 0,
            failed: 0,
            bar: progress_bar(args, streaming && stdout_is_terminal),
        }
    }

    fn start_sample(&self, index: usize) {
        if self.samples > 1 {
            self.bar.set_prefix(format!("sample {}/{} · ", index + 1, self.samples));
        }
        self.bar.set_message("prefill");
    }

    /// Whether an output is one: it ended with EOS, or without a grammar
    /// the budget ended it.
    fn is_valid(&self, output: &Output) -> bool {
        output.finish == Finish::Eos || (output.finish == Finish::MaxTokens && !self.constrained)
    }

    /// Why an output is not one, in the user's terms.
    fn failure(&self, output: &Output) -> Option<String> {
        match &output.finish {
            _ if self.is_valid(output) => None,
            Finish::MaxTokens => Some(format!(
                "the output is not finished after --max-tokens {}: it is a viable prefix of the grammar's \
                 language but not in it (raise --max-tokens)",
                self.max_tokens
            )),
            Finish::NoValidOutput(reason) => Some(format!("no valid output: {reason}")),
            _ => Some("no valid output".to_string()),
        }
    }

    /// The JSON object of one output.
    fn object(&self, index: usize, output: &Output) -> Value {
        let mut object = json!({
            "sample": index,
            "text": String::from_utf8_lossy(&output.sample.text),
            "finished": output.finish == Finish::Eos,
            "finish_reason": output.finish.name(),
            "usage": { "prompt_tokens": self.prompt_tokens, "completion_tokens": output.sample.tokens.len() },
        });
        if let Some(error) = self.failure(output) {
            object["error"] = Value::String(error);
        }
        object
    }

    /// Writes one output (a streamed one is already out).
    fn output(&mut self, index: usize, output: &Output) -> Result<(), CliError> {
        if let Some(error) = self.failure(output) {
            self.failed += 1;
            let which = if self.samples > 1 { format!("sample {}: ", index + 1) } else { String::new() };
            self.bar.suspend(|| eprintln!("error: {which}{error}"));
        }
        match self.format {
            OutputFormat::Text if self.streaming => {}
            OutputFormat::Text => {
                if self.written > 0 {
                    self.stdout.write_all(b"\n")?;
                }
                self.stdout.write_all(&output.sample.text)?;
            }
            OutputFormat::Jsonl => writeln!(self.stdout, "{}", self.object(index, output))?,
            OutputFormat::Json => {}
        }
        self.stdout.flush()?;
        self.written += 1;
        Ok(())
    }

    /// The end: the whole object in JSON mode, and the exit status.
    fn finish(self, args: &GenerateArgs, run: &Run) -> Result<Status, CliError> {
        self.bar.finish_and_clear();
        if self.format == OutputFormat::Json {
            let mut object = stats_object(args, run, self.prompt_tokens);
            object["outputs"] = Value::Array(
                run.outputs.iter().enumerate().map(|(index, output)| self.object(index, output)).collect(),
            );
            writeln!(self.stdout, "{object}")?;
            self.stdout.flush()?;
        }
        Ok(if self.failed > 0 { Status::No } else { Status::Success })
    }
}

/// The `--stats` object (and the figures of `--output json`):
///
/// - `sampler`, `samples` (runs made), `seed`, `max_tokens`;
/// - `finished`: whether every sample ended with EOS inside the target;
///   `finish_reasons`: each sample's (`eos`, `max_tokens`,
///   `no_valid_output`);
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
///   `usage`: `prompt_tokens` and the samples' `completion_tokens`;
/// - `timings`: `total_seconds`, `model_seconds`, `mask_seconds`,
///   `verifier_seconds`, `sampler_seconds` (the sampler's own overhead).
fn stats_object(args: &GenerateArgs, run: &Run, prompt_tokens: usize) -> Value {
    let finite = |x: f64| x.is_finite().then_some(x);
    let acceptance = run.acceptance.map(|acceptance| {
        let interval = acceptance.rate();
        json!({ "rate": interval.rate, "low": interval.low, "high": interval.high })
    });
    let stats = &run.stats;
    json!({
        "sampler": args.sampler.kind.name(),
        "samples": run.outputs.len(),
        "seed": args.seed,
        "max_tokens": args.max_tokens,
        "finished": run.outputs.iter().all(|output| output.finish == Finish::Eos),
        "finish_reasons": run.outputs.iter().map(|output| output.finish.name()).collect::<Vec<_>>(),
        "log_z": run.log_z(),
        "log_z_runs": run.log_weights.iter().map(|&l| finite(l)).collect::<Vec<_>>(),
        "acceptance_rate": acceptance,
        "tries": run.acceptance.map_or(0, |acceptance| acceptance.tries),
        "ess": run.ess,
        "resamples": run.resamples,
        "model_calls": stats.model_calls,
        "verifier_calls": stats.verifier_calls,
        "tokens": stats.tokens,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": run.outputs.iter().map(|output| output.sample.tokens.len()).sum::<usize>(),
        },
        "timings": {
            "total_seconds": stats.total_seconds,
            "model_seconds": stats.model_seconds,
            "mask_seconds": stats.mask_seconds,
            "verifier_seconds": stats.verifier_seconds,
            "sampler_seconds": (stats.total_seconds - stats.model_seconds - stats.mask_seconds - stats.verifier_seconds).max(0.0),
        },
    })
}

fn write_stats(
    path: &Path,
    mut file: File,
    args: &GenerateArgs,
    run: &Run,
    prompt_tokens: usize,
) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(&stats_object(args, run, prompt_tokens)).map_err(io::Error::other)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|e| CliError::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display()))))
}

/// The prompt's token ids: the chat template around the messages when the
/// model has one (and not `--raw`), else the text alone after BOS if the
/// model wants one.
pub(crate) fn prompt_tokens(
    tokenizer: &Tokenizer,
    messages: &[ChatMessage],
    raw: bool,
) -> Result<Vec<TokenId>, String> {
    let template = if raw { None } else { ChatTemplate::for_tokenizer(tokenizer).map_err(|e| e.to_string())? };
    let mut ids = Vec::new();
    match template {
        Some(template) => {
            let text = template.render(messages, true).map_err(|e| e.to_string())?;
            // The template's own control tokens must become control ids;
            // templates that want BOS write `{{ bos_token }}` themselves.
            ids = tokenizer.encode_with_special(&text).map_err(|e| e.to_string())?;
        }
        None => {
            if let (true, Some(bos)) = (tokenizer.add_bos_token(), tokenizer.vocabulary().bos_token()) {
                ids.push(bos);
            }
            let text: Vec<&str> = messages.iter().map(|message| message.content.as_str()).collect();
            ids.extend(tokenizer.encode(&text.join("\n")).map_err(|e| e.to_string())?);
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
fn write_complete_characters(out: &mut (impl Write + ?Sized), pending: &mut Vec<u8>) -> io::Result<()> {
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
