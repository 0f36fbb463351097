//! Where a grammar comes from on the command line: a file, inline text, or
//! an index file written by `trellis compile` (which holds the grammar's
//! source and its precomputed masks). Every subcommand that takes a
//! grammar flattens [`GrammarArgs`].

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use trellis_grammars::{CompiledGrammar, Config, ErrorKind, Format, Source, Whitespace};
use trellis_token_index::{IndexFile, TokenConstraint, TokenIndex};

use crate::error::CliError;

/// Options shared by every subcommand that takes a grammar.
#[derive(Args, Debug, Clone, Default)]
pub struct GrammarArgs {
    /// Grammar file (.gbnf, .lark, .regex, .schema.json; a .json file that
    /// holds a JSON Schema is one too).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["grammar_text", "index", "json_schema", "json_schema_file"])]
    pub grammar: Option<PathBuf>,
    /// Grammar given inline instead of in a file (needs --format).
    #[arg(long, value_name = "TEXT")]
    pub grammar_text: Option<String>,
    /// Grammar format; by default taken from the file's extension.
    #[arg(long, value_name = "FORMAT", value_parser = ["gbnf", "lark", "regex", "json-schema"])]
    pub format: Option<String>,
    /// A JSON Schema given inline: the same as `--grammar-text SCHEMA
    /// --format json-schema`. An OpenAI `response_format` object is
    /// unwrapped to its schema.
    #[arg(long, value_name = "SCHEMA", conflicts_with_all = ["grammar_text", "index", "format", "json_schema_file"])]
    pub json_schema: Option<String>,
    /// A JSON Schema file, whatever its name.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["grammar_text", "index", "format"])]
    pub json_schema_file: Option<PathBuf>,
    /// JSON Schema only: drop keywords that cannot be enforced instead of
    /// refusing the schema; each dropped keyword is listed in a warning.
    #[arg(long)]
    pub lenient: bool,
    /// JSON Schema only: `compact` (the default) allows exactly one layout,
    /// `{"a": 1, "b": [1, 2]}`; `flexible` allows any JSON whitespace.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub whitespace: Option<WhitespaceArg>,
    /// Regex and Lark only: `\d`, `\w`, `\s` (and their negations) match
    /// ASCII only, instead of every Unicode digit, letter and space.
    #[arg(long)]
    pub ascii_classes: bool,
    /// An index file from `trellis compile` instead of a grammar: its
    /// grammar, and its precomputed masks where masks are computed (the
    /// tokenizer must have the vocabulary it was compiled for).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["grammar_text", "format", "lenient", "whitespace", "ascii_classes"])]
    pub index: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WhitespaceArg {
    Compact,
    Flexible,
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
    /// A usage error unless a grammar was given (for the commands that need
    /// one).
    pub fn require(&self) -> Result<(), CliError> {
        match self.is_given() {
            true => Ok(()),
            false => Err(CliError::Usage(
                "a grammar is required: --grammar FILE, --grammar-text TEXT --format F, --json-schema SCHEMA or \
                 --index FILE"
                    .into(),
            )),
        }
    }

    /// Whether any grammar was given (for commands where it is optional).
    pub fn is_given(&self) -> bool {
        self.grammar.is_some()
            || self.grammar_text.is_some()
            || self.index.is_some()
            || self.json_schema.is_some()
            || self.json_schema_file.is_some()
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
        let file = self.grammar.as_ref().or(self.json_schema_file.as_ref());
        let (origin, text) = match (file, &self.grammar_text, &self.json_schema) {
            (Some(path), _, _) => (path.display().to_string(), read_text(path)?),
            (None, Some(text), _) => ("<grammar-text>".to_string(), text.clone()),
            (None, None, Some(text)) => ("<json-schema>".to_string(), text.clone()),
            (None, None, None) => {
                return Err(CliError::Input("give --grammar FILE, --grammar-text TEXT or --json-schema SCHEMA".into()));
            }
        };
        let mut source = Source::new(self.format(&origin, &text)?, text);
        source.origin = origin;
        let json_schema_only = |flag: &str| {
            CliError::Input(format!("{flag} applies to JSON Schemas only, and the grammar is {}", source.format))
        };
        if self.lenient {
            if source.format != Format::JsonSchema {
                return Err(json_schema_only("--lenient"));
            }
            source.options.json_schema.lenient = true;
        }
        if self.ascii_classes {
            if !matches!(source.format, Format::Regex | Format::Lark) {
                return Err(CliError::Input(format!(
                    "--ascii-classes applies to regexes and Lark grammars only, and the grammar is {}",
                    source.format
                )));
            }
            source.options.ascii_classes = true;
        }
        if let Some(policy) = self.whitespace {
            if source.format != Format::JsonSchema {
                return Err(json_schema_only("--whitespace"));
            }
            source.options.json_schema.whitespace = match policy {
                WhitespaceArg::Compact => Whitespace::Compact,
                WhitespaceArg::Flexible => Whitespace::Flexible,
            };
        }
        Ok(source)
    }

    fn read_index(&self) -> Result<IndexFile, CliError> {
        let Some(path) = &self.index else { return Err(CliError::Input("no --index given".into())) };
        let origin = path.display();
        let bytes = std::fs::read(path)
            .map_err(|error| CliError::Input(format!("{origin}: cannot read the index: {error}")))?;
        IndexFile::parse(&bytes).map_err(|error| CliError::Input(format!("{origin}: {error}")))
    }

    fn format(&self, origin: &str, text: &str) -> Result<Format, CliError> {
        let choices = "pass --format gbnf|lark|regex|json-schema";
        if self.json_schema.is_some() || self.json_schema_file.is_some() {
            return Ok(Format::JsonSchema);
        }
        match self.format.as_deref() {
            Some(name) => Format::from_name(name).ok_or_else(|| CliError::Input(format!("unknown format `{name}`"))),
            None => match &self.grammar {
                Some(path) => Format::from_path(path)
                    .or_else(|| {
                        (path.extension().is_some_and(|e| e == "json") && looks_like_schema(text))
                            .then_some(Format::JsonSchema)
                    })
                    .ok_or_else(|| {
                        CliError::Input(format!(
                            "{origin}: cannot tell the grammar format from the file name; {choices}"
                        ))
                    }),
                None => Err(CliError::Input(format!("--grammar-text needs --format: {choices}"))),
            },
        }
    }
}

/// A grammar file's text, with what went wrong in the user's terms.
fn read_text(path: &std::path::Path) -> Result<String, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|error| CliError::Input(format!("{}: cannot read the grammar: {error}", path.display())))?;
    String::from_utf8(bytes).map_err(|error| {
        let bytes = error.as_bytes();
        if bytes.starts_with(trellis_token_index::INDEX_MAGIC) {
            return CliError::Input(format!(
                "{}: this is an index file from `trellis compile`: pass it as --index {0}",
                path.display()
            ));
        }
        CliError::Input(format!(
            "{}: the grammar is not UTF-8 (invalid byte at offset {})",
            path.display(),
            error.utf8_error().valid_up_to()
        ))
    })
}

