//! `trellis mask`: the tokens a constraint allows after a prefix, as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use trellis_token_index::{TokenId, TokenIndex, TokenSet, Tokenizer};

use crate::grammar_source::GrammarArgs;

#[derive(Args, Debug)]
pub struct MaskArgs {
    #[command(flatten)]
    grammar: GrammarArgs,
    /// Tokenizer: a tokenizer.json, a .gguf model, or tiktoken:NAME.
    #[arg(long, value_name = "SPEC")]
    tokenizer: String,
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

pub fn run(args: MaskArgs) -> ExitCode {
    match mask(&args) {
        Ok(report) => crate::print_line(&report.to_string()),
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn mask(args: &MaskArgs) -> Result<serde_json::Value, (u8, String)> {
    let tokenizer = Tokenizer::from_spec(&args.tokenizer).map_err(|e| (2, format!("{}: {e}", args.tokenizer)))?;
    let index = TokenIndex::new(tokenizer.vocabulary().clone());
    let constraint = args.grammar.load_constraint(&index).map_err(|e| (2, e.0))?;
    let grammar = constraint.grammar().clone();
    let mut matcher = match &args.prefix_file {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| (2, format!("{}: {e}", path.display())))?;
            let mut bytes_matcher = grammar.matcher();
            bytes_matcher
                .advance(&bytes)
                .map_err(|e| (1, format!("{}: the prefix is not viable: {e}", path.display())))?;
            constraint.matcher_from(bytes_matcher)
        }
        None => constraint.matcher(),
    };
    let ids = match (&args.prefix, &args.prefix_ids) {
        (Some(text), _) => tokenizer.encode(text).map_err(|e| (2, format!("--prefix: {e}")))?,
        (None, Some(ids)) => ids.clone(),
        (None, None) => Vec::new(),
    };
    for (position, &token) in ids.iter().enumerate() {
        matcher.commit(token).map_err(|e| (1, format!("prefix token {position} (id {token}): {e}")))?;
    }
    let mut allowed = TokenSet::new(index.vocabulary().len());
    matcher.mask(&mut allowed);
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
    Ok(json!({
        "prefix_tokens": ids.len(),
        "prefix_bytes": matcher.byte_matcher().consumed(),
        "complete": matcher.is_complete(),
        "forced": String::from_utf8_lossy(&matcher.forced_bytes()),
        "count": tokens.len(),
        "allowed": tokens,
    }))
}
