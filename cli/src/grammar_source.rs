//! Where a grammar comes from on the command line: a file, inline text, or
//! an index file written by `trellis compile` (which holds the grammar's
//! source and its precomputed masks). Every subcommand that takes a
//! grammar flattens [`GrammarArgs`].

use std::path::PathBuf;

use clap::Args;
use trellis_grammars::{CompiledGrammar, Config, Format, Source};
use trellis_token_index::{IndexFile, TokenConstraint, TokenIndex};

use crate::error::CliError;

/// Options shared by every subcommand that takes a grammar.
#[derive(Args, Debug, Clone, Default)]
pub struct GrammarArgs {
    /// Grammar file (.gbnf, .lark, .regex, .schema.json).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["grammar_text", "index"])]
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
    /// An index file from `trellis compile` instead of a grammar: its
    /// grammar, and its precomputed masks where masks are computed (the
    /// tokenizer must have the vocabulary it was compiled for).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["grammar_text", "format", "lenient"])]
    pub index: Option<PathBuf>,
}

/// How a grammar's lexer states are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lexer {
    /// On first use: compiling is fastest.
    Lazy,
    /// All while compiling, numbered the same way every time: what index
    /// files need, both when written and when read.
    Eager,
}

impl GrammarArgs {
    /// Whether any grammar was given (for commands where it is optional).
    pub fn is_given(&self) -> bool {
        self.grammar.is_some() || self.grammar_text.is_some() || self.index.is_some()
    }

    /// Reads and compiles the grammar (from an index file, the grammar it
    /// holds); errors come back rendered with `file:line:column` and a caret
    /// excerpt. For a JSON Schema in lenient mode, every keyword dropped is
    /// printed as a warning on stderr, so the scope of the guarantee is
    /// never silent.
    pub fn load(&self) -> Result<CompiledGrammar, CliError> {
        match &self.index {
            Some(_) => compile(self.read_index()?.source(), Lexer::Eager),
            None => compile(&self.source()?, Lexer::Lazy),
        }
    }

    /// The constraint over `index`'s vocabulary: from an index file, with
    /// its precomputed masks (refused if it was compiled for another
    /// vocabulary); otherwise compiled now, masks computed on first use.
    pub fn load_constraint(&self, index: &TokenIndex) -> Result<TokenConstraint, CliError> {
        let Some(path) = &self.index else {
            return Ok(TokenConstraint::new(&self.load()?, index));
        };
        let file = self.read_index()?;
        let grammar = compile(file.source(), Lexer::Eager)?;
        file.into_constraint(&grammar, index).map_err(|error| CliError::Input(format!("{}: {error}", path.display())))
    }

    /// The grammar file's name: of `--grammar`, or of the file an index
    /// file was compiled from.
    pub fn file_name(&self) -> Option<String> {
        let path = match &self.grammar {
            Some(path) => path.clone(),
            None => PathBuf::from(&self.read_index().ok()?.source().origin),
        };
        path.file_name().map(|name| name.to_string_lossy().into_owned())
    }

    /// The grammar's text, format and options, as an index file records
    /// them; `origin` is the path, or `<grammar-text>`.
    pub fn source(&self) -> Result<Source, CliError> {
        let (origin, text) = match (&self.grammar, &self.grammar_text) {
            (Some(path), _) => {
                let bytes = std::fs::read(path).map_err(|error| {
                    CliError::Input(format!("{}: cannot read the grammar: {error}", path.display()))
                })?;
                let text = String::from_utf8(bytes).map_err(|error| {
                    CliError::Input(format!(
                        "{}: the grammar is not UTF-8 (invalid byte at offset {})",
                        path.display(),
                        error.utf8_error().valid_up_to()
                    ))
                })?;
                (path.display().to_string(), text)
            }
            (None, Some(text)) => ("<grammar-text>".to_string(), text.clone()),
            (None, None) => return Err(CliError::Input("give --grammar FILE or --grammar-text TEXT".into())),
        };
        let mut source = Source::new(self.format(&origin)?, text);
        source.origin = origin;
        source.options.json_schema.lenient = self.lenient;
        Ok(source)
    }

    fn read_index(&self) -> Result<IndexFile, CliError> {
        let Some(path) = &self.index else { return Err(CliError::Input("no --index given".into())) };
        let origin = path.display();
        let bytes = std::fs::read(path)
            .map_err(|error| CliError::Input(format!("{origin}: cannot read the index: {error}")))?;
        IndexFile::parse(&bytes).map_err(|error| CliError::Input(format!("{origin}: {error}")))
    }

    fn format(&self, origin: &str) -> Result<Format, CliError> {
        let choices = "pass --format gbnf|lark|regex|json-schema";
        match self.format.as_deref() {
            Some(name) => Format::from_name(name).ok_or_else(|| CliError::Input(format!("unknown format `{name}`"))),
            None => match &self.grammar {
                Some(path) => Format::from_path(path).ok_or_else(|| {
                    CliError::Input(format!("{origin}: cannot tell the grammar format from the file name; {choices}"))
                }),
                None => Err(CliError::Input(format!("--grammar-text needs --format: {choices}"))),
            },
        }
    }
}

/// Compiles a grammar from its source, warning on stderr about every
/// keyword lenient mode dropped.
pub fn compile(source: &Source, lexer: Lexer) -> Result<CompiledGrammar, CliError> {
    let mut config = Config::default();
    config.lexer.eager = lexer == Lexer::Eager;
    let (grammar, warnings) = source.compile(&config).map_err(|error| CliError::Input(source.render(&error)))?;
    for warning in &warnings {
        eprintln!("{}: warning: {warning}", source.origin);
    }
    Ok(grammar)
}
