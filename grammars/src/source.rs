//! The front door: grammar text in a [`Format`], with the options that
//! define its language, as one [`Source`] value that compiles.
//!
//! A `Source` is everything needed to compile the same language again:
//! index files store one, and the CLI builds one from its flags. Compile
//! settings that do not change the language (limits, eager or lazy lexer)
//! are a [`Config`] instead, given at compile time.

use std::fmt;
use std::path::Path;

use crate::config::Config;
use crate::ebnf::Ebnf;
use crate::error::{ErrorKind, GrammarError};
use crate::json_schema::{self, JsonSchemaOptions, Warning, Whitespace};
use crate::tables::CompiledGrammar;
use crate::{gbnf, lark, regex_constraint};

/// A grammar file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// llama.cpp's GBNF (`.gbnf`); see [`crate::gbnf`].
    Gbnf,
    /// Lark-style EBNF (`.lark`); see [`crate::lark`].
    Lark,
    /// A regular expression in the `regex` crate's syntax, fully anchored
    /// (`.regex`); see [`crate::regex_constraint`].
    Regex,
    /// A JSON Schema (`.schema.json`); see [`crate::json_schema`].
    JsonSchema,
}

impl Format {
    /// Every format, in the order their names are listed to people.
    pub const ALL: [Format; 4] = [Format::Gbnf, Format::Lark, Format::Regex, Format::JsonSchema];

    /// The format named by a file's extension, if it is one of Trellis's.
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?;
        if name.ends_with(".schema.json") {
            Some(Format::JsonSchema)
        } else if name.ends_with(".gbnf") {
            Some(Format::Gbnf)
        } else if name.ends_with(".lark") {
            Some(Format::Lark)
        } else if name.ends_with(".regex") {
            Some(Format::Regex)
        } else {
            None
        }
    }

    /// The format with this name (`gbnf`, `lark`, `regex`, `json-schema`).
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|format| format.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Gbnf => "gbnf",
            Format::Lark => "lark",
            Format::Regex => "regex",
            Format::JsonSchema => "json-schema",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The options of a source that change its language.
///
/// Their text form ([`SourceOptions::entries`], [`SourceOptions::set`]) is
/// what index files store and the CLI reads:
///
/// | name            | values                   | formats        |
/// |-----------------|--------------------------|----------------|
/// | `lenient`       | `true`, `false`          | JSON Schema    |
/// | `whitespace`    | `compact`, `flexible`    | JSON Schema    |
/// | `ascii-classes` | `true`, `false`          | regex, Lark    |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SourceOptions {
    /// How a JSON Schema is compiled: whitespace policy, lenient mode.
    pub json_schema: JsonSchemaOptions,
    /// Makes `\d`, `\w`, `\s` and their negations `\D`, `\W`, `\S` match
    /// ASCII only (`[0-9]`, `[0-9A-Za-z_]`, `[\t\n\x0B\x0C\r ]` and their
    /// complements) in regex constraints and Lark regexes, where they are
    /// Unicode-aware by default (default `false`). Everything else stays
    /// Unicode: `.`, literals, `\p{..}`, case folding. JSON Schema
    /// `pattern`s are ECMA-262 regexes, whose classes are ASCII already;
    /// GBNF has no such classes.
    ///
    /// Under `(?i)`, a `\w` inside brackets is case-folded with the rest of
    /// its class, so `(?i)[\w]` also matches U+212A KELVIN SIGN and U+017F
    /// LATIN SMALL LETTER LONG S (which fold to `k` and `s`); a `\w` outside
    /// brackets does not.
    pub ascii_classes: bool,
}

impl SourceOptions {
    /// The options as `(name, value)` text, for storing: those that differ
    /// from the default and apply to `format`. [`SourceOptions::set`] reads
    /// them back.
    pub fn entries(&self, format: Format) -> Vec<(&'static str, String)> {
        let mut entries = Vec::new();
        if format == Format::JsonSchema {
            let options = &self.json_schema;
            if options.lenient {
                entries.push(("lenient", "true".to_string()));
            }
            if options.whitespace != Whitespace::default() {
                entries.push(("whitespace", options.whitespace.name().to_string()));
            }
        }
        if matches!(format, Format::Regex | Format::Lark) && self.ascii_classes {
            entries.push(("ascii-classes", "true".to_string()));
        }
        entries
    }

