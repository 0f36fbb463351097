//! Where a grammar comes from on the command line: a file, inline text, or
//! an index file written by `trellis compile` (which holds the grammar's
//! source and its precomputed masks).

use std::path::PathBuf;

use clap::Args;
use trellis_grammars::json_schema::{JsonSchemaOptions, compile_json_schema};
use trellis_grammars::{CompiledGrammar, Config, Format};
use trellis_token_index::{GrammarSource, IndexFile, TokenConstraint, TokenIndex};

/// Options shared by every subcommand that takes a grammar.
#[derive(Args, Debug, Clone)]
pub struct GrammarArgs {
    /// Grammar file (.gbnf, .lark, .regex, .schema.json).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["grammar_text", "index"],
        conflicts_with_all = ["grammar_text", "index"]
    )]
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

/// A grammar that failed to load, already rendered for people.
pub struct LoadError(pub String);

impl GrammarArgs {
    /// Reads and compiles the grammar (from an index file, the grammar it
    /// holds); errors come back rendered with `file:line:column` and a caret
    /// excerpt. For a JSON Schema in lenient mode, every keyword dropped is
    /// printed as a warning on stderr, so the scope of the guarantee is
    /// never silent.
    pub fn load(&self) -> Result<CompiledGrammar, LoadError> {
        match &self.index {
            Some(_) => {
                let (origin, file) = self.read_index()?;
                compile_source(&origin, file.source(), Lexer::Eager)
            }
            None => {
                let (origin, source) = self.read_source()?;
                compile_source(&origin, &source, Lexer::Lazy)
            }
        }
    }

    /// The constraint over `index`'s vocabulary: from an index file, with
    /// its precomputed masks (refused if it was compiled for another
    /// vocabulary); otherwise compiled now, masks computed on first use.
    pub fn load_constraint(&self, index: &TokenIndex) -> Result<TokenConstraint, LoadError> {
        if self.index.is_none() {
            return Ok(TokenConstraint::new(&self.load()?, index));
        }
        let (origin, file) = self.read_index()?;
        let grammar = compile_source(&origin, file.source(), Lexer::Eager)?;
        file.into_constraint(&grammar, index).map_err(|error| LoadError(format!("{origin}: {error}")))
    }

    /// The grammar file's name: of `--grammar`, or the one an index file
    /// records.
    pub fn file_name(&self) -> Option<String> {
        if let Some(path) = &self.grammar {
            return path.file_name().map(|name| name.to_string_lossy().into_owned());
        }
        let (_, file) = self.read_index().ok()?;
        file.source().options.iter().find(|(name, _)| name == FILE_NAME).map(|(_, value)| value.clone())
    }

    fn read_index(&self) -> Result<(String, IndexFile), LoadError> {
        let Some(path) = &self.index else { return Err(LoadError("no --index given".into())) };
        let origin = path.display().to_string();
        let bytes =
            std::fs::read(path).map_err(|error| LoadError(format!("{origin}: cannot read the index: {error}")))?;
        let file = IndexFile::parse(&bytes).map_err(|error| LoadError(format!("{origin}: {error}")))?;
        Ok((origin, file))
    }

    /// The grammar's text, format and options, as an index file records
    /// them, with the name to show in errors.
    pub fn read_source(&self) -> Result<(String, GrammarSource), LoadError> {
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
        let mut options = Vec::new();
        if format == Format::JsonSchema {
            options.push((LENIENT.to_string(), self.lenient.to_string()));
        }
        if let Some(name) = self.grammar.as_ref().and_then(|path| path.file_name()) {
            options.push((FILE_NAME.to_string(), name.to_string_lossy().into_owned()));
        }
        Ok((origin, GrammarSource { format: format.name().to_string(), text, options }))
    }

    fn format(&self, origin: &str) -> Result<Format, LoadError> {
        match self.format.as_deref() {
            Some(name) => Format::from_name(name).ok_or_else(|| LoadError(format!("unknown format `{name}`"))),
            None => match &self.grammar {
                Some(path) => Format::from_path(path).ok_or_else(|| {
                    LoadError(format!(
                        "{origin}: cannot tell the grammar format from the file name; pass --format gbnf|lark|regex|json-schema"
                    ))
                }),
                None => Err(LoadError("--grammar-text needs --format gbnf|lark|regex|json-schema".into())),
            },
        }
    }
}

/// The option recording `--lenient` in an index file.
const LENIENT: &str = "lenient";
/// The option recording the grammar's file name in an index file.
const FILE_NAME: &str = "file";

/// How a grammar's lexer states are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lexer {
    /// On first use: compiling is fastest.
    Lazy,
    /// All while compiling, numbered the same way every time: what index
    /// files need, both when written and when read.
    Eager,
}

/// Compiles a grammar from its recorded source (see
/// [`GrammarArgs::read_source`]).
pub fn compile_source(origin: &str, source: &GrammarSource, lexer: Lexer) -> Result<CompiledGrammar, LoadError> {
    let format = Format::from_name(&source.format)
        .ok_or_else(|| LoadError(format!("{origin}: unknown grammar format `{}`", source.format)))?;
    let mut lenient = false;
    for (name, value) in &source.options {
        match (name.as_str(), value.as_str()) {
            (LENIENT, "true") => lenient = true,
            (LENIENT, "false") => lenient = false,
            (FILE_NAME, _) => {}
            _ => return Err(LoadError(format!("{origin}: unknown grammar option {name}={value}"))),
        }
    }
    let mut config =
        Config { json_schema: JsonSchemaOptions { lenient, ..JsonSchemaOptions::default() }, ..Config::default() };
    config.lexer.eager = lexer == Lexer::Eager;
    let text = &source.text;
    let render = |error: trellis_grammars::GrammarError| LoadError(error.render(origin, text));
    if format != Format::JsonSchema {
        return CompiledGrammar::with_config(text, format, &config).map_err(render);
    }
    let (ebnf, warnings) = compile_json_schema(text, &config.json_schema).map_err(render)?;
    for warning in &warnings {
        eprintln!("{origin}: warning: {warning}");
    }
    CompiledGrammar::from_ebnf(&ebnf, &config).map_err(render)
}
