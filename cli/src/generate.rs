//! `trellis generate`: text generation with a model, streamed to stdout;
//! with `--grammar`, constrained by masked decoding (each step samples from
//! the model's distribution restricted to the exact mask and renormalized).
//! The other samplers of design.md §4 (rejection, SMC, ...) will plug in
//! here.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use trellis_engine::model::{ChatMessage, ChatTemplate, LanguageModel, Llama};
use trellis_token_index::{
    TokenConstraint, TokenId, TokenIndex, TokenMatcher, TokenSet, Tokenizer, default_model_path,
};

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
    /// Stop after this many generated tokens (EOS stops earlier).
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Sampling temperature; 0 picks the most likely token every step.
    #[arg(long, default_value_t = 0.7)]
    temperature: f32,
    /// Seed of the sampler's random numbers: the same seed, prompt and
    /// model give the same text.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Feed the prompt as it is, without the chat template.
    #[arg(long)]
    raw: bool,
    /// Constrain the output to this grammar (.gbnf, .lark, .regex):
    /// masked decoding.
    #[arg(long, value_name = "FILE", conflicts_with = "grammar_text")]
    grammar: Option<PathBuf>,
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

/// Exit codes: 0 done, 1 the constrained output could not be finished
/// within --max-tokens (what was generated is a viable prefix, not a
/// string of the language), 2 bad input (model, grammar, prompt, options),
/// 3 I/O error writing stdout.
pub fn run(args: GenerateArgs) -> ExitCode {
    match generate(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Unfinished(tokens)) => {
            eprintln!(
                "error: the output is not finished after {tokens} tokens: it is a viable prefix of the grammar's \
                 language but not in it (raise --max-tokens)"
            );
            ExitCode::from(1)
        }
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(error)) => {
            eprintln!("error: writing stdout failed: {error}");
            ExitCode::from(3)
        }
    }
}

enum Failure {
    Input(String),
    Unfinished(usize),
    Output(io::Error),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure::Output(error)
    }
}

fn input(error: impl std::fmt::Display) -> Failure {
    Failure::Input(error.to_string())
}

fn generate(args: &GenerateArgs) -> Result<(), Failure> {
    if !(args.temperature.is_finite() && args.temperature >= 0.0) {
        return Err(input(format!("--temperature must be a number ≥ 0, not {}", args.temperature)));
    }
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
    let grammar = if args.grammar.is_some() || args.grammar_text.is_some() {
        let source = GrammarArgs {
            grammar: args.grammar.clone(),
            grammar_text: args.grammar_text.clone(),
            format: args.format.clone(),
            lenient: args.lenient,
        };
        Some(source.load().map_err(|e| Failure::Input(e.0))?)
    } else {
        None
    };
    let mut model = Llama::load(&path).map_err(input)?;
    let tokenizer =
        model.tokenizer().cloned().ok_or_else(|| input(format!("{}: the model has no tokenizer", path.display())))?;
    let prompt = prompt_tokens(&tokenizer, args).map_err(|e| input(format!("the prompt: {e}")))?;

    let seq = model.start(&prompt).map_err(input)?;
    let mut constraint: Option<(TokenMatcher, TokenSet)> = grammar.map(|grammar| {
        let index = TokenIndex::new(model.vocabulary().clone());
        let matcher = TokenConstraint::new(&grammar, &index).matcher();
        (matcher, TokenSet::new(model.vocabulary().len()))
    });
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut stdout = io::stdout().lock();
    let mut pending = Vec::new();
    let mut masked: Vec<f32> = Vec::new();
    let mut finished = false;
    let mut generated = 0;
    while generated < args.max_tokens {
        let logprobs = model.logprobs(seq).map_err(input)?;
        let token = match &mut constraint {
            None => sample(logprobs, args.temperature, &mut rng),
            Some((matcher, mask)) => {
                matcher.mask(mask);
                masked.clear();
                masked.extend(
                    logprobs
                        .iter()
                        .enumerate()
                        .map(|(token, &lp)| if mask.contains(token as TokenId) { lp } else { f32::NEG_INFINITY }),
                );
                if !masked.iter().any(|lp| lp.is_finite()) {
                    // The mask is never empty before the end (no dead ends);
                    // the model may still give every allowed token zero mass.
                    return Err(input("the model gives no probability to any token the grammar allows here"));
                }
                let token = sample(&masked, args.temperature, &mut rng);
                matcher.commit(token).map_err(input)?;
                token
            }
        };
        generated += 1;
        if model.vocabulary().is_eos(token) {
            finished = true;
            break;
        }
        pending.extend_from_slice(model.vocabulary().token_bytes(token).unwrap_or_default());
        write_complete_characters(&mut stdout, &mut pending)?;
        let full = model.sequence_len(seq).map_err(input)? >= model.max_sequence_len();
        if generated == args.max_tokens || full {
            break;
        }
        model.extend(&[(seq, token)]).map_err(input)?;
    }
    // Bytes of a character the model never finished.
    stdout.write_all(String::from_utf8_lossy(&pending).as_bytes())?;
    writeln!(stdout)?;
    stdout.flush()?;
    match &constraint {
        // Without EOS the output still counts when it is complete.
        Some((matcher, _)) if !finished && !matcher.is_complete() => Err(Failure::Unfinished(generated)),
        _ => Ok(()),
    }
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

/// Draws a token from `softmax(logprobs / temperature)`; the most likely
/// one at temperature 0.
fn sample(logprobs: &[f32], temperature: f32, rng: &mut StdRng) -> TokenId {
    let best = logprobs
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &lp)| if lp > best.1 { (i, lp) } else { best });
    if temperature == 0.0 {
        return best.0 as TokenId;
    }
    // Weights relative to the best token, so that the largest is 1 and
    // nothing overflows at low temperatures.
    let inverse = 1.0 / f64::from(temperature);
    let weight = |lp: f32| ((f64::from(lp) - f64::from(best.1)) * inverse).exp();
    let total: f64 = logprobs.iter().map(|&lp| weight(lp)).sum();
    let mut target = rng.random::<f64>() * total;
    for (i, &lp) in logprobs.iter().enumerate() {
        target -= weight(lp);
        if target <= 0.0 {
            return i as TokenId;
        }
    }
    // Rounding left a sliver of mass past the last token.
    best.0 as TokenId
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
    fn sampling_follows_the_temperature() {
        let logprobs = [0.5f32.ln(), 0.3f32.ln(), 0.2f32.ln()];
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(sample(&logprobs, 0.0, &mut rng), 0);
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            counts[sample(&logprobs, 1.0, &mut rng) as usize] += 1;
        }
        let share = counts[1] as f64 / 20_000.0;
        assert!((share - 0.3).abs() < 0.02, "{counts:?}");
    }
}
