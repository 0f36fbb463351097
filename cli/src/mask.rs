//! `trellis mask`: the tokens a constraint allows after a prefix, as JSON.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use trellis_token_index::{TokenId, TokenIndex, TokenSet};

use crate::error::{CliError, Status};
use crate::grammar_source::GrammarArgs;
use crate::tokenizer_args::TokenizerArgs;

#[derive(Args, Debug)]
pub struct MaskArgs {
    #[command(flatten)]
    grammar: GrammarArgs,
    #[command(flatten)]
    tokenizer: TokenizerArgs,
    /// The output so far, as text (tokenized by the tokenizer).
    #[arg(long, conflicts_with_all = ["prefix_ids", "prefix_file"])]
    prefix: Option<String>,
    /// The output so far, as comma-separated token ids.
    #[arg(long, value_name = "IDS", value_delimiter = ',', conflicts_with = "prefix_file")]
    prefix_ids: Option<Vec<TokenId>>,
    /// The output so far, as the raw bytes of a file (need not be a whole
    /// number of tokens).
    #[arg(long, value_name = "FILE")]
    prefix_file: Option<PathBuf>,
    /// Also print each allowed token's text.
    #[arg(long)]
    show: bool,
}

/// The prefix is not viable, or holds a token the grammar refuses: a
/// negative answer (exit 1), reported on stderr.
fn not_viable(message: String) -> Result<Status, CliError> {
    eprintln!("error: {message}");
    Ok(Status::No)
}

pub fn run(args: MaskArgs, io: &mut crate::Io<'_>) -> Result<Status, CliError> {
    args.grammar.require()?;
    let tokenizer = args.tokenizer.load()?;
    let index = TokenIndex::new(tokenizer.vocabulary().clone());
    let constraint = args.grammar.load_constraint(&index)?;
    let grammar = constraint.grammar().clone();
    let mut matcher = match &args.prefix_file {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
            let mut bytes_matcher = grammar.matcher();
            if let Err(e) = bytes_matcher.advance(&bytes) {
                return not_viable(format!("{}: the prefix is not viable: {e}", path.display()));
            }
            constraint.matcher_from(bytes_matcher)
        }
        None => constraint.matcher(),
    };
    let ids = match (&args.prefix, &args.prefix_ids) {
        (Some(text), _) => tokenizer.encode(text).map_err(|e| CliError::Input(format!("--prefix: {e}")))?,
        (None, Some(ids)) => ids.clone(),
        (None, None) => Vec::new(),
    };
    for (position, &token) in ids.iter().enumerate() {
        if let Err(e) = matcher.commit(token) {
            return not_viable(format!("prefix token {position} (id {token}): {e}"));
        }
    }
    let mut allowed = TokenSet::new(index.vocabulary().len());
    if let Err(e) = matcher.mask(&mut allowed) {
        eprintln!("undecided: {e}");
        return Ok(Status::Undecided);
    }
    let vocabulary = index.vocabulary();
    let tokens: Vec<serde_json::Value> = allowed
        .iter()
        .map(|token| {
            if args.show {
                let bytes = vocabulary.token_bytes(token).unwrap_or_default();
                json!({"id": token, "text": String::from_utf8_lossy(bytes)})
            } else {
                json!(token)
            }
        })
        .collect();
    let report = json!({
        "prefix_tokens": ids.len(),
        "prefix_bytes": matcher.byte_matcher().consumed(),
        "complete": matcher.is_complete(),
        "forced": String::from_utf8_lossy(&matcher.forced_bytes()),
        "count": tokens.len(),
        "allowed": tokens,
    });
    crate::error::print_line(io, &report.to_string())
}
