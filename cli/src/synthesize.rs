//! `trellis synthesize`: the program-synthesis loop of
//! `trellis_engine::synthesis` on the command line — candidates from any
//! sampler (under `--grammar` when given), filtered by `--test CMD`,
//! repaired with its error message (`--repair R`), clustered by their
//! outputs on `--inputs` through `--run CMD`, and the `--clusters K`
//! representatives printed as JSONL, largest cluster first.
//!
//! Parse (clap, then [`SynthesizeArgs::validate`]: settings, the template
//! and the inputs file are checked before the model loads) → set up
//! (grammar, model, the prompt encoder) → run
//! ([`Synthesizer::run`]) → print.
//!
//! Exit codes (error.rs): 0 some candidate passed; 1 none did (stderr
//! shows the first failure's message); 2 bad input (settings, a template,
//! an inputs file, a test command that cannot start at all); 4 writing
//! failed.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use trellis_engine::command::CommandLimits;
use trellis_engine::model::{ChatMessage, LanguageModel};
use trellis_engine::synthesis::{
    CommandChecker, CommandRunner, Event, MAX_CANDIDATES, Observation, Problem, RepairTemplate, Synthesis,
    SynthesisConfig, SynthesisError, Synthesizer,
};
use trellis_token_index::{TokenConstraint, TokenIndex};

use crate::error::{CliError, Status};
use crate::generate::{BestOfKWidth, ModelArgs, SamplerArgs, TemplateArgs, check_memory, prompt_tokens, seconds};
use crate::grammar_source::GrammarArgs;

/// The most inputs `--inputs` may hold: each passing candidate runs once
/// per input.
const MAX_INPUTS: usize = 10_000;
/// The largest `--inputs` file read (bytes): inputs are held in memory.
const MAX_INPUTS_BYTES: u64 = 64 << 20;
/// The largest `--repair-template` file read (bytes).
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

#[derive(Args)]
pub struct SynthesizeArgs {
    /// The task, in words. Wrapped in the model's chat template as a user
    /// message (unless --raw); a repair prompt replaces it in repair
    /// rounds.
    #[arg(long, required = true)]
    prompt: String,
    #[command(flatten)]
    template: TemplateArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// The grammar every candidate must be in (none: unconstrained).
    #[command(flatten)]
    grammar: GrammarArgs,
    /// At most this many tokens per candidate (EOS not counted).
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    #[command(flatten)]
    sampler: SamplerArgs,
    /// Best-of-K: continuations per block (default 4).
    #[arg(long, value_name = "K")]
    block_candidates: Option<usize>,
    #[command(flatten)]
    loop_args: LoopArgs,
    #[command(flatten)]
    commands: CommandArgs,
    #[command(flatten)]
    output: SynthesisOutputArgs,
    /// Seed of the sampler's random numbers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Refuse sampler settings whose estimated memory exceeds this many MB
    /// (default: the memory available now).
    #[arg(long, value_name = "MB")]
    memory_limit: Option<u64>,
}

/// How much the loop samples, repairs and prints.
#[derive(Args)]
struct LoopArgs {
    /// Candidates sampled from the prompt.
    #[arg(long, default_value_t = 16)]
    candidates: usize,
    /// Representatives printed: one per cluster, largest cluster first.
    #[arg(long, default_value_t = 10)]
    clusters: usize,
    /// Repair rounds at most for each candidate the test rejects (each
    /// from the last rejected attempt and its error; stops at the first
    /// pass).
    #[arg(long, value_name = "R", default_value_t = 0)]
    repair: usize,
    /// The repair prompt's template, from this file: `{prompt}`,
    /// `{candidate}`, `{error}`; `{{` and `}}` for braces. Default: the
    /// one in the README.
    #[arg(long, value_name = "FILE")]
    repair_template: Option<PathBuf>,
}

