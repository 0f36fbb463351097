//! `trellis bench-model`: the model runtime's speed, as llama.cpp's
//! `llama-bench` and `llama-batched-bench` measure theirs.
//!
//! - **prefill**: one prompt of `--prompt-tokens` tokens in one forward
//!   pass (llama-bench's `pp`);
//! - **decode** at each `--batch` size B: B sequences of a 32-token prompt
//!   (llama-batched-bench's `-npp 32`), then `--new-tokens` steps that each
//!   append one token to every sequence in one batched pass; tokens/s
//!   counts B tokens per step (llama-batched-bench's `speed_tg`; at B = 1
//!   llama-bench's `tg`).
//!
//! Tokens are a fixed stream of ordinary ids, not sampled: the figure is
//! the model's, with no sampler in it. Each figure is the best of
//! `--repeat` runs after one warm-up. Prints one JSON object:
//! `prefill_tok_s`, `decode: [{batch, decode_tok_s, step_ms}]`,
//! `peak_rss_mb`, and the settings.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use trellis_engine::model::{LanguageModel, Llama, default_model_path, set_threads};
use trellis_token_index::TokenId;

use crate::bench::{peak_rss_mb, round};
use crate::error::{CliError, Status};
use crate::generate::available_memory;

/// The prompt of each decoded sequence, as in llama-batched-bench's runs.
const DECODE_PROMPT: usize = 32;

#[derive(Args, Debug)]
pub struct BenchModelArgs {
    /// A `.gguf` file or a Hugging Face folder (default: the default model).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Batch sizes to decode at, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64", value_name = "B,B,...")]
    batch: Vec<usize>,
    /// Tokens of the prefill prompt.
    #[arg(long, default_value_t = 128, value_name = "N")]
    prompt_tokens: usize,
    /// Decode steps per batch size.
    #[arg(long, default_value_t = 128, value_name = "N")]
    new_tokens: usize,
    /// Timed runs of each figure (the best is reported), after a warm-up.
    #[arg(long, default_value_t = 1, value_name = "N")]
    repeat: usize,
    /// Threads for the model (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

pub fn run(args: BenchModelArgs, io: &mut crate::Io<'_>) -> Result<Status, CliError> {
    let report = bench(&args)?;
    crate::error::print_line(io, &report.to_string())
}

fn bench(args: &BenchModelArgs) -> Result<serde_json::Value, CliError> {
    if args.batch.is_empty() || args.batch.contains(&0) {
        return Err(CliError::Input("--batch sizes must be at least 1".into()));
    }
    if args.prompt_tokens == 0 || args.new_tokens == 0 || args.repeat == 0 {
        return Err(CliError::Input("--prompt-tokens, --new-tokens and --repeat must be at least 1".into()));
    }
    if args.threads == Some(0) {
        return Err(CliError::Input("--threads must be at least 1".into()));
    }
    if let Some(threads) = args.threads {
        set_threads(threads).map_err(|e| CliError::Input(e.to_string()))?;
    }
    let path = args.model.clone().unwrap_or_else(default_model_path);
    let started = Instant::now();
    let mut model = Llama::load(&path).map_err(|e| CliError::Input(e.to_string()))?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let longest = args.prompt_tokens.max(DECODE_PROMPT + args.new_tokens);
    if longest > model.max_sequence_len() {
        return Err(CliError::Input(format!(
            "a run needs {longest} positions; the model holds {}",
            model.max_sequence_len()
        )));
    }
    let largest = args.batch.iter().copied().max().unwrap_or(1);
    let estimate = model.memory_estimate(largest, DECODE_PROMPT + args.new_tokens);
    if let Some(available) = available_memory()
        && estimate > available
    {
        return Err(CliError::Input(format!(
            "--batch {largest} needs about {} MB for its caches; {} MB are available",
            estimate >> 20,
            available >> 20
        )));
    }
    let vocab = model.vocabulary().len();
    let token = |i: usize| -> TokenId { (260 + (i * 7919) % 20_000).min(vocab - 1) as TokenId };
    let run = |error: trellis_engine::model::ModelError| CliError::Input(error.to_string());

    // Prefill.
    let prompt: Vec<TokenId> = (0..args.prompt_tokens).map(token).collect();
    let warm = model.start(&prompt[..prompt.len().min(16)]).map_err(run)?;
    model.drop_sequence(warm).map_err(run)?;
    let mut prefill = f64::INFINITY;
    for _ in 0..args.repeat {
        let started = Instant::now();
        let seq = model.start(&prompt).map_err(run)?;
        prefill = prefill.min(started.elapsed().as_secs_f64());
        model.drop_sequence(seq).map_err(run)?;
    }
    progress(&format!("prefill {} tokens: {:.1} tok/s", args.prompt_tokens, args.prompt_tokens as f64 / prefill));

    let mut decode = Vec::new();
    for &batch in &args.batch {
        let mut best = f64::INFINITY;
        for run_index in 0..=args.repeat {
            // Distinct prompts, so no cache blocks are shared.
            let mut seqs = Vec::with_capacity(batch);
            for b in 0..batch {
                let prompt: Vec<TokenId> = (0..DECODE_PROMPT).map(|i| token(i + 101 * b)).collect();
                seqs.push(model.start(&prompt).map_err(run)?);
            }
            // The warm-up run decodes a few steps only.
            let steps = if run_index == 0 { args.new_tokens.min(4) } else { args.new_tokens };
            let started = Instant::now();
            for step in 0..steps {
                let tokens: Vec<_> = seqs.iter().enumerate().map(|(b, &seq)| (seq, token(step * 31 + b))).collect();
                model.extend(&tokens).map_err(run)?;
            }
            if run_index > 0 {
                best = best.min(started.elapsed().as_secs_f64() / steps as f64);
            }
            for seq in seqs {
                model.drop_sequence(seq).map_err(run)?;
            }
        }
        let tok_s = batch as f64 / best;
        progress(&format!("decode at batch {batch}: {tok_s:.1} tok/s ({:.2} ms per step)", best * 1e3));
        decode.push(json!({ "batch": batch, "decode_tok_s": round(tok_s), "step_ms": round(best * 1e3) }));
    }

    Ok(json!({
        "model": path.display().to_string(),
        "threads": args.threads,
        "load_ms": round(load_ms),
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "decode_prompt_tokens": DECODE_PROMPT,
        "prefill_tok_s": round(args.prompt_tokens as f64 / prefill),
        "decode": decode,
        "peak_rss_mb": peak_rss_mb(),
    }))
}

/// A progress line on stderr, when stderr is a terminal.
fn progress(line: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!("{line}");
    }
}
