//! `trellis bench`: per-token mask time on real documents.
//!
//! Each document is tokenized by the tokenizer; before every token the mask
//! is computed (timed), then the token is committed. The first pass over
//! the documents is **cold** (the constraint is fresh: what a server pays
//! for a grammar it has never seen), the next `--repeat` passes are
//! **warm** (its caches filled; the memo by whole state emptied before each
//! pass). Prints one JSON object: `compile_ms` (grammar compile; with
//! `--index`, loading the index file), `index_ms` (token trie build),
//! `cold_mask_us` and `warm_mask_us` percentiles, `tokens` (per pass),
//! `documents`, `peak_rss_mb`.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;
use trellis_token_index::{TokenIndex, TokenSet};

use crate::error::{CliError, Status};
use crate::grammar_source::GrammarArgs;
use crate::tokenizer_args::TokenizerArgs;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    grammar: GrammarArgs,
    #[command(flatten)]
    tokenizer: TokenizerArgs,
    /// Documents, one per line: a JSON string, or an object with a `text`
    /// field (objects whose `schema`/`regex` field names another file than
    /// the grammar are skipped).
    #[arg(long, value_name = "FILE.jsonl")]
    docs: PathBuf,
    /// Warm passes over the documents after the cold one. Masks
    /// remembered by whole parser state are forgotten before each pass, so
    /// that a pass does not recall the states of the same documents in the
    /// pass before.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

pub fn run(args: BenchArgs, io: &mut crate::Io<'_>) -> Result<Status, CliError> {
    let report = bench(&args)?;
    crate::error::print_line(io, &report.to_string())
}

fn bench(args: &BenchArgs) -> Result<serde_json::Value, CliError> {
    args.grammar.require()?;
    if args.repeat == 0 {
        return Err(CliError::Input("--repeat must be at least 1".into()));
    }
    let tokenizer = args.tokenizer.load()?;
    let started = Instant::now();
    let index = TokenIndex::new(tokenizer.vocabulary().clone());
    let index_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let constraint = args.grammar.load_constraint(&index)?;
    let compile_ms = started.elapsed().as_secs_f64() * 1e3;

    let documents = read_documents(args)?;
    let mut encoded = Vec::with_capacity(documents.len());
    for (line, text) in &documents {
        let ids =
            tokenizer.encode(text).map_err(|e| format!("{}:{line}: cannot tokenize: {e}", args.docs.display()))?;
        encoded.push((*line, ids));
    }

    let mut cold_us: Vec<f64> = Vec::new();
    let mut warm_us: Vec<f64> = Vec::new();
    let mut mask = TokenSet::new(index.vocabulary().len());
    for pass in 0..=args.repeat {
        let times_us = if pass == 0 { &mut cold_us } else { &mut warm_us };
        constraint.forget_states();
        for (line, ids) in &encoded {
            let mut matcher = constraint.matcher();
            for &token in ids.iter().chain(index.vocabulary().eos_tokens().first()) {
                let started = Instant::now();
                matcher.mask(&mut mask).map_err(|e| {
                    CliError::Input(format!("{}:{line}: the mask is undecided: {e}", args.docs.display()))
                })?;
                times_us.push(started.elapsed().as_secs_f64() * 1e6);
                if !mask.contains(token) {
                    return Err(CliError::Input(format!(
                        "{}:{line}: token {token} ({:?}) is not allowed after {} bytes: the document is not in the \
                         language",
                        args.docs.display(),
                        String::from_utf8_lossy(index.vocabulary().token_bytes(token).unwrap_or_default()),
                        matcher.byte_matcher().consumed()
                    )));
                }
                matcher.commit(token).map_err(|e| format!("{}:{line}: {e}", args.docs.display()))?;
            }
        }
    }
    if cold_us.is_empty() {
        return Err(format!("{}: no documents for this grammar", args.docs.display()).into());
    }
    let tokens = cold_us.len();
    let cache = constraint.cache_stats();
    Ok(json!({
        "compile_ms": round(compile_ms),
        "index_ms": round(index_ms),
        "cold_mask_us": summary(&mut cold_us),
        "warm_mask_us": summary(&mut warm_us),
        "tokens": tokens,
        "documents": documents.len(),
        "vocabulary": index.vocabulary().len(),
        "peak_rss_mb": peak_rss_mb(),
        "cached_masks": cache.entries(),
        "cache_mb": round(cache.bytes as f64 / 1e6),
    }))
}

/// Percentiles (nearest rank) and mean of mask times.
fn summary(times_us: &mut [f64]) -> serde_json::Value {
    times_us.sort_by(f64::total_cmp);
    let n = times_us.len();
    if n == 0 {
        return serde_json::Value::Null;
    }
    let percentile = |p: f64| times_us[((n as f64 - 1.0) * p).round() as usize];
    json!({
        "p50": round(percentile(0.5)),
        "p90": round(percentile(0.9)),
        "p99": round(percentile(0.99)),
        "max": round(times_us[n - 1]),
        "mean": round(times_us.iter().sum::<f64>() / n as f64),
    })
}

pub(crate) fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// The documents of the file that belong to this grammar, with their line
/// numbers.
fn read_documents(args: &BenchArgs) -> Result<Vec<(usize, String)>, String> {
    let text = std::fs::read_to_string(&args.docs).map_err(|e| format!("{}: {e}", args.docs.display()))?;
    let grammar_name = args.grammar.file_name().map(std::ffi::OsString::from);
    let mut documents = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = index + 1;
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{}:{line_number}: not JSON: {e}", args.docs.display()))?;
        match value {
            serde_json::Value::String(doc) => documents.push((line_number, doc)),
            serde_json::Value::Object(row) => {
                let names_other = ["schema", "regex"].iter().filter_map(|key| row.get(*key)?.as_str()).any(|path| {
                    let name = std::path::Path::new(path).file_name().map(|n| n.to_os_string());
                    grammar_name.is_some() && name != grammar_name
                });
                if names_other {
                    continue;
                }
                let doc = row.get("text").and_then(|t| t.as_str()).ok_or_else(|| {
                    format!("{}:{line_number}: an object line needs a string `text` field", args.docs.display())
                })?;
                documents.push((line_number, doc.to_string()));
            }
            _ => return Err(format!("{}:{line_number}: expected a JSON string or object", args.docs.display())),
        }
    }
    Ok(documents)
}

/// Peak resident set size (VmHWM), in MB; null where /proc is missing.
pub(crate) fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(round(kb / 1024.0))
}