    /// Sets the option `name` from its text form; an error names what is
    /// wrong with it.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let boolean = || match value {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("option {name}={value}: expected true or false")),
        };
        match name {
            "lenient" => self.json_schema.lenient = boolean()?,
            "ascii-classes" => self.ascii_classes = boolean()?,
            "whitespace" => {
                self.json_schema.whitespace = Whitespace::from_name(value)
                    .ok_or_else(|| format!("option whitespace={value}: expected compact or flexible"))?;
            }
            _ => return Err(format!("unknown grammar option {name}={value}")),
        }
        Ok(())
    }
}

/// Grammar text, its format and the options of its language: what
/// compiles to a [`CompiledGrammar`], and what an index file stores to
/// compile the same grammar again.
///
/// ```
/// use trellis_grammars::{Config, Format, Source};
///
/// let mut source = Source::new(Format::JsonSchema, r#"{"type": "array", "uniqueItems": true}"#);
/// assert!(source.compile(&Config::default()).is_err()); // uniqueItems cannot be enforced
/// source.options.json_schema.lenient = true;
/// let (grammar, warnings) = source.compile(&Config::default())?;
/// assert_eq!(warnings[0].pointer, "#/uniqueItems");
/// assert!(grammar.accepts(b"[1, 1]"));
/// # Ok::<(), trellis_grammars::GrammarError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub format: Format,
    pub text: String,
    pub options: SourceOptions,
    /// Where the text came from, for messages: a path, or a label such as
    /// `<grammar-text>`.
    pub origin: String,
}

impl Source {
    /// Text of `format` with the default options, from `<text>`.
    pub fn new(format: Format, text: impl Into<String>) -> Source {
        Source { format, text: text.into(), options: SourceOptions::default(), origin: "<text>".to_string() }
    }

    /// Reads a grammar file, taking the format from its extension unless
    /// one is given.
    pub fn from_file(path: &Path, format: Option<Format>) -> Result<Source, GrammarError> {
        let Some(format) = format.or_else(|| Format::from_path(path)) else {
            return Err(GrammarError::new(
                ErrorKind::Unsupported,
                format!("cannot tell the grammar format of {}", path.display()),
            )
            .with_help("name the file .gbnf, .lark, .regex or .schema.json, or pass the format explicitly"));
        };
        let text = std::fs::read_to_string(path)
            .map_err(|error| GrammarError::new(ErrorKind::Io, format!("cannot read {}: {error}", path.display())))?;
        Ok(Source { format, text, options: SourceOptions::default(), origin: path.display().to_string() })
    }

    /// Parses the text into EBNF, with the JSON Schema keywords the grammar
    /// does not enforce: those dropped in lenient mode, and unknown ones
    /// that look like typos (always empty for the other formats).
    pub fn parse(&self) -> Result<(Ebnf, Vec<Warning>), GrammarError> {
        let ebnf = match self.format {
            Format::Gbnf => gbnf::parse(&self.text)?,
            Format::Lark => lark::parse_with(&self.text, &self.options)?,
            Format::Regex => regex_constraint::parse_with(&self.text, &self.options)?,
            Format::JsonSchema => return json_schema::compile_json_schema(&self.text, &self.options.json_schema),
        };
        Ok((ebnf, Vec::new()))
    }

    /// Compiles the grammar; the warnings list the JSON Schema keywords left
    /// unenforced (dropped in lenient mode, or probable typos, which JSON
    /// Schema ignores), so that the scope of the guarantee is never silent.
    pub fn compile(&self, config: &Config) -> Result<(CompiledGrammar, Vec<Warning>), GrammarError> {
        let (ebnf, warnings) = self.parse()?;
        let grammar = CompiledGrammar::from_ebnf(&ebnf, config).map_err(|error| match self.format {
            // Errors of later stages point into the schema text; its
            // format names places by JSON pointer.
            Format::JsonSchema => json_schema::name_pointer(error, &self.text),
            _ => error,
        })?;
        Ok((grammar, warnings))
    }

    /// An error of this source as a report for people: `origin:line:column`,
    /// the line and a caret ([`GrammarError::render`]).
    pub fn render(&self, error: &GrammarError) -> String {
        error.render(&self.origin, &self.text)
    }
}

impl CompiledGrammar {
    /// Compiles grammar text of the given format with the default options
    /// and settings.
    pub fn new(text: &str, format: Format) -> Result<CompiledGrammar, GrammarError> {
        CompiledGrammar::with_config(text, format, &Config::default())
    }

    /// Compiles grammar text of the given format with the default options.
    pub fn with_config(text: &str, format: Format, config: &Config) -> Result<CompiledGrammar, GrammarError> {
        Source::new(format, text).compile(config).map(|(grammar, _)| grammar)
    }