/// The commands run on candidates, and their limits.
#[derive(Args)]
struct CommandArgs {
    /// The test: `sh -c CMD` with the candidate on stdin and in the file
    /// `$TRELLIS_CANDIDATE`; exit 0 passes, and stderr is the error fed
    /// back by --repair. It runs with your rights: no sandbox.
    #[arg(long, value_name = "CMD", required = true)]
    test: String,
    /// Seconds one --test or --run command may take before it is killed
    /// (the candidate then fails, or its output on that input is
    /// "timed out").
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    test_timeout: f64,
    /// A JSONL file of inputs, one JSON value a line: each passing
    /// candidate runs on each through --run, and candidates are clustered
    /// by their outputs. A string is given as its text, any other value as
    /// its JSON.
    #[arg(long, value_name = "FILE", requires = "run")]
    inputs: Option<PathBuf>,
    /// Runs a candidate on an input: `sh -c CMD` with the candidate in the
    /// file `$TRELLIS_CANDIDATE`, the input on stdin and its line number
    /// (from 0) in `$TRELLIS_INPUT_INDEX`; its stdout is the output.
    #[arg(long, value_name = "CMD", requires = "inputs")]
    run: Option<String>,
    /// Bytes of a --run command's stdout kept; past it the command is
    /// killed and its output is "wrote more than N bytes".
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    max_output: usize,
}

/// What is printed besides the representatives.
#[derive(Args)]
struct SynthesisOutputArgs {
    /// Counts and times as one JSON object: to FILE, or to stderr when no
    /// file is given.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    stats: Option<Option<PathBuf>>,
    /// No progress on stderr (there is none when stderr is not a
    /// terminal).
    #[arg(long, short = 'q')]
    quiet: bool,
}

impl SynthesizeArgs {
    /// What can be checked without loading anything.
    fn validate(&self) -> Result<(), CliError> {
        let input = |message: String| Err(CliError::Input(message));
        if self.max_tokens == 0 {
            return input("--max-tokens must be at least 1".into());
        }
        let candidates = self.loop_args.candidates;
        if !(1..=MAX_CANDIDATES).contains(&candidates) {
            return input(format!("--candidates must be between 1 and {MAX_CANDIDATES}, not {candidates}"));
        }
        if self.loop_args.clusters == 0 {
            return input("--clusters must be at least 1".into());
        }
        if self.loop_args.repair_template.is_some() && self.loop_args.repair == 0 {
            return input("--repair-template applies with --repair R (R ≥ 1) only".into());
        }
        if self.memory_limit == Some(0) {
            return input("--memory-limit must be at least 1 (MB)".into());
        }
        if self.commands.max_output == 0 {
            return input("--max-output must be at least 1 byte".into());
        }
        seconds("--test-timeout", self.commands.test_timeout)?;
        self.model.validate()?;
        self.sampler.validate()?;
        self.config().map(|_| ())
    }

    fn config(&self) -> Result<SynthesisConfig, CliError> {
        let config = SynthesisConfig {
            candidates: self.loop_args.candidates,
            repair_rounds: self.loop_args.repair,
            ..SynthesisConfig::default()
        };
        Synthesizer::new(self.sampler.build(&self.sampler.reward())?, config)?;
        Ok(config)
    }

    fn limits(&self) -> Result<CommandLimits, CliError> {
        Ok(CommandLimits {
            timeout: seconds("--test-timeout", self.commands.test_timeout)?,
            max_stdout: self.commands.max_output,
            ..CommandLimits::default()
        })
    }
}

impl From<SynthesisError> for CliError {
    fn from(error: SynthesisError) -> CliError {
        match error {
            SynthesisError::Sampler(error) => error.into(),
            error => CliError::Input(error.to_string()),
        }
    }
}

