//! `trellis compile`: a grammar and a vocabulary compiled into an index
//! file — the grammar's source, the vocabulary, and the mask part of every
//! lexeme key the grammar can reach — that `--index FILE` loads in
//! milliseconds instead of computing the masks again.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use trellis_token_index::{TokenConstraint, TokenIndex};

use crate::error::{CliError, Status};
use crate::grammar_source::{GrammarArgs, Lexer, compile as compile_source};
use crate::tokenizer_args::TokenizerArgs;

#[derive(Args, Debug)]
pub struct CompileArgs {
    #[command(flatten)]
    grammar: GrammarArgs,
    #[command(flatten)]
    tokenizer: TokenizerArgs,
    /// The index file to write (replaced atomically).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
}

pub fn run(args: CompileArgs, io: &mut crate::Io<'_>) -> Result<Status, CliError> {
    let report = compile(&args)?;
    crate::error::print_line(io, &report.to_string())
}

fn compile(args: &CompileArgs) -> Result<serde_json::Value, CliError> {
    args.grammar.require()?;
    if args.grammar.index.is_some() {
        return Err(CliError::Input(
            "trellis compile takes a grammar (--grammar/--grammar-text), not an --index".into(),
        ));
    }
    let started = Instant::now();
    let source = args.grammar.source()?;
    let grammar = compile_source(&source, Lexer::Eager)?;
    let compile_ms = elapsed_ms(started);

    let started = Instant::now();
    let tokenizer = args.tokenizer.load()?;
    let index = TokenIndex::new(tokenizer.vocabulary().clone());
    let index_ms = elapsed_ms(started);

    let started = Instant::now();
    let constraint = TokenConstraint::new(&grammar, &index);
    let progress = if std::io::stderr().is_terminal() { ProgressBar::new(0) } else { ProgressBar::hidden() };
    progress.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} lexeme keys, {eta} left")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    progress.set_message("precomputing masks");
    if !grammar.has_stable_states() || grammar.stats().generalized {
        let reason = if grammar.stats().generalized {
            "the grammar has LR(1) conflicts and runs on the GLR driver, whose states have no stable keys"
        } else {
            "its lexer is too large to build whole (past the dense size limit), so its states are built on first \
             use and numbered differently each time"
        };
        eprintln!(
            "{}: warning: the index holds no precomputed masks: {reason}; masks will be computed on first use",
            source.origin
        );
    }
    let precomputed = constraint.precompute(|done, total| {
        progress.set_length(total as u64);
        progress.set_position(done as u64);
    });
    progress.finish_and_clear();
    let precompute_ms = elapsed_ms(started);
    let cache = constraint.cache_stats();

    let started = Instant::now();
    let file = constraint.to_index_file(&source);
    write_atomically(&args.output, &file)?;
    let write_ms = elapsed_ms(started);
    Ok(json!({
        "output": args.output.display().to_string(),
        "bytes": file.len(),
        "grammar": source.origin,
        "format": source.format.name(),
        "vocabulary": index.vocabulary().len(),
        "lexeme_keys": precomputed.keys,
        "distinct_sets": precomputed.distinct_sets,
        "cached_parts": cache.entries(),
        "cache_mb": cache.bytes as f64 / (1 << 20) as f64,
        "compile_ms": compile_ms,
        "index_ms": index_ms,
        "precompute_ms": precompute_ms,
        "write_ms": write_ms,
        "stable_states": grammar.has_stable_states(),
    }))
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

/// Writes beside the target and renames, so that a reader never sees half a
/// file and a failed write leaves the old one in place.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let file_name = path.file_name().ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let mut temporary_name = file_name.to_os_string();
    temporary_name.push(format!(".tmp{}", std::process::id()));
    let temporary = path.with_file_name(temporary_name);
    // Errors name the file asked for, not the temporary one beside it.
    std::fs::write(&temporary, bytes).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        format!("{}: cannot write: {e}", path.display())
    })?;
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        format!("{}: cannot write: {e}", path.display())
    })
}