    /// Reads a grammar file, taking the format from its extension unless
    /// one is given.
    pub fn from_file(path: &Path, format: Option<Format>, config: &Config) -> Result<CompiledGrammar, GrammarError> {
        Source::from_file(path, format)?.compile(config).map(|(grammar, _)| grammar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_named_both_ways() {
        for format in Format::ALL {
            assert_eq!(Format::from_name(format.name()), Some(format));
        }
        assert_eq!(Format::from_name("ebnf"), None);
    }

    #[test]
    fn options_survive_their_text_form() {
        let mut options = SourceOptions::default();
        assert!(options.entries(Format::JsonSchema).is_empty());
        options.json_schema = JsonSchemaOptions { whitespace: Whitespace::Flexible, lenient: true };
        // Options of JSON Schemas mean nothing to other formats.
        assert!(options.entries(Format::Gbnf).is_empty());
        let mut read = SourceOptions::default();
        for (name, value) in options.entries(Format::JsonSchema) {
            read.set(name, &value).expect("an option this build wrote");
        }
        assert_eq!(read, options);
        assert!(read.set("lenient", "no").unwrap_err().contains("lenient=no"));

        // ASCII classes mean something to regexes and Lark only.
        let ascii = SourceOptions { ascii_classes: true, ..SourceOptions::default() };
        assert_eq!(ascii.entries(Format::Regex), [("ascii-classes", "true".to_string())]);
        assert_eq!(ascii.entries(Format::Lark), ascii.entries(Format::Regex));
        assert!(ascii.entries(Format::JsonSchema).is_empty() && ascii.entries(Format::Gbnf).is_empty());
        let mut read = SourceOptions::default();
        for (name, value) in ascii.entries(Format::Lark) {
            read.set(name, &value).expect("an option this build wrote");
        }
        assert_eq!(read, ascii);
        assert!(read.set("ascii-classes", "yes").unwrap_err().contains("ascii-classes=yes"));
        assert!(read.set("indent", "2").unwrap_err().contains("unknown grammar option indent=2"));
    }

    #[test]
    fn compiling_reports_what_lenient_mode_dropped() {
        let mut source = Source::new(Format::JsonSchema, r#"{"type": "array", "uniqueItems": true}"#);
        let error = source.compile(&Config::default()).unwrap_err();
        assert!(source.render(&error).starts_with("<text>:"), "{}", source.render(&error));
        source.options.json_schema.lenient = true;
        let (_, warnings) = source.compile(&Config::default()).expect("lenient");
        assert_eq!(warnings.len(), 1);
        let (_, warnings) = Source::new(Format::Regex, "a+").compile(&Config::default()).expect("regex");
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_byte_order_mark_starts_any_format() {
        for (format, text, input) in [
            (Format::Gbnf, "root ::= \"a\"", "a"),
            (Format::Lark, "start: \"a\"", "a"),
            (Format::Regex, "a", "a"),
            (Format::JsonSchema, r#"{"const": "a"}"#, r#""a""#),
        ] {
            let source = Source::new(format, format!("\u{feff}{text}"));
            let (grammar, _) = source.compile(&Config::default()).unwrap_or_else(|e| panic!("{format}: {e}"));
            assert!(grammar.accepts(input.as_bytes()) && !grammar.accepts(b"\xef\xbb\xbfa"), "{format}");
        }
    }

    #[test]
    fn reports_of_very_long_lines_stay_short() {
        // 100,000 open parentheses: regex-syntax refuses them at its nesting
        // limit, and the report shows a window of the line, not all of it.
        let source = Source::new(Format::Regex, "(".repeat(100_000));
        let error = source.compile(&Config::default()).expect_err("too deep");
        let report = source.render(&error);
        assert!(report.len() < 1000, "{} bytes", report.len());
        assert!(report.contains('…') && report.starts_with("<text>:1:"), "{report}");
    }

    #[test]
    fn parsing_threads_the_ascii_classes_option() {
        for (format, text) in [(Format::Regex, r"\d+"), (Format::Lark, "start: /\\d+/")] {
            let mut source = Source::new(format, text);
            let arabic_indic = "٣".as_bytes();
            assert!(source.compile(&Config::default()).expect("compiles").0.accepts(arabic_indic), "{format}");
            source.options.ascii_classes = true;
            let (grammar, _) = source.compile(&Config::default()).expect("compiles");
            assert!(!grammar.accepts(arabic_indic) && grammar.accepts(b"42"), "{format}");
        }
    }
}