pub fn run(mut args: SynthesizeArgs, io: &mut crate::Io<'_>) -> Result<Status, CliError> {
    args.sampler.best_of_k = BestOfKWidth { flag: "--block-candidates", value: args.block_candidates };
    args.validate()?;
    let template = match &args.loop_args.repair_template {
        Some(path) => RepairTemplate::new(&read_limited(path, "--repair-template", MAX_TEMPLATE_BYTES)?)?,
        None => RepairTemplate::default(),
    };
    let inputs = match &args.commands.inputs {
        Some(path) => read_inputs(path)?,
        None => Vec::new(),
    };
    let stats_file = match &args.output.stats {
        Some(Some(path)) => Some((
            path.clone(),
            File::create(path).map_err(|e| CliError::Input(format!("--stats {}: {e}", path.display())))?,
        )),
        _ => None,
    };
    // The grammar first: its errors come before the model's seconds of
    // loading. An index file needs the model's vocabulary, so it waits.
    let path = args.model.path()?;
    let grammar = match args.grammar.is_given() && args.grammar.index.is_none() {
        true => Some(args.grammar.load()?),
        false => None,
    };
    let (mut model, tokenizer) = args.model.load(&path)?;
    let index = || TokenIndex::new(model.vocabulary().clone());
    let constraint: Option<TokenConstraint> = match grammar {
        Some(grammar) => Some(TokenConstraint::new(&grammar, &index())),
        None if args.grammar.is_given() => Some(args.grammar.load_constraint(&index())?),
        None => None,
    };

    let reward = args.sampler.reward();
    let sampler = args.sampler.build(&reward)?;
    let system = args.template.system.clone();
    let raw = args.template.raw;
    let mut encode = |text: &str| {
        let mut messages: Vec<ChatMessage> = system.iter().map(ChatMessage::system).collect();
        messages.push(ChatMessage::user(text));
        prompt_tokens(&tokenizer, &messages, raw)
    };
    let first_prompt = encode(&args.prompt).map_err(|e| CliError::Input(format!("the prompt: {e}")))?;
    check_memory(&model, &sampler, first_prompt.len() + args.max_tokens, args.memory_limit)?;
    let synthesizer = Synthesizer::new(sampler, args.config()?)?.with_template(template);

    let limits = args.limits()?;
    let mut checker = CommandChecker::with_limits(args.commands.test.clone(), limits);
    let mut runner = args.commands.run.as_ref().map(|command| CommandRunner::with_limits(command.clone(), limits));
    let bar = progress_bar(args.output.quiet);
    let (candidates, repairs) = (args.loop_args.candidates, args.loop_args.repair);
    let mut passed = 0;
    let mut on_event = |event: &Event| match *event {
        Event::Sampling { candidate, round } => bar.set_message(match round {
            0 => format!("candidate {}/{candidates} · {passed} passed", candidate + 1),
            _ => format!("candidate {}/{candidates} · repair {round}/{repairs} · {passed} passed", candidate + 1),
        }),
        Event::Checked { passed: Some(true), .. } => passed += 1,
        Event::Running { candidate, input } => {
            bar.set_message(format!("running candidate {} on input {}/{}", candidate + 1, input + 1, inputs.len()))
        }
        _ => {}
    };
    let mut problem = Problem::new(&args.prompt, &mut encode, &mut checker, args.max_tokens).with_events(&mut on_event);
    if let Some(constraint) = &constraint {
        problem = problem.with_constraint(constraint);
    }
    if let Some(runner) = runner.as_mut() {
        problem = problem.with_inputs(runner, &inputs);
    }
    let mut rng = StdRng::seed_from_u64(args.seed);
    let synthesis = synthesizer.run(&mut model, &mut problem, &mut rng);
    bar.finish_and_clear();
    let synthesis = synthesis?;

    for (rank, (cluster, candidate)) in synthesis.representatives(args.loop_args.clusters).enumerate() {
        let mut line = json!({
            "rank": rank + 1,
            "cluster_size": cluster.members.len(),
            "text": String::from_utf8_lossy(candidate.text()),
            "repairs": candidate.repairs(),
            "members": cluster.members,
        });
        if args.commands.inputs.is_some() {
            line["outputs"] = cluster.behaviour.iter().map(observation_json).collect();
        }
        writeln!(io.stdout, "{line}")?;
    }
    io.stdout.flush()?;
    let stats = stats_object(&args, &synthesis);
    match (&args.output.stats, stats_file) {
        (_, Some((path, mut file))) => {
            writeln!(file, "{}", serde_json::to_string_pretty(&stats).map_err(io::Error::other)?)
                .map_err(|e| CliError::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display()))))?
        }
        (Some(None), None) => eprintln!("{stats}"),
        _ => {}
    }
    if synthesis.stats.passed > 0 {
        return Ok(Status::Success);
    }
    eprintln!("error: {}", no_pass_reason(&synthesis));
    Ok(Status::No)
}

