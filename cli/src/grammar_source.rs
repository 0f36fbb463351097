//! Where a grammar comes from on the command line: a file or inline text,
//! and its format.

use std::path::PathBuf;

use clap::Args;
use trellis_grammars::{CompiledGrammar, Config, Format};

/// Options shared by every subcommand that takes a grammar.
#[derive(Args, Debug, Clone)]
pub struct GrammarArgs {
    /// Grammar file (.gbnf, .lark, .regex).
    #[arg(long, value_name = "FILE", required_unless_present = "grammar_text", conflicts_with = "grammar_text")]
    pub grammar: Option<PathBuf>,
    /// Grammar given inline instead of in a file (needs --format).
    #[arg(long, value_name = "TEXT")]
    pub grammar_text: Option<String>,
    /// Grammar format; by default taken from the file's extension.
    #[arg(long, value_name = "FORMAT", value_parser = ["gbnf", "lark", "regex", "json-schema"])]
    pub format: Option<String>,
    /// JSON Schema only: drop keywords that cannot be enforced instead of
    /// refusing the schema; each dropped keyword is listed in a warning.
    #[arg(long)]
    pub lenient: bool,
}

/// A grammar that failed to load, already rendered for people.
pub struct LoadError(pub String);

impl GrammarArgs {
    /// Reads and compiles the grammar; errors come back rendered with
    /// `file:line:column` and a caret excerpt.
    pub fn load(&self) -> Result<CompiledGrammar, LoadError> {
        let (origin, text) = match (&self.grammar, &self.grammar_text) {
            (Some(path), _) => {
                let bytes = std::fs::read(path)
                    .map_err(|error| LoadError(format!("{}: cannot read the grammar: {error}", path.display())))?;
                let text = String::from_utf8(bytes).map_err(|error| {
                    LoadError(format!(
                        "{}: the grammar is not UTF-8 (invalid byte at offset {})",
                        path.display(),
                        error.utf8_error().valid_up_to()
                    ))
                })?;
                (path.display().to_string(), text)
            }
            (None, Some(text)) => ("<grammar-text>".to_string(), text.clone()),
            (None, None) => return Err(LoadError("give --grammar FILE or --grammar-text TEXT".into())),
        };
        let format = self.format(&origin)?;
        CompiledGrammar::with_config(&text, format, &Config::default())
            .map_err(|error| LoadError(error.render(&origin, &text)))
    }

    fn format(&self, origin: &str) -> Result<Format, LoadError> {
        match self.format.as_deref() {
            Some("json-schema") => Err(LoadError(format!(
                "{origin}: JSON Schema constraints are not supported yet (formats: gbnf, lark, regex)"
            ))),
            Some(name) => Format::from_name(name).ok_or_else(|| LoadError(format!("unknown format `{name}`"))),
            None => match &self.grammar {
                Some(path) => {
                    if path.to_string_lossy().ends_with(".schema.json") {
                        return Err(LoadError(format!(
                            "{origin}: JSON Schema constraints are not supported yet (formats: gbnf, lark, regex)"
                        )));
                    }
                    Format::from_path(path).ok_or_else(|| {
                        LoadError(format!(
                            "{origin}: cannot tell the grammar format from the file name; pass --format gbnf|lark|regex"
                        ))
                    })
                }
                None => Err(LoadError("--grammar-text needs --format gbnf|lark|regex".into())),
            },
        }
    }
}
