//! `trellis check`: is the text on stdin in the grammar's language?
//!
//! Exit status (the table in `error.rs`): 0 the input is in the language
//! (with `--prefix`: a viable prefix); 1 it is not; 2 the grammar is
//! invalid or unreadable; 3 the check could not decide (the grammar is too
//! ambiguous on this input, or its lazy lexer ran out of states). With
//! `--jsonl` the status is 0 unless the grammar is invalid (2): a line that
//! is not a JSON string, or that could not be decided, gets a verdict
//! object with an `error` field (and a message on stderr) so that output
//! lines stay aligned with input lines.

use std::io::{self, BufRead, BufWriter, Read, Write};

use clap::Args;
use trellis_grammars::{CompiledGrammar, Verdict};

use crate::error::{CliError, Status};
use crate::grammar_source::GrammarArgs;

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    grammar: GrammarArgs,
    /// Succeed if the input is a viable prefix (some continuation completes it).
    #[arg(long)]
    prefix: bool,
    /// Read one JSON string per line; print one JSON verdict per line.
    #[arg(long)]
    jsonl: bool,
    /// Describe the compiled grammar and its LR(1) conflicts before checking.
    #[arg(long)]
    explain: bool,
}

pub fn run(args: CheckArgs) -> Result<Status, CliError> {
    let grammar = args.grammar.load()?;
    if args.explain {
        explain(&grammar);
    }
    if args.jsonl { check_lines(&grammar) } else { check_all(&grammar, args.prefix) }
}

fn explain(grammar: &CompiledGrammar) {
    let stats = grammar.stats();
    println!(
        "grammar: {} terminals, {} nonterminals, {} productions",
        stats.terminals, stats.nonterminals, stats.productions
    );
    println!(
        "lexer: {} DFA states{}",
        stats.lexer_states,
        if stats.lazy_lexer { " built so far (lazy DFA)" } else { "" }
    );
    println!(
        "parser: {} LR(1) states ({} canonical), {} driver",
        stats.lr_states,
        stats.canonical_states,
        if stats.generalized { "GLR" } else { "deterministic LR" }
    );
    if grammar.conflicts().is_empty() {
        println!("conflicts: none");
    } else {
        println!("conflicts: {}", grammar.conflicts().len());
        for conflict in grammar.conflicts() {
            println!("{conflict}");
        }
    }
}

fn check_all(grammar: &CompiledGrammar, prefix_mode: bool) -> Result<Status, CliError> {
    let mut input = Vec::new();
    io::stdin().lock().read_to_end(&mut input)?;
    let verdict = grammar.check(&input);
    let mut out = io::stdout().lock();
    match verdict {
        Verdict::GaveUp { offset } => {
            writeln!(
                out,
                "undecided: gave up at byte {offset} (the grammar is too ambiguous here, or its lazy lexer ran out of \
                 states)"
            )?;
            return Ok(Status::Undecided);
        }
        Verdict::Complete => writeln!(out, "complete: the input is in the language ({} bytes)", input.len())?,
        Verdict::Prefix => {
            writeln!(out, "incomplete: the input is a viable prefix but not in the language ({} bytes)", input.len())?
        }
        Verdict::Rejected { offset } => writeln!(out, "rejected: {}", describe_offset(&input, offset))?,
    }
    let yes = if prefix_mode { verdict.is_prefix() } else { verdict.is_complete() };
    Ok(if yes { Status::Success } else { Status::No })
}

/// "byte 12 (line 2, column 3, `x`) cannot follow what comes before".
fn describe_offset(input: &[u8], offset: usize) -> String {
    let before = &input[..offset.min(input.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    let shown = match input.get(offset) {
        Some(byte) if byte.is_ascii_graphic() || *byte == b' ' => format!("'{}'", *byte as char),
        Some(byte) => format!("byte 0x{byte:02x}"),
        None => "end of input".to_string(),
    };
    format!("byte {offset} (line {line}, column {column}, {shown}) cannot follow what comes before")
}

fn check_lines(grammar: &CompiledGrammar) -> Result<Status, CliError> {
    let stdin = io::stdin().lock();
    let mut out = BufWriter::new(io::stdout().lock());
    for (index, line) in stdin.split(b'\n').enumerate() {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        match serde_json::from_slice::<String>(&line) {
            Ok(text) => {
                let verdict = grammar.check(text.as_bytes());
                let offset = verdict.error_offset().map_or_else(|| "null".to_string(), |o| o.to_string());
                if verdict.gave_up() {
                    writeln!(
                        out,
                        "{{\"complete\":false,\"prefix\":false,\"error_offset\":{offset},\"error\":\"undecided: too ambiguous or lexer limit\"}}"
                    )?;
                } else {
                    writeln!(
                        out,
                        "{{\"complete\":{},\"prefix\":{},\"error_offset\":{offset}}}",
                        verdict.is_complete(),
                        verdict.is_prefix()
                    )?;
                }
            }
            Err(error) => {
                let message = format!("line {}: not a JSON string: {error}", index + 1);
                eprintln!("error: {message}");
                writeln!(
                    out,
                    "{{\"complete\":false,\"prefix\":false,\"error_offset\":null,\"error\":{}}}",
                    serde_json::Value::String(message)
                )?;
            }
        }
    }
    out.flush()?;
    Ok(Status::Success)
}
