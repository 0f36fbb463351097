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

use std::io::{BufRead, BufWriter, Write};

use clap::Args;
use serde_json::json;
use trellis_grammars::{CompiledGrammar, Format, Verdict};

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
    /// Describe the compiled grammar and its LR(1) conflicts, on stderr,
    /// before checking.
    #[arg(long)]
    explain: bool,
    /// JSON Schemas: also validate each document's meaning against the
    /// schema (with the `jsonschema` crate), whatever its layout; the exit
    /// status is then that of the validation. The grammar check still says
    /// whether the bytes are what generation would produce.
    #[arg(long)]
    validate: bool,
}

pub fn run(args: CheckArgs, io: &mut crate::Io<'_>) -> Result<Status, CliError> {
    args.grammar.require()?;
    if args.validate && args.prefix {
        return Err(CliError::Input("--validate judges whole documents: it takes no --prefix".into()));
    }
    let validator = if args.validate { Some(Validator::new(&args.grammar)?) } else { None };
    let grammar = args.grammar.load()?;
    if args.explain {
        explain(&grammar);
    }
    if args.jsonl {
        check_lines(&grammar, validator.as_ref(), io)
    } else {
        check_all(&grammar, args.prefix, validator.as_ref(), io)
    }
}

/// `--validate`: the schema as a validator of documents' meaning.
struct Validator(jsonschema::Validator);

impl Validator {
    fn new(grammar: &GrammarArgs) -> Result<Validator, CliError> {
        let source = grammar.source()?;
        if source.format != Format::JsonSchema {
            return Err(CliError::Input(format!(
                "--validate needs a JSON Schema, and the grammar is {}",
                source.format
            )));
        }
        let schema: serde_json::Value = serde_json::from_str(&source.text)
            .map_err(|e| CliError::Input(format!("{}: the schema is not JSON: {e}", source.origin)))?;
        let schema = trellis_grammars::json_schema::unwrap_response_format(&schema)
            .map_err(|error| CliError::Input(source.render(&error)))?;
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| CliError::Input(format!("{}: the validator refuses the schema: {e}", source.origin)))?;
        Ok(Validator(validator))
    }

    /// The document's errors (instance path and message), none when it
    /// validates; a document that is not JSON has one.
    fn errors(&self, document: &[u8]) -> Vec<String> {
        match serde_json::from_slice::<serde_json::Value>(document) {
            Ok(value) => self
                .0
                .iter_errors(&value)
                .map(|error| format!("at {:?}: {error}", error.instance_path.to_string()))
                .collect(),
            Err(error) => vec![format!("not JSON: {error}")],
        }
    }
}

fn explain(grammar: &CompiledGrammar) {
    let stats = grammar.stats();
    eprintln!(
        "grammar: {} terminals, {} nonterminals, {} productions",
        stats.terminals, stats.nonterminals, stats.productions
    );
    eprintln!(
        "lexer: {} DFA states{}",
        stats.lexer_states,
        if stats.lazy_lexer { " built so far (lazy DFA)" } else { "" }
    );
    eprintln!(
        "parser: {} LR(1) states ({} canonical), {} driver",
        stats.lr_states,
        stats.canonical_states,
        if stats.generalized { "GLR" } else { "deterministic LR" }
    );
    if grammar.conflicts().is_empty() {
        eprintln!("conflicts: none");
    } else {
        eprintln!("conflicts: {}", grammar.conflicts().len());
        for conflict in grammar.conflicts() {
            eprintln!("{conflict}");
        }
    }
}

fn check_all(
    grammar: &CompiledGrammar,
    prefix_mode: bool,
    validator: Option<&Validator>,
    io: &mut crate::Io<'_>,
) -> Result<Status, CliError> {
    let mut input = Vec::new();
    io.stdin.read_to_end(&mut input)?;
    let verdict = grammar.check(&input);
    let out = &mut *io.stdout;
    match verdict {
        Verdict::GaveUp { offset } => {
            writeln!(
                out,
                "undecided: gave up at byte {offset} (the grammar is too ambiguous here, or its lazy lexer ran out of \
                 states)"
            )?;
            return Ok(Status::Undecided);
        }
        Verdict::Complete => writeln!(out, "complete: the input is in the language ({})", bytes(input.len()))?,
        Verdict::Prefix => {
            writeln!(out, "incomplete: the input is a viable prefix but not in the language ({})", bytes(input.len()))?
        }
        Verdict::Rejected { offset } => writeln!(out, "rejected: {}", describe_offset(&input, offset))?,
    }
    let mut yes = if prefix_mode { verdict.is_prefix() } else { verdict.is_complete() };
    if let Some(validator) = validator {
        let errors = validator.errors(&input);
        match errors.first() {
            None => writeln!(out, "valid: the document validates against the schema")?,
            Some(first) => writeln!(out, "invalid: {first}{}", more(errors.len()))?,
        }
        yes = errors.is_empty();
    }
    Ok(if yes { Status::Success } else { Status::No })
}

/// " (and 3 more errors)".
fn more(errors: usize) -> String {
    match errors {
        0 | 1 => String::new(),
        2 => " (and 1 more error)".to_string(),
        n => format!(" (and {} more errors)", n - 1),
    }
}

/// "1 byte", "12 bytes".
fn bytes(count: usize) -> String {
    if count == 1 { "1 byte".to_string() } else { format!("{count} bytes") }
}

/// "byte 12 (line 2, column 3, 'x') cannot follow what comes before", or
/// for the first byte, "the input cannot start with 'x'".
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
    if offset == 0 {
        return format!("the input cannot start with {shown}");
    }
    format!("byte {offset} (line {line}, column {column}, {shown}) cannot follow what comes before")
}

fn check_lines(
    grammar: &CompiledGrammar,
    validator: Option<&Validator>,
    io: &mut crate::Io<'_>,
) -> Result<Status, CliError> {
    let mut out = BufWriter::new(&mut *io.stdout);
    for (index, line) in (&mut *io.stdin).split(b'\n').enumerate() {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let object = match serde_json::from_slice::<String>(&line) {
            Ok(text) => {
                let verdict = grammar.check(text.as_bytes());
                let mut object = json!({
                    "complete": verdict.is_complete(),
                    "prefix": verdict.is_prefix(),
                    "error_offset": verdict.error_offset(),
                });
                if verdict.gave_up() {
                    object["error"] = json!("undecided: too ambiguous or lexer limit");
                }
                if let Some(validator) = validator {
                    let errors = validator.errors(text.as_bytes());
                    object["valid"] = json!(errors.is_empty());
                    object["validation_errors"] = json!(errors);
                }
                object
            }
            Err(error) => {
                let message = format!("line {}: not a JSON string: {error}", index + 1);
                eprintln!("error: {message}");
                json!({ "complete": false, "prefix": false, "error_offset": null, "error": message })
            }
        };
        writeln!(out, "{object}")?;
    }
    out.flush()?;
    Ok(Status::Success)
}