/// Why nothing passed: the first failure's message, or that nothing
/// reached the test.
fn no_pass_reason(synthesis: &Synthesis) -> String {
    let attempts = synthesis.candidates.iter().flat_map(|candidate| &candidate.attempts);
    let first_failure = attempts.clone().find_map(|attempt| attempt.verdict.as_ref()?.message().map(str::to_owned));
    match first_failure {
        Some(message) => format!(
            "no candidate passed --test ({} sampled, {} valid); the first failure said:\n{}",
            synthesis.stats.sampled, synthesis.stats.valid, message
        ),
        None => format!(
            "no candidate reached --test: none of the {} samples was a finished output (raise --max-tokens?)",
            synthesis.stats.sampled
        ),
    }
}

/// An output as JSON: its text, or `{"error": how it failed}`.
fn observation_json(observation: &Observation) -> Value {
    match observation {
        Observation::Output(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        Observation::Failure(how) => json!({ "error": how }),
    }
}

/// The `--stats` object: the library's counts and times
/// ([`trellis_engine::synthesis::SynthesisStats`]) and the pass rates.
fn stats_object(args: &SynthesizeArgs, synthesis: &Synthesis) -> Value {
    let stats = &synthesis.stats;
    let mut object = serde_json::to_value(stats).unwrap_or(Value::Null);
    let rate = |count: usize| count as f64 / stats.candidates.max(1) as f64;
    object["sampler"] = Value::String(args.sampler.kind.name());
    object["seed"] = json!(args.seed);
    object["inputs"] = json!(synthesis.clusters.first().map_or(0, |cluster| cluster.behaviour.len()));
    object["pass_rate"] = json!(rate(stats.passed));
    object["first_pass_rate"] = json!(rate(stats.passed_first));
    object["model_seconds"] = json!(stats.sampling.model_seconds);
    object
}

/// A small file read whole, refused past `limit` bytes.
fn read_limited(path: &Path, flag: &str, limit: u64) -> Result<String, CliError> {
    let origin = || format!("{flag} {}", path.display());
    let size = std::fs::metadata(path).map_err(|e| CliError::Input(format!("{}: {e}", origin())))?.len();
    if size > limit {
        return Err(CliError::Input(format!("{}: {size} bytes, more than the {limit} this reads", origin())));
    }
    std::fs::read_to_string(path).map_err(|e| CliError::Input(format!("{}: {e}", origin())))
}

/// The inputs of `--inputs`: one JSON value per non-blank line; a string
/// stands for its text, anything else for its JSON.
fn read_inputs(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let text = read_limited(path, "--inputs", MAX_INPUTS_BYTES)?;
    let mut inputs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| {
            CliError::Input(format!("--inputs {}:{}: not a JSON value: {e}", path.display(), number + 1))
        })?;
        inputs.push(match value {
            Value::String(text) => text.into_bytes(),
            other => other.to_string().into_bytes(),
        });
        if inputs.len() > MAX_INPUTS {
            return Err(CliError::Input(format!("--inputs {}: more than {MAX_INPUTS} inputs", path.display())));
        }
    }
    if inputs.is_empty() {
        return Err(CliError::Input(format!("--inputs {}: no inputs (one JSON value per line)", path.display())));
    }
    Ok(inputs)
}

/// The progress line on stderr: on a terminal, unless `--quiet`.
fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_json_lines_and_bad_lines_say_where() {
        let dir = std::env::temp_dir().join(format!("trellis-synthesize-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let good = dir.join("good.jsonl");
        std::fs::write(&good, "\"2 3\"\n\n{\"x\": 1}\n7\n").expect("written");
        assert_eq!(read_inputs(&good).expect("parsed"), vec![b"2 3".to_vec(), b"{\"x\":1}".to_vec(), b"7".to_vec()]);
        let bad = dir.join("bad.jsonl");
        std::fs::write(&bad, "1\n{oops\n").expect("written");
        let Err(CliError::Input(message)) = read_inputs(&bad) else { panic!("a malformed line is an input error") };
        assert!(message.contains("bad.jsonl:2: not a JSON value"), "{message}");
        let empty = dir.join("empty.jsonl");
        std::fs::write(&empty, "\n").expect("written");
        assert!(read_inputs(&empty).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