/// Whether JSON text is a JSON Schema (for `.json` files): an object with a
/// keyword only schemas have at the top, or an OpenAI `response_format`.
fn looks_like_schema(text: &str) -> bool {
    const KEYWORDS: [&str; 12] = [
        "$schema",
        "type",
        "properties",
        "$ref",
        "$defs",
        "definitions",
        "anyOf",
        "oneOf",
        "allOf",
        "enum",
        "const",
        "json_schema",
    ];
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(object)) => KEYWORDS.iter().any(|keyword| object.contains_key(*keyword)),
        _ => false,
    }
}

/// Compiles a grammar from its source, printing its warnings on stderr
/// (JSON Schema keywords lenient mode dropped, keywords that look like
/// typos of known ones).
pub fn compile(source: &Source, lexer: Lexer) -> Result<CompiledGrammar, CliError> {
    let mut config = Config::default();
    config.lexer.eager = lexer == Lexer::Eager;
    let (grammar, warnings) = source.compile(&config).map_err(|mut error| {
        // The format is the likelier mistake than the syntax.
        if error.kind == ErrorKind::Syntax
            && let Some(hint) = other_format_hint(source)
        {
            error.help = Some(hint);
        }
        CliError::Input(source.render(&error))
    })?;
    for warning in &warnings {
        eprintln!("{}: warning: {warning}", source.origin);
    }
    Ok(grammar)
}

/// A hint when a grammar fails to parse in its format but looks like
/// another one (`--format lark` on a GBNF file).
fn other_format_hint(source: &Source) -> Option<String> {
    let text = &source.text;
    let gbnf = text.lines().any(|line| line.contains("::="));
    let lark = text.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with('%') || (line.contains(':') && !line.contains("::=") && line.starts_with(char::is_alphabetic))
    });
    let json = text.trim_start().starts_with('{');
    let (looks, name) = match source.format {
        Format::Lark | Format::Regex if gbnf => (true, "gbnf"),
        Format::Gbnf | Format::Regex if json => (true, "json-schema"),
        Format::Gbnf if lark => (true, "lark"),
        _ => (false, ""),
    };
    looks.then(|| format!("the text looks like {name}, not {}: pass --format {name}", source.format))
}
