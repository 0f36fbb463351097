//! The `--tokenizer` flag of the commands that work on tokens without a
//! model (`mask`, `bench`, `compile`).

use clap::Args;
use trellis_token_index::Tokenizer;

use crate::error::CliError;

#[derive(Args, Debug, Clone)]
pub struct TokenizerArgs {
    /// The vocabulary masks are over: a tokenizer.json, a .gguf model, or
    /// tiktoken:NAME (o200k_base, cl100k_base, r50k_base).
    #[arg(long = "tokenizer", value_name = "SPEC")]
    pub spec: String,
}

impl TokenizerArgs {
    /// Loads the tokenizer; the error names the spec once (the tokenizer's
    /// own errors often name the path already).
    pub fn load(&self) -> Result<Tokenizer, CliError> {
        Tokenizer::from_spec(&self.spec).map_err(|error| {
            let message = error.to_string();
            match message.contains(&self.spec) {
                true => CliError::Input(message),
                false => CliError::Input(format!("--tokenizer {}: {message}", self.spec)),
            }
        })
    }
}
