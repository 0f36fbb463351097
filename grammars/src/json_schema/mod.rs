//! JSON Schema → grammar: structured outputs that always validate.
//!
//! A JSON Schema (draft 2020-12, plus the draft-7 spellings `definitions`,
//! array-valued `items` with `additionalItems`, and boolean
//! `exclusiveMinimum`/`exclusiveMaximum`) is compiled straight into an
//! [`Ebnf`] with [`Lexing::AnySplit`] semantics — no grammar text is
//! generated and re-parsed. The guarantee is **soundness**: every string the
//! grammar accepts is a JSON document that validates against the schema.
//! Within that, as many valid documents as possible are accepted; the
//! restrictions below say exactly which valid documents are left out.
//!
//! ```
//! use trellis_grammars::json_schema::{JsonSchemaOptions, compile_json_schema};
//! use trellis_grammars::{CompiledGrammar, Config, Format};
//!
//! let schema = r#"{
//!     "type": "object",
//!     "properties": {
//!         "name": {"type": "string", "maxLength": 10},
//!         "age": {"type": "integer", "minimum": 0, "maximum": 150}
//!     },
//!     "required": ["name"],
//!     "additionalProperties": false
//! }"#;
//! let grammar = CompiledGrammar::new(schema, Format::JsonSchema)?;
//! assert!(grammar.accepts(br#"{"name": "Ada", "age": 36}"#));
//! assert!(grammar.accepts(br#"{"name": "Ada"}"#));
//! assert!(!grammar.accepts(br#"{"name": "Ada", "age": 151}"#));
//! assert!(!grammar.accepts(br#"{"age": 36}"#));
//!
//! // Keywords that cannot be enforced are errors naming the JSON pointer...
//! let unique = r#"{"type": "array", "uniqueItems": true}"#;
//! let error = CompiledGrammar::new(unique, Format::JsonSchema).unwrap_err();
//! assert!(error.message.contains("#/uniqueItems"));
//! // ...unless the caller opts in to dropping them, with a warning each.
//! let lenient = JsonSchemaOptions { lenient: true, ..JsonSchemaOptions::default() };
//! let (ebnf, warnings) = compile_json_schema(unique, &lenient)?;
//! assert_eq!(warnings[0].pointer, "#/uniqueItems");
//! let grammar = CompiledGrammar::from_ebnf(&ebnf, &Config::default())?;
//! assert!(grammar.accepts(b"[1, 1]"));
//! # Ok::<(), trellis_grammars::GrammarError>(())
//! ```
//!
//! # How a schema becomes a grammar
//!
//! Each schema node becomes an expression: the union over the JSON types it
//! allows of a per-type expression that enforces the keywords of that type.
//! `$ref` targets become named rules (so recursion is just a recursive
//! rule); `allOf` (and `$ref` with sibling keywords) is compiled by merging
//! the schemas; `anyOf` is a union, each branch merged with the keywords
//! beside it; `oneOf` is a union too, of branches made disjoint by the
//! complements of the others; `not` is the complement of its schema as a
//! union of schemas, merged with the keywords beside it (`negate.rs`). Strings, numbers and formats are regular expression
//! leaves, so the lexer DFA does the work and the LR parser only sees the
//! nesting structure.
//!
//! One step looks ahead in the pipeline: an `enum` beside other keywords
//! keeps only the values those keywords accept, and to know which, the
//! keywords' grammar is compiled ([`CompiledGrammar::from_ebnf`]) and each
//! value checked with a matcher. It is the only place where a stage of this
//! crate uses a later one.
//!
//! # Output form and restrictions
//!
//! * **Whitespace.** [`Whitespace::Compact`] (the default) produces exactly
//!   one form: `{"a": 1, "b": [1, 2]}` — `", "` between items and `": "`
//!   after keys, nothing after `{`/`[` or before `}`/`]`, nothing around the
//!   document. This is what Python's `json.dumps` writes and what models
//!   see most in training data, so it costs the model the fewest surprises,
//!   while still forbidding the runaway newlines that free whitespace
//!   invites. [`Whitespace::Flexible`] allows any JSON whitespace
//!   (space, tab, LF, CR) wherever JSON allows it.
//! * **Property order.** Properties come in the order the schema declares
//!   them (in `properties`, then required names missing from `properties`
//!   in `required` order), then any additional or pattern properties.
//!   Optional properties may be left out. `dependentRequired` (and the
//!   list form of `dependencies`) makes one layout per set of trigger
//!   properties present: those present are required with their
//!   dependents, the others forbidden; names they mention that
//!   `properties` lacks are declared after it.
//! * **Additional properties** (allowed unless `additionalProperties` is
//!   `false`) have keys without escape sequences that differ from every
//!   declared property. With `patternProperties`, only keys matching the
//!   (single) pattern are produced as extra keys.
//! * **Strings.** Unconstrained strings allow every JSON escape (with
//!   surrogate pairs well-formed). `minLength`/`maxLength` count code points
//!   exactly. Strings constrained by a length, `pattern` or `format` write each
//!   character one way: raw, or for `"`, `\` and control characters the
//!   short escape (`\n`, `\"`) or `\u00xx`; that keeps the
//!   decoded-value constraint exact. Length bounds together with a
//!   `pattern` or `format` are pushed down into its language exactly where
//!   its shape allows (`lengths.rs`: `^[a-z]+$`, a searched `[0-9a-f]+`,
//!   optional groups, up to 4096 splits by length); beyond that, and
//!   `pattern` together with `format`, they are refused.
//!   A length bound costs the lexer a copy of the character per count
//!   (about 500 bytes of NFA): bounds up to about 130,000 fit the default
//!   [`LexerLimits::nfa_size_limit`](crate::LexerLimits::nfa_size_limit);
//!   past it, the error names the keyword's JSON pointer.
//! * **Patterns** are ECMA-262 regexes, translated keeping ECMA's meaning
//!   (`\d` is ASCII, `.` excludes `\r`, `\u2028`, `\u2029`; see
//!   `pattern.rs`). Lookaround, backreferences and word boundaries are
//!   refused; `^`/`$` only at the ends of the pattern or its top-level
//!   alternatives. Patterns are searched, as JSON Schema says: `"b"` accepts
//!   `"abc"`.
//! * **Numbers.** Integers are written canonically (no `1.0`, no `-0`, no
//!   exponent). Bounds (`minimum`, `maximum`, `exclusiveMinimum`,
//!   `exclusiveMaximum`) are exact for integers and numbers alike, for any
//!   finite bound (`0.1`, `-2.5e-7`, `1e30`): every number in range is
//!   accepted in every plain decimal spelling (`0.5`, `0.50`, `-0`), and no
//!   number out of range is. A bound is the decimal serde_json reads: an
//!   integer exactly, any other number as the shortest decimal of its double,
//!   which is the decimal written whenever it has at most 15 significant
//!   digits. Bounded numbers are written **without exponent** (`100`, not
//!   `1e2`; see `numbers.rs` for why). Accepted numbers satisfy the bounds
//!   exactly in decimal; a consumer that parses them as IEEE doubles could
//!   round one with more than 15 significant digits onto an exclusive bound.
//!   Unbounded numbers allow an exponent of at most two digits, so that every
//!   number stays finite as an IEEE double.
//!   `multipleOf` is supported for integers (and integral `multipleOf` on
//!   numbers, which then produces integers), when the range is finite with
//!   at most 4096 multiples, or has no bounds at all and a step up to
//!   100 (then multiples have at most 15 digits, exact as IEEE doubles).
//! * **Formats**: see `formats.rs` for the exact subset of each of date,
//!   time, date-time, email, uuid, ipv4, ipv6, uri, uri-reference,
//!   hostname. A format JSON Schema does not define (`byte`, `color`) is
//!   ignored by validators, so it is a plain string, with a [`Warning`];
//!   the defined formats Trellis does not enforce (`duration`, `iri`,
//!   `uri-template`, ...) are refused.
//! * **Schemas with no valid value.** An optional property, an item
//!   position or an `anyOf`/`oneOf` branch whose schema no value satisfies
//!   is left out (the property is forbidden, the array ends before the
//!   position); a schema with no valid document at all is an
//!   [`ErrorKind::EmptyLanguage`] error naming the pointer.
//! * **`$ref` beside other keywords**: from draft 2019-09 on (and without
//!   `$schema`) both apply, merged like `allOf`; under a draft-3 to draft-7
//!   `$schema` the other keywords are ignored, as those drafts say.
//! * **`enum`/`const`** values are written in the compact form above. With
//!   other keywords beside them, each value is kept only if the grammar of
//!   those keywords accepts it.
//! * **`not`** compiles as the complement of its schema, written as a union
//!   of schemas (see `negate.rs`): types, `enum`/`const`, bounds, lengths,
//!   item and property counts, `required`, `properties`,
//!   `additionalProperties` (some other key whose value fails it),
//!   `prefixItems`, `items` (some item that fails it), `contains`,
//!   `dependentRequired`, and the applicators `anyOf`, `oneOf`, `not`,
//!   `allOf`, `$ref`, `if`. The complements of `pattern`, a defined
//!   `format`, `multipleOf`, `uniqueItems`, `patternProperties` and
//!   `propertyNames` are refused, naming the keyword.
//! * **`contains`** (with `minContains` 0 or 1): some item after the
//!   prefix satisfies it, wherever it stands; refused beside `prefixItems`,
//!   with `maxContains`, a larger `minContains`, or `maxItems` above 64.
//! * **`oneOf`**: branches that are provably disjoint (different types,
//!   disjoint `const`/`enum` values, a required property whose
//!   `const`/`enum` values differ, or one that the other forbids) are a
//!   plain union; a branch that may overlap others holds only where they
//!   fail (`B₀ ∧ ¬B₁ ∧ ...`, exactly one branch, §10.2.1.3), which needs
//!   their complements as for `not`.
//! * **`dependentSchemas`** (and schema values of draft-7 `dependencies`):
//!   each trigger absent, or present with its schema (§10.2.2.4).
//! * **`if`/`then`/`else`** is `(if ∧ then) ∨ (¬if ∧ else)` (§10.2.2);
//!   `then`/`else` without `if`, or `if` alone, enforce nothing.
//! * **Refused** (an error naming the keyword and its JSON pointer, or with
//!   [`JsonSchemaOptions::lenient`] a [`Warning`] and the keyword dropped):
//!   `uniqueItems: true` over items with infinitely many values (it is
//!   enforced over `enum`/`const`, `boolean` and `null` items, see
//!   `unique.rs`), defined `format`s Trellis does not enforce,
//!   `not`, `oneOf` and `if` where a complement is refused (above),
//!   `maxContains`,
//!   more than four properties with `dependentRequired`, `propertyNames`
//!   beyond a schema over strings (or a pattern beside declared
//!   properties or `patternProperties`),
//!   `unevaluatedProperties`, `unevaluatedItems`, `$dynamicRef`, and the
//!   unsupported uses of the keywords above. Lenient mode never narrows the
//!   language: a `patternProperties` it drops allows any other key. References must be local
//!   (`#`, `#/...` JSON pointers). Annotations (`title`, `description`,
//!   `examples`, `default`, `$comment`, ...) are ignored, as are keywords
//!   JSON Schema does not define (`x-*`, draft-4 `id`), also where
//!   `allOf` branches give them different values; but an unknown keyword that looks like a
//!   typo of a known one (`requried`, `propeties`, `additionalProperty`) is
//!   reported as a [`Warning`] naming its JSON pointer and the keyword
//!   probably meant, even without lenient mode (see `keywords.rs`).
//!
//! # Input
//!
//! The text is one JSON document, optionally after a UTF-8 byte-order mark
//! (skipped; error spans stay offsets in the text). An OpenAI structured
//! output wrapper stands for the schema inside it: a whole
//! `response_format`, `{"type": "json_schema", "json_schema": {"name": ...,
//! "schema": {...}, "strict": true}}`, or its `json_schema` part alone,
//! `{"name": ..., "schema": {...}}` (keys `name`, `schema`, `strict`,
//! `description` only). The inner schema is then the document root: `$ref`
//! pointers resolve in it, and the JSON pointers in messages are relative to
//! it.

mod formats;
mod keywords;
mod lengths;
mod locate;
mod merge;
mod negate;
mod numbers;
mod pattern;
mod unique;

pub(crate) use locate::name_pointer;

use std::fmt;

use hashbrown::HashMap;
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, Repetition};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::ebnf::{Ebnf, Expr, ExprKind, Lexing, RuleDef};
use crate::error::{ErrorKind, GrammarError};
use crate::span::{Span, skip_bom};
use crate::tables::CompiledGrammar;

use numbers::{Bound, Decimal};

/// Where whitespace may go in the generated JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Whitespace {
    /// One form: `{"a": 1, "b": [1, 2]}` (see the [module docs](self)).
    #[default]
    Compact,
    /// Any JSON whitespace wherever JSON allows it.
    Flexible,
}

impl Whitespace {
    /// The policy with this name (`compact`, `flexible`).
    pub fn from_name(name: &str) -> Option<Whitespace> {
        [Whitespace::Compact, Whitespace::Flexible].into_iter().find(|policy| policy.name() == name)
    }

    /// The policy's name.
    pub fn name(self) -> &'static str {
        match self {
            Whitespace::Compact => "compact",
            Whitespace::Flexible => "flexible",
        }
    }
}

/// How a JSON Schema is compiled; part of a [`Source`](crate::Source)'s
/// [options](crate::SourceOptions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct JsonSchemaOptions {
    /// Whitespace policy (default [`Whitespace::Compact`]).
    pub whitespace: Whitespace,
    /// Drop keywords that cannot be enforced instead of refusing the schema;
    /// each one dropped is reported as a [`Warning`] (default `false`).
    pub lenient: bool,
}

/// A keyword the grammar does not enforce: one dropped in lenient mode, or
/// an unknown keyword that looks like a typo of a known one (ignored, as
/// JSON Schema ignores every unknown keyword; the reason says which keyword
/// was probably meant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// JSON pointer (URI fragment form) of the keyword, e.g.
    /// `#/properties/tags/uniqueItems`.
    pub pointer: String,
    pub keyword: String,
    /// Why it is not enforced.
    pub reason: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` at {} is not enforced: {}", self.keyword, self.pointer, self.reason)
    }
}

/// Compiles JSON Schema text into EBNF, with a [`Warning`] for each keyword
/// dropped in lenient mode and each unknown keyword that looks like a typo.
///
/// # Errors
///
/// [`ErrorKind::Syntax`] when the text is not JSON, [`ErrorKind::Unsupported`]
/// for keywords that cannot be enforced (unless lenient),
/// [`ErrorKind::EmptyLanguage`] for contradictions, [`ErrorKind::Regex`] for
/// bad patterns; every message names the JSON pointer.
pub fn compile_json_schema(text: &str, options: &JsonSchemaOptions) -> Result<(Ebnf, Vec<Warning>), GrammarError> {
    // JSON has no byte-order mark (RFC 8259 §8.1), but editors write one;
    // serde_json refuses it, so it is skipped, and error offsets are moved
    // back into `text`.
    let bom = skip_bom(text);
    let schema: Value = serde_json::from_str(&text[bom..]).map_err(|error| {
        // One character at the error, or an empty span at the end of the
        // text (an empty or truncated schema), on character boundaries.
        let mut start = (bom + offset_of(&text[bom..], error.line(), error.column())).min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let end = text[start..].chars().next().map_or(start, |c| start + c.len_utf8());
        GrammarError::at(ErrorKind::Syntax, Span::new(start, end), format!("the schema is not JSON: {error}"))
    })?;
    let root = unwrap_response_format(&schema)?;
    let mut builder = Builder::new(root, *options);
    // Limits are located in the text by JSON pointer: only pointers of the
    // document itself, not of a wrapper's inner schema, lead there.
    if std::ptr::eq(root, &schema) {
        builder.source = Some(text);
    }
    builder.compile()
}

/// Compiles a parsed JSON Schema into EBNF; see [`compile_json_schema`].
/// Property order comes from the map order, so parse with `serde_json`'s
/// `preserve_order` (Trellis enables it).
pub fn schema_to_ebnf(schema: &Value, options: &JsonSchemaOptions) -> Result<(Ebnf, Vec<Warning>), GrammarError> {
    Builder::new(unwrap_response_format(schema)?, *options).compile()
}

impl Builder<'_> {
    /// The grammar of the whole schema: `root` is the document, with the
    /// whitespace around it; the warnings add the keywords that look like
    /// typos of known ones.
    fn compile(mut self) -> Result<(Ebnf, Vec<Warning>), GrammarError> {
        let root = self.root;
        let typos = keywords::typo_warnings(root);
        let body = self.schema(root, "")?;
        let ws = self.ws();
        self.rules.push(rule("root", seq(vec![ws.clone(), body, ws])));
        self.filter_enums()?;
        self.prune_never();
        let ebnf = self.ebnf("root");
        let mut warnings = self.warnings;
        warnings.extend(typos);
        Ok((ebnf, warnings))
    }
}

/// The schema inside an OpenAI structured-output wrapper, or `schema`
/// itself: `{"type": "json_schema", "json_schema": {...}}` (a whole
/// `response_format`) and `{"name": ..., "schema": {...}}` (its
/// `json_schema` part, whose only other keys may be `strict` and
/// `description`) both stand for their `schema`. Neither is a useful JSON
/// Schema as written: `json_schema` is no type, and `name`/`schema` are no
/// keywords, so the second would accept any JSON at all.
pub fn unwrap_response_format(schema: &Value) -> Result<&Value, GrammarError> {
    let Value::Object(map) = schema else { return Ok(schema) };
    if map.get("type").and_then(Value::as_str) == Some("json_schema")
        && let Some(inner) = map.get("json_schema")
    {
        return match inner.get("schema") {
            Some(inner_schema) => Ok(inner_schema),
            None => Err(GrammarError::new(
                ErrorKind::Syntax,
                "this `response_format` wrapper has no schema (at #/json_schema/schema)",
            )
            .with_help("put the JSON Schema under `json_schema.schema`")),
        };
    }
    let wrapper_keys = |key: &String| matches!(key.as_str(), "name" | "schema" | "strict" | "description");
    let is_wrapper = map.get("name").is_some_and(Value::is_string)
        && map.get("schema").is_some_and(|inner| inner.is_object() || inner.is_boolean())
        && map.keys().all(wrapper_keys);
    Ok(if is_wrapper { &map["schema"] } else { schema })
}

fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

// ---- Expression helpers -------------------------------------------------

fn expr(kind: ExprKind) -> Expr {
    Expr::new(kind, Span::default())
}

fn lit(text: &str) -> Expr {
    if text.is_empty() {
        expr(ExprKind::Empty)
    } else {
        expr(ExprKind::Literal { value: text.to_owned(), case_insensitive: false })
    }
}

/// Whether an expression is a leaf that matches nothing.
fn is_never(item: &Expr) -> bool {
    matches!(&item.kind, ExprKind::Pattern(hir) if hir.properties().minimum_len().is_none())
}

/// An alternation of regexes without the branches that match nothing:
/// `regex-syntax` reports no minimum length for an alternation with such a
/// branch, which lowering would read as "matches nothing" for the whole.
pub(super) fn hir_alt(items: Vec<Hir>) -> Hir {
    Hir::alternation(items.into_iter().filter(|hir| hir.properties().minimum_len().is_some()).collect())
}

fn seq(items: Vec<Expr>) -> Expr {
    if items.iter().any(is_never) {
        return never();
    }
    let mut items: Vec<Expr> = items.into_iter().filter(|item| !matches!(item.kind, ExprKind::Empty)).collect();
    match items.len() {
        0 => expr(ExprKind::Empty),
        1 => items.remove(0),
        _ => expr(ExprKind::Seq(items)),
    }
}

fn alt(items: Vec<Expr>) -> Expr {
    let mut items: Vec<Expr> = items.into_iter().filter(|item| !is_never(item)).collect();
    match items.len() {
        0 => never(),
        1 => items.remove(0),
        _ => expr(ExprKind::Alt(items)),
    }
}

fn never() -> Expr {
    expr(ExprKind::Pattern(Hir::fail()))
}

fn pat(hir: Hir) -> Expr {
    expr(ExprKind::Pattern(hir))
}

fn reference(name: &str) -> Expr {
    expr(ExprKind::Ref(name.to_owned()))
}

fn repeat(item: Expr, min: u32, max: Option<u32>) -> Expr {
    if max == Some(0) || (min == 0 && is_never(&item)) {
        return expr(ExprKind::Empty);
    }
    if is_never(&item) {
        return never();
    }
    expr(ExprKind::Repeat { expr: Box::new(item), min, max })
}

fn rule(name: &str, body: Expr) -> RuleDef {
    RuleDef { name: name.to_owned(), name_span: Span::default(), body }
}

fn class(ranges: &[(char, char)]) -> Hir {
    Hir::class(Class::Unicode(ClassUnicode::new(ranges.iter().map(|&(a, b)| ClassUnicodeRange::new(a, b)))))
}

fn hir_repeat(sub: Hir, min: u32, max: Option<u32>) -> Hir {
    Hir::repetition(Repetition { min, max, greedy: true, sub: Box::new(sub) })
}

/// Characters that may appear raw inside a JSON string.
fn raw_chars() -> ClassUnicode {
    let mut raw = ClassUnicode::new([ClassUnicodeRange::new('\0', char::MAX)]);
    raw.difference(&pattern::must_escape());
    raw
}

/// One character of a JSON string body, raw or escaped, as JSON allows it
/// (with `\u` surrogates only in well-formed pairs: a lone surrogate cannot
/// be decoded by most parsers).
fn string_char() -> Hir {
    let hex = || class(&[('0', '9'), ('A', 'F'), ('a', 'f')]);
    let non_surrogate = hir_alt(vec![
        Hir::concat(vec![class(&[('0', '9'), ('A', 'C'), ('a', 'c'), ('E', 'F'), ('e', 'f')]), hex(), hex(), hex()]),
        Hir::concat(vec![class(&[('D', 'D'), ('d', 'd')]), class(&[('0', '7')]), hex(), hex()]),
    ]);
    let pair = Hir::concat(vec![
        class(&[('D', 'D'), ('d', 'd')]),
        class(&[('8', '9'), ('A', 'B'), ('a', 'b')]),
        hex(),
        hex(),
        Hir::literal(*b"\\u"),
        class(&[('D', 'D'), ('d', 'd')]),
        class(&[('C', 'F'), ('c', 'f')]),
        hex(),
        hex(),
    ]);
    let escape = Hir::concat(vec![
        Hir::literal(*b"\\"),
        hir_alt(vec![
            class(&[('"', '"'), ('\\', '\\'), ('/', '/'), ('b', 'b'), ('f', 'f'), ('n', 'n'), ('r', 'r'), ('t', 't')]),
            Hir::concat(vec![Hir::literal(*b"u"), hir_alt(vec![non_surrogate, pair])]),
        ]),
    ]);
    hir_alt(vec![Hir::class(Class::Unicode(raw_chars())), escape])
}

fn quoted(body: Hir) -> Hir {
    Hir::concat(vec![Hir::literal(*b"\""), body, Hir::literal(*b"\"")])
}

/// Keys that are not one of `names`, written without escapes (so the
/// decoded key is the written one and the comparison is exact).
fn other_keys(names: &[&str]) -> Hir {
    quoted(names_complement(names, &raw_chars()))
}

/// The strings over the characters `chars` that are not one of `names`
/// (decoded, without quotes).
fn names_complement(names: &[&str], chars: &ClassUnicode) -> Hir {
    #[derive(Default)]
    struct Node {
        end: bool,
        children: std::collections::BTreeMap<char, Node>,
    }
    let mut root = Node::default();
    for name in names {
        let mut node = &mut root;
        for c in name.chars() {
            node = node.children.entry(c).or_default();
        }
        node.end = true;
    }
    fn complement(node: &Node, raw: &ClassUnicode) -> Hir {
        let mut alternatives = Vec::new();
        if !node.end {
            alternatives.push(Hir::empty());
        }
        let mut others = raw.clone();
        for &c in node.children.keys() {
            others.difference(&ClassUnicode::new([ClassUnicodeRange::new(c, c)]));
        }
        let any = hir_repeat(Hir::class(Class::Unicode(raw.clone())), 0, None);
        alternatives.push(Hir::concat(vec![Hir::class(Class::Unicode(others)), any]));
        for (&c, child) in &node.children {
            if raw.iter().any(|range| range.start() <= c && c <= range.end()) {
                alternatives.push(Hir::concat(vec![Hir::literal(c.to_string().into_bytes()), complement(child, raw)]));
            }
        }
        hir_alt(alternatives)
    }
    complement(&root, chars)
}

/// Escapes a JSON pointer token (RFC 6901).
fn token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The pointer in the URI-fragment form people see in messages.
fn shown(pointer: &str) -> String {
    format!("#{pointer}")
}

/// Keywords with no effect on validity: every keyword but the assertions
/// and applicators below. That is the annotations JSON Schema defines
/// (`title`, `description`, `examples`, `default`, `$comment`, `readOnly`,
/// the content keywords, ...), identifiers and containers (`$id`, draft-4
/// `id`, `$anchor`, `$defs`, `definitions`), and every keyword JSON Schema
/// does not define (`x-*` extensions, `nullable`, editors' keywords), which
/// validation ignores. So two schemas that differ only in such keywords
/// merge (`allOf`), a `$ref` beside them has no siblings, and they never
/// make a schema refused.
fn is_annotation(keyword: &str) -> bool {
    !matches!(
        keyword,
        "type"
            | "enum"
            | "const"
            | "properties"
            | "required"
            | "additionalProperties"
            | "patternProperties"
            | "propertyNames"
            | "minProperties"
            | "maxProperties"
            | "dependentRequired"
            | "dependentSchemas"
            | "dependencies"
            | "unevaluatedProperties"
            | "items"
            | "prefixItems"
            | "additionalItems"
            | "minItems"
            | "maxItems"
            | "uniqueItems"
            | "contains"
            | "minContains"
            | "maxContains"
            | "unevaluatedItems"
            | "minLength"
            | "maxLength"
            | "pattern"
            | "format"
            | "minimum"
            | "maximum"
            | "exclusiveMinimum"
            | "exclusiveMaximum"
            | "multipleOf"
            | "allOf"
            | "anyOf"
            | "oneOf"
            | "not"
            | "if"
            | "then"
            | "else"
            | "$ref"
            | "$dynamicRef"
            | "$recursiveRef"
            | negate::NOTS
            | negate::NOT_INTEGER
            | negate::NOT_IN
            | negate::SOME_KEY
            | negate::SOME_ITEM
    )
}

/// Validation keywords Trellis cannot enforce, with the reason.
fn unenforceable(keyword: &str) -> Option<&'static str> {
    Some(match keyword {
        "unevaluatedProperties" | "unevaluatedItems" => "unevaluated-keyword tracking is not supported",
        "$dynamicRef" | "$recursiveRef" => "dynamic references are not supported",
        _ => return None,
    })
}

/// The JSON types a schema may allow, in a fixed order.
const ALL_TYPES: [&str; 6] = ["null", "boolean", "object", "array", "string", "number"];

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|number| number.fract() == 0.0),
        _ => false,
    }
}

/// An integral number's two plain spellings, `2` and `2.0`: JSON Schema
/// compares numbers by value, so `enum: [2.0]` admits `2` and `enum: [2]`
/// admits `2.0`. `None` for other numbers, and for magnitudes from 10^15
/// on, whose doubles are no longer every integer.
fn integral_spellings(number: &serde_json::Number) -> Option<(String, String)> {
    let integer = match (number.as_i64(), number.as_f64()) {
        (Some(integer), _) => integer,
        (None, Some(value)) if value.fract() == 0.0 && value.abs() < 1e15 => value as i64,
        _ => return None,
    };
    (integer.unsigned_abs() < 1_000_000_000_000_000).then(|| (integer.to_string(), format!("{integer}.0")))
}

/// The compact, canonical text of a JSON value (what `enum` and `const`
/// produce); also valid under the flexible policy.
pub(crate) fn canonical(value: &Value) -> String {
    match value {
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(key, value)| format!("{}: {}", Value::String(key.clone()), canonical(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// A schema and its JSON pointer.
type Located = (Value, String);

/// `enum`/`const` values waiting to be checked against the grammar of the
/// keywords beside them, once every rule exists.
struct EnumFilter {
    /// The rule whose body becomes the alternation of the values kept.
    rule: String,
    /// The rule for the sibling keywords.
    check: String,
    values: Vec<Value>,
    /// The schema's pointer, for errors.
    pointer: String,
}

pub(super) struct Builder<'a> {
    root: &'a Value,
    options: JsonSchemaOptions,
    rules: Vec<RuleDef>,
    /// Rule name per `$ref` target pointer.
    refs: HashMap<String, String>,
    fresh: usize,
    warnings: Vec<Warning>,
    any_value: Option<String>,
    filters: Vec<EnumFilter>,
    /// Rule per merged schema (by canonical text), so that merging through
    /// recursive references ends.
    merged: HashMap<String, String>,
    depth: usize,
    /// The schema's text, when there is one, and the spans of its values
    /// (see [`locate`]), found when first needed.
    source: Option<&'a str>,
    spans: Option<HashMap<String, Span>>,
    /// Whether keywords beside `$ref` apply (draft 2019-09 and later), or
    /// are ignored, as drafts 4 to 7 say (see [`siblings_of_ref_apply`]).
    ref_siblings_apply: bool,
    /// Rule per schema with a `not` (by canonical text), so that
    /// complements of recursive schemas end.
    negations: HashMap<String, String>,
    /// Branches of complements still to be merged (see `negate.rs`): each
    /// negation multiplies the branches, so their number is bounded.
    negation_budget: usize,
}

/// Most items or members around a witness (see
/// [`Builder::witness_sequence`]): one alternative per position.
const MAX_WITNESS_WINDOW: u32 = 64;

/// Most branches of complements merged in one schema (see `negate.rs`).
const NEGATION_BUDGET: usize = 4096;

/// Whether keywords beside `$ref` apply: in drafts 3 to 7 a `$ref` stands
/// for its target alone ("All other properties in a "$ref" object MUST be
/// ignored", draft-07 §8.3); from 2019-09 they apply with it. The draft is
/// the root's `$schema`; without one, 2020-12 (as the `jsonschema` crate
/// assumes).
fn siblings_of_ref_apply(root: &Value) -> bool {
    let Some(uri) = root.get("$schema").and_then(Value::as_str) else { return true };
    !["draft-03", "draft-04", "draft-05", "draft-06", "draft-07"].iter().any(|draft| uri.contains(draft))
}

/// Nesting limit of schemas (inline, merged or referenced without a rule),
/// so that hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 200;

impl<'a> Builder<'a> {
    fn new(root: &'a Value, options: JsonSchemaOptions) -> Builder<'a> {
        Builder {
            root,
            options,
            rules: Vec::new(),
            refs: HashMap::new(),
            fresh: 0,
            warnings: Vec::new(),
            any_value: None,
            filters: Vec::new(),
            merged: HashMap::new(),
            depth: 0,
            source: None,
            spans: None,
            ref_siblings_apply: siblings_of_ref_apply(root),
            negations: HashMap::new(),
            negation_budget: NEGATION_BUDGET,
        }
    }

    /// The span of the schema text's value at `pointer`; empty where it is
    /// not known (no text, or a schema made by merging others).
    fn span_of(&mut self, pointer: &str) -> Span {
        let Some(text) = self.source else { return Span::default() };
        let spans = self.spans.get_or_insert_with(|| locate::value_spans(text));
        spans.get(pointer).copied().unwrap_or_default()
    }

    fn ebnf(&self, start: &str) -> Ebnf {
        Ebnf {
            lexing: Lexing::AnySplit,
            rules: self.rules.clone(),
            terminals: Vec::new(),
            ignore: Vec::new(),
            start: start.to_owned(),
        }
    }

    fn fresh_name(&mut self, hint: &str) -> String {
        self.fresh += 1;
        let hint: String =
            hint.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        let hint = hint.trim_matches('-');
        let hint: String = hint.chars().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        if hint.is_empty() { format!("s{}", self.fresh) } else { format!("{hint}-{}", self.fresh) }
    }

    pub(super) fn error(&self, kind: ErrorKind, pointer: &str, message: impl fmt::Display) -> GrammarError {
        GrammarError::new(kind, format!("{message} (at {})", shown(pointer)))
    }

    /// A keyword that cannot be enforced: an error, or in lenient mode a
    /// warning (and the caller drops the keyword).
    pub(super) fn unsupported(&mut self, pointer: &str, keyword: &str, reason: &str) -> Result<(), GrammarError> {
        let at = format!("{pointer}/{}", token(keyword));
        if self.options.lenient {
            self.warnings.push(Warning { pointer: shown(&at), keyword: keyword.to_owned(), reason: reason.to_owned() });
            Ok(())
        } else {
            Err(GrammarError::new(
                ErrorKind::Unsupported,
                format!("`{keyword}` at {} cannot be enforced: {reason}", shown(&at)),
            )
            .with_help("remove the keyword, or compile with --lenient to drop it with a warning"))
        }
    }

    fn ws(&self) -> Expr {
        match self.options.whitespace {
            Whitespace::Compact => expr(ExprKind::Empty),
            Whitespace::Flexible => pat(hir_repeat(class(&[('\t', '\n'), ('\r', '\r'), (' ', ' ')]), 0, None)),
        }
    }

    /// `text` as a structural token: with its whitespace around it under the
    /// flexible policy; the compact policy's exact spelling otherwise.
    fn token(&self, compact: &str, bare: &str) -> Expr {
        match self.options.whitespace {
            Whitespace::Compact => lit(compact),
            Whitespace::Flexible => seq(vec![self.ws(), lit(bare), self.ws()]),
        }
    }

    fn comma(&self) -> Expr {
        self.token(", ", ",")
    }

    fn colon(&self) -> Expr {
        self.token(": ", ":")
    }

    /// `open ws`, for the flexible policy's whitespace after `{` or `[`.
    fn open(&self, bracket: &str) -> Expr {
        seq(vec![lit(bracket), self.ws()])
    }

    /// `ws close`.
    fn close(&self, bracket: &str) -> Expr {
        seq(vec![self.ws(), lit(bracket)])
    }

    /// Any JSON value (the schema `true`).
    fn any_value(&mut self) -> Expr {
        if let Some(name) = &self.any_value {
            return reference(name);
        }
        let (value, object, array) = ("json-value".to_owned(), "json-object", "json-array");
        self.any_value = Some(value.clone());
        let string = pat(quoted(hir_repeat(string_char(), 0, None)));
        let member = seq(vec![string.clone(), self.colon(), reference(&value)]);
        let members = seq(vec![member.clone(), repeat(seq(vec![self.comma(), member]), 0, None)]);
        let object_body =
            alt(vec![seq(vec![self.open("{"), lit("}")]), seq(vec![self.open("{"), members, self.close("}")])]);
        let items = seq(vec![reference(&value), repeat(seq(vec![self.comma(), reference(&value)]), 0, None)]);
        let array_body =
            alt(vec![seq(vec![self.open("["), lit("]")]), seq(vec![self.open("["), items, self.close("]")])]);
        let value_body = alt(vec![
            reference(object),
            reference(array),
            string,
            pat(numbers::any_number()),
            lit("true"),
            lit("false"),
            lit("null"),
        ]);
        self.rules.push(rule(&value, value_body));
        self.rules.push(rule(object, object_body));
        self.rules.push(rule(array, array_body));
        reference(&value)
    }

    /// Resolves a local `$ref` to the JSON pointer of its target.
    pub(super) fn ref_pointer(&self, reference: &Value, pointer: &str) -> Result<String, GrammarError> {
        let at = format!("{pointer}/$ref");
        let Some(text) = reference.as_str() else {
            return Err(self.error(ErrorKind::Syntax, &at, "`$ref` must be a string"));
        };
        let Some(fragment) = text.strip_prefix('#') else {
            return Err(self.error(
                ErrorKind::Unsupported,
                &at,
                format!("only local references (`#`, `#/...`) are supported, not `{text}`"),
            ));
        };
        if !fragment.is_empty() && !fragment.starts_with('/') {
            return Err(self.error(
                ErrorKind::Unsupported,
                &at,
                format!("anchor references like `{text}` are not supported"),
            ));
        }
        let decoded = percent_decode(fragment);
        if self.root.pointer(&decoded).is_none() {
            return Err(self.error(ErrorKind::Undefined, &at, format!("`{text}` does not point into the schema")));
        }
        Ok(decoded)
    }

    pub(super) fn resolve(&self, target: &str) -> &'a Value {
        self.root.pointer(target).unwrap_or(&Value::Bool(false))
    }

    /// The rule for the schema at a `$ref` target (made on first use, before
    /// its body, so that recursion refers back to it).
    fn ref_rule(&mut self, target: &str) -> Result<String, GrammarError> {
        if let Some(name) = self.refs.get(target) {
            return Ok(name.clone());
        }
        let name = self.fresh_name(if target.is_empty() { "root-schema" } else { target });
        self.refs.insert(target.to_owned(), name.clone());
        let index = self.rules.len();
        self.rules.push(rule(&name, expr(ExprKind::Empty)));
        let body = self.schema(self.resolve(target), target);
        // A target with no valid document matches nothing wherever it is
        // referenced again (the caller may forbid just the property).
        self.rules[index].body = body.as_ref().map_or_else(|_| never(), Clone::clone);
        body?;
        Ok(name)
    }

    /// A rule for a schema made by merging, shared by equal merges.
    fn merged_rule(&mut self, merged: &Value, pointer: &str) -> Result<Expr, GrammarError> {
        let key = canonical(merged);
        if let Some(name) = self.merged.get(&key) {
            return Ok(reference(name));
        }
        let name = self.fresh_name(&format!("{pointer}-merged"));
        self.merged.insert(key, name.clone());
        let index = self.rules.len();
        self.rules.push(rule(&name, expr(ExprKind::Empty)));
        let body = self.schema(merged, pointer);
        self.rules[index].body = body.as_ref().map_or_else(|_| never(), Clone::clone);
        body?;
        Ok(reference(&name))
    }

    /// [`Builder::schema`], with a schema that no value satisfies as a
    /// leaf that matches nothing instead of an error.
    fn schema_or_never(&mut self, schema: &Value, pointer: &str) -> Result<Expr, GrammarError> {
        match self.schema(schema, pointer) {
            Err(error) if error.kind == ErrorKind::EmptyLanguage => Ok(never()),
            result => result,
        }
    }

    /// The expression for the schema at `pointer`.
    pub(super) fn schema(&mut self, schema: &Value, pointer: &str) -> Result<Expr, GrammarError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err(self.error(ErrorKind::TooLarge, pointer, format!("schemas nest more than {MAX_DEPTH} deep")));
        }
        let result = match schema {
            Value::Bool(true) => Ok(self.any_value()),
            Value::Bool(false) => Ok(never()),
            Value::Object(map) => self.object_schema(map, pointer),
            _ => Err(self.error(ErrorKind::Syntax, pointer, "a schema must be an object or a boolean")),
        };
        self.depth -= 1;
        result
    }

    fn object_schema(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Expr, GrammarError> {
        if let Some(target) = map.get("$ref") {
            let target = self.ref_pointer(target, pointer)?;
            let siblings = map.keys().any(|key| key != "$ref" && !is_annotation(key));
            if !siblings || !self.ref_siblings_apply {
                return Ok(reference(&self.ref_rule(&target)?));
            }
            let mut rest = map.clone();
            rest.remove("$ref");
            let merged = self.merge(self.resolve(&target), &Value::Object(rest), pointer)?;
            return self.merged_rule(&merged, pointer);
        }
        if let Some(all) = map.get("allOf") {
            let Some(branches) = all.as_array() else {
                return Err(self.error(ErrorKind::Syntax, &format!("{pointer}/allOf"), "`allOf` must be an array"));
            };
            let mut merged = map.clone();
            merged.remove("allOf");
            let mut merged = Value::Object(merged);
            for (i, branch) in branches.iter().enumerate() {
                merged = self.merge(&merged, branch, &format!("{pointer}/allOf/{i}"))?;
            }
            return self.merged_rule(&merged, pointer);
        }
        if map.contains_key("dependentSchemas") || map.contains_key("dependencies") {
            let mut rest = map.clone();
            if let Some(cases) = negate::dependent_schemas(&mut rest) {
                let merged = self.merge(&Value::Object(rest), &cases, pointer)?;
                return self.merged_rule(&merged, pointer);
            }
        }
        if ["if", "then", "else"].iter().any(|keyword| map.contains_key(*keyword)) {
            let mut rest = map.clone();
            let Some(condition) = negate::conditional(&mut rest) else { return self.object_schema(&rest, pointer) };
            // Documents that fail `if` are valid through `else` (or with no
            // `else`): its complement must be writable.
            if let Some(schema) = map.get("if")
                && let Err(reason) = self.complement(schema, &format!("{pointer}/if"))?
            {
                self.unsupported(pointer, "if", &reason)?;
                return self.object_schema(&rest, pointer);
            }
            // The two cases, `then` and `else`, each with its own pointer.
            let rest = Value::Object(rest);
            let cases = condition["anyOf"].as_array().cloned().unwrap_or_default();
            let mut alternatives = Vec::with_capacity(2);
            let mut contradiction = None;
            for (case, keyword) in cases.iter().zip(["then", "else"]) {
                let at = format!("{pointer}/{keyword}");
                let result = match self.merge(&rest, case, &at) {
                    Ok(merged) => self.merged_rule(&merged, &at),
                    Err(error) => Err(error),
                };
                match result {
                    Ok(expression) => alternatives.push(expression),
                    Err(error) if error.kind == ErrorKind::EmptyLanguage => {
                        contradiction.get_or_insert(error);
                    }
                    Err(error) => return Err(error),
                }
            }
            return match contradiction {
                Some(error) if alternatives.is_empty() => Err(error),
                _ => Ok(alt(alternatives)),
            };
        }
        if map.contains_key("not") || map.contains_key(negate::NOTS) {
            return self.negation(map, pointer);
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(branches) = map.get(keyword) {
                let at = format!("{pointer}/{keyword}");
                let Some(branches) = branches.as_array() else {
                    return Err(self.error(ErrorKind::Syntax, &at, format!("`{keyword}` must be an array")));
                };
                let mut base = map.clone();
                base.remove(keyword);
                let base = Value::Object(base);
                // A branch with no valid document only drops out; the
                // schema is refused when none is left.
                let mut contradiction = None;
                let mut merged = Vec::with_capacity(branches.len());
                for (i, branch) in branches.iter().enumerate() {
                    match self.merge(&base, branch, &format!("{at}/{i}")) {
                        Ok(schema) => merged.push((i, schema)),
                        Err(error) if error.kind == ErrorKind::EmptyLanguage => {
                            contradiction.get_or_insert(error);
                        }
                        Err(error) => return Err(error),
                    }
                }
                // `oneOf`: each branch that may overlap others holds only
                // where they fail (§10.2.1.3: exactly one branch holds).
                let mut overlaps = if keyword == "oneOf" {
                    let schemas: Vec<Value> = merged.iter().map(|(_, schema)| schema.clone()).collect();
                    self.overlaps(&schemas, &at)?
                } else {
                    vec![Vec::new(); merged.len()]
                };
                for k in 0..merged.len() {
                    // Overlap is symmetric: a branch that another must
                    // exclude overlaps it too.
                    let Some(&other) = overlaps[k].first() else { continue };
                    let (i, branch) = &merged[k];
                    if let Err(reason) = self.complement(branch, &format!("{at}/{i}"))? {
                        let reason = format!(
                            "branches {} and {i} may both match a document, and the overlap cannot be excluded: {reason}",
                            merged[other].0
                        );
                        self.unsupported(pointer, keyword, &reason)?;
                        // Lenient: the branches as an `anyOf`, which widens.
                        overlaps = vec![Vec::new(); merged.len()];
                        break;
                    }
                }
                let mut alternatives = Vec::with_capacity(merged.len());
                for (k, (i, branch)) in merged.iter().enumerate() {
                    let branch_at = format!("{at}/{i}");
                    let result = if overlaps[k].is_empty() {
                        self.schema(branch, &branch_at)
                    } else {
                        let others: Vec<Value> = overlaps[k].iter().map(|&o| merged[o].1.clone()).collect();
                        let exclusive = serde_json::json!({"allOf": [branch, {negate::NOTS: others}]});
                        self.schema(&exclusive, &branch_at).map_err(|error| {
                            if !error.message.contains("the complement of") {
                                return error;
                            }
                            let other = merged[overlaps[k][0]].0;
                            let message = format!(
                                "`oneOf` branches {i} and {other} may both match a document, and the overlap cannot \
                                 be excluded (at {}): {}",
                                shown(&at),
                                error.message
                            );
                            GrammarError { message, ..error }.with_help(
                                "make the branches disjoint (different types, `const`s or a required discriminator \
                                 property), or use `anyOf`",
                            )
                        })
                    };
                    match result {
                        Ok(expression) => alternatives.push(expression),
                        Err(error) if error.kind == ErrorKind::EmptyLanguage => {
                            contradiction.get_or_insert(error);
                        }
                        Err(error) => return Err(error),
                    }
                }
                return match contradiction {
                    Some(error) if alternatives.is_empty() => Err(error),
                    _ => Ok(alt(alternatives)),
                };
            }
        }
        let mut dropped = Vec::new();
        for keyword in map.keys() {
            if let Some(reason) = unenforceable(keyword) {
                self.unsupported(pointer, keyword, reason)?;
                dropped.push(keyword.clone());
            }
        }
        if map.contains_key("enum") || map.contains_key("const") {
            return self.enum_schema(map, pointer);
        }
        let types = self.types(map, pointer)?;
        let mut alternatives = Vec::new();
        // A type whose keywords contradict each other only removes that
        // type; the schema is refused when no type is left.
        let mut contradiction = None;
        for kind in &types {
            let expression = match kind.as_str() {
                "null" => Ok(lit("null")),
                "boolean" => Ok(alt(vec![lit("true"), lit("false")])),
                "integer" => self.integer(map, pointer),
                "number" => self.number(map, pointer),
                "string" => self.string(map, pointer),
                "array" => self.array(map, pointer),
                _ => self.object(map, pointer),
            };
            match expression {
                Ok(expression) => alternatives.push(expression),
                Err(error) if error.kind == ErrorKind::EmptyLanguage && types.len() > 1 => {
                    contradiction.get_or_insert(error);
                }
                Err(error) => return Err(error),
            }
        }
        match contradiction {
            Some(error) if alternatives.is_empty() => Err(error),
            _ => Ok(alt(alternatives)),
        }
    }

    /// The allowed types, `integer` folded into `number` when both appear.
    pub(super) fn types(&self, map: &Map<String, Value>, pointer: &str) -> Result<Vec<String>, GrammarError> {
        let at = format!("{pointer}/type");
        let mut types: Vec<String> = match map.get("type") {
            None => return Ok(ALL_TYPES.iter().map(|t| (*t).to_owned()).collect()),
            Some(Value::String(name)) => vec![name.clone()],
            Some(Value::Array(names)) => {
                let mut out = Vec::new();
                for name in names {
                    match name.as_str() {
                        Some(name) => out.push(name.to_owned()),
                        None => return Err(self.error(ErrorKind::Syntax, &at, "`type` lists must hold strings")),
                    }
                }
                out
            }
            Some(_) => return Err(self.error(ErrorKind::Syntax, &at, "`type` must be a string or a list of strings")),
        };
        for name in &types {
            if name != "integer" && !ALL_TYPES.contains(&name.as_str()) {
                return Err(self.error(ErrorKind::Syntax, &at, format!("unknown type `{name}`")));
            }
        }
        if types.iter().any(|t| t == "number") {
            types.retain(|t| t != "integer");
        }
        types.dedup();
        if types.is_empty() {
            return Err(self.error(ErrorKind::EmptyLanguage, &at, "no type is allowed"));
        }
        Ok(types)
    }

    fn enum_schema(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Expr, GrammarError> {
        let mut values: Vec<Value> = match map.get("enum") {
            Some(Value::Array(values)) => values.clone(),
            Some(_) => {
                return Err(self.error(ErrorKind::Syntax, &format!("{pointer}/enum"), "`enum` must be an array"));
            }
            None => Vec::new(),
        };
        if let Some(constant) = map.get("const") {
            if map.contains_key("enum") {
                values.retain(|value| merge::json_equal(value, constant));
            } else {
                values.push(constant.clone());
            }
        }
        let types = self.types(map, pointer)?;
        values
            .retain(|value| types.iter().any(|t| has_type(value, t) || (t == "number" && has_type(value, "integer"))));
        // A complement of strings beside (see `negate.rs`) removes them.
        let mut map = map.clone();
        if let Some(Value::Array(excluded)) = map.remove(negate::NOT_IN) {
            values.retain(|value| !excluded.contains(value));
        }
        let map = &map;
        let others = map.keys().any(|key| !is_annotation(key) && !matches!(key.as_str(), "enum" | "const" | "type"));
        if values.is_empty() {
            return Err(self.error(ErrorKind::EmptyLanguage, pointer, "no `enum`/`const` value satisfies the schema"));
        }
        let literals = alt(values.iter().map(|value| self.value_expr(value)).collect());
        if !others {
            return Ok(literals);
        }
        let mut rest = map.clone();
        rest.remove("enum");
        rest.remove("const");
        let check_body = self.schema(&Value::Object(rest), pointer)?;
        let check = self.fresh_name(&format!("{pointer}-check"));
        self.rules.push(rule(&check, check_body));
        let name = self.fresh_name(&format!("{pointer}-enum"));
        self.rules.push(rule(&name, literals));
        self.filters.push(EnumFilter { rule: name.clone(), check, values, pointer: pointer.to_owned() });
        Ok(reference(&name))
    }

    /// One JSON value, spelled as the whitespace policy allows.
    fn value_expr(&self, value: &Value) -> Expr {
        match value {
            Value::Array(items) if !items.is_empty() => {
                let mut parts = vec![self.open("[")];
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        parts.push(self.comma());
                    }
                    parts.push(self.value_expr(item));
                }
                parts.push(self.close("]"));
                seq(parts)
            }
            Value::Object(map) if !map.is_empty() => {
                let mut parts = vec![self.open("{")];
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        parts.push(self.comma());
                    }
                    parts.extend([lit(&Value::String(key.clone()).to_string()), self.colon(), self.value_expr(item)]);
                }
                parts.push(self.close("}"));
                seq(parts)
            }
            Value::Array(_) => seq(vec![self.open("["), lit("]")]),
            Value::Object(_) => seq(vec![self.open("{"), lit("}")]),
            Value::Number(number) => match integral_spellings(number) {
                Some((integer, decimal)) => alt(vec![lit(&integer), lit(&decimal)]),
                None => lit(&number.to_string()),
            },
            other => lit(&other.to_string()),
        }
    }

    /// Keeps each pending `enum` value only if the grammar of its sibling
    /// keywords accepts it. Filters run in creation order, which puts inner
    /// schemas before the schemas that contain them.
    fn filter_enums(&mut self) -> Result<(), GrammarError> {
        let filters = std::mem::take(&mut self.filters);
        for filter in filters {
            let ebnf = self.ebnf(&filter.check);
            let kept: Vec<Expr> = match CompiledGrammar::from_ebnf(&ebnf, &Config::default()) {
                Ok(grammar) => {
                    let mut kept = Vec::new();
                    for value in &filter.values {
                        // An integral number is checked as the integer:
                        // integer grammars do not spell it `2.0`.
                        let text = match value {
                            Value::Number(number) => integral_spellings(number).map(|(integer, _)| integer),
                            _ => None,
                        }
                        .unwrap_or_else(|| canonical(value));
                        match grammar.check(text.as_bytes()) {
                            crate::Verdict::Complete => kept.push(self.value_expr(value)),
                            // A limit must not drop a value: refuse instead.
                            crate::Verdict::GaveUp { offset } => {
                                return Err(GrammarError::new(
                                    ErrorKind::TooLarge,
                                    format!(
                                        "cannot decide whether the `enum` value {text} satisfies the keywords beside \
                                         it: the check gave up at byte {offset} (at {})",
                                        shown(&filter.pointer)
                                    ),
                                ));
                            }
                            _ => {}
                        }
                    }
                    kept
                }
                Err(error) if error.kind == ErrorKind::EmptyLanguage => Vec::new(),
                Err(error) => return Err(error),
            };
            if let Some(target) = self.rules.iter_mut().find(|r| r.name == filter.rule) {
                target.body = alt(kept);
            }
        }
        Ok(())
    }

    /// Replaces references to rules that match nothing by a leaf that
    /// matches nothing, until no rule changes, so that no such branch is left
    /// inside an alternation (see [`hir_alt`]).
    fn prune_never(&mut self) {
        fn simplify(item: &Expr, never_rules: &hashbrown::HashSet<String>) -> Expr {
            match &item.kind {
                ExprKind::Ref(name) if never_rules.contains(name) => never(),
                ExprKind::Seq(items) => seq(items.iter().map(|item| simplify(item, never_rules)).collect()),
                ExprKind::Alt(items) => alt(items.iter().map(|item| simplify(item, never_rules)).collect()),
                ExprKind::Repeat { expr, min, max } => repeat(simplify(expr, never_rules), *min, *max),
                _ => item.clone(),
            }
        }
        let mut never_rules = hashbrown::HashSet::new();
        loop {
            for rule in &mut self.rules {
                rule.body = simplify(&rule.body, &never_rules);
            }
            let now: hashbrown::HashSet<String> =
                self.rules.iter().filter(|rule| is_never(&rule.body)).map(|rule| rule.name.clone()).collect();
            if now.len() == never_rules.len() {
                break;
            }
            never_rules = now;
        }
    }

    // ---- Numbers --------------------------------------------------------

    fn number_keyword(
        &self,
        map: &Map<String, Value>,
        pointer: &str,
        keyword: &str,
    ) -> Result<Option<f64>, GrammarError> {
        match map.get(keyword) {
            None => Ok(None),
            Some(value) => match value.as_f64() {
                Some(number) => Ok(Some(number)),
                None => Err(self.error(
                    ErrorKind::Syntax,
                    &format!("{pointer}/{keyword}"),
                    format!("`{keyword}` must be a number"),
                )),
            },
        }
    }

    /// A keyword whose value is a number, exactly.
    fn decimal_keyword(
        &self,
        map: &Map<String, Value>,
        pointer: &str,
        keyword: &str,
    ) -> Result<Option<Decimal>, GrammarError> {
        match map.get(keyword) {
            None => Ok(None),
            Some(value) => match value.as_number().and_then(Decimal::from_number) {
                Some(number) => Ok(Some(number)),
                None => Err(self.error(
                    ErrorKind::Syntax,
                    &format!("{pointer}/{keyword}"),
                    format!("`{keyword}` must be a number"),
                )),
            },
        }
    }

    /// The tightest lower and upper bounds, in draft 2020-12 or draft-4/7
    /// spelling (boolean `exclusiveMinimum`), as exact decimals.
    fn bounds(&self, map: &Map<String, Value>, pointer: &str) -> Result<(Option<Bound>, Option<Bound>), GrammarError> {
        let mut lower = self.decimal_keyword(map, pointer, "minimum")?.map(|value| Bound { value, exclusive: false });
        let mut upper = self.decimal_keyword(map, pointer, "maximum")?.map(|value| Bound { value, exclusive: false });
        let tighter_lower = |current: Option<Bound>, candidate: Bound| match current {
            Some(current) if current.value > candidate.value => Some(current),
            Some(current) if current.value == candidate.value && current.exclusive => Some(current),
            _ => Some(candidate),
        };
        let tighter_upper = |current: Option<Bound>, candidate: Bound| match current {
            Some(current) if current.value < candidate.value => Some(current),
            Some(current) if current.value == candidate.value && current.exclusive => Some(current),
            _ => Some(candidate),
        };
        match map.get("exclusiveMinimum") {
            Some(Value::Bool(true)) => lower = lower.map(|bound| Bound { exclusive: true, ..bound }),
            Some(Value::Bool(false)) | None => {}
            Some(_) => {
                if let Some(value) = self.decimal_keyword(map, pointer, "exclusiveMinimum")? {
                    lower = tighter_lower(lower, Bound { value, exclusive: true });
                }
            }
        }
        match map.get("exclusiveMaximum") {
            Some(Value::Bool(true)) => upper = upper.map(|bound| Bound { exclusive: true, ..bound }),
            Some(Value::Bool(false)) | None => {}
            Some(_) => {
                if let Some(value) = self.decimal_keyword(map, pointer, "exclusiveMaximum")? {
                    upper = tighter_upper(upper, Bound { value, exclusive: true });
                }
            }
        }
        Ok((lower, upper))
    }

    fn integer(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Expr, GrammarError> {
        if map.contains_key(negate::NOT_INTEGER) {
            return Err(self.error(ErrorKind::EmptyLanguage, pointer, "an integer is required not to be one"));
        }
        let (lower, upper) = self.bounds(map, pointer)?;
        let low = lower.map(|bound| bound.least_integer());
        let high = upper.map(|bound| bound.greatest_integer());
        let multiple = match self.number_keyword(map, pointer, "multipleOf")? {
            None => None,
            Some(step) if step <= 0.0 || !step.is_finite() => {
                return Err(self.error(
                    ErrorKind::Syntax,
                    &format!("{pointer}/multipleOf"),
                    "`multipleOf` must be a positive number",
                ));
            }
            Some(step) if step.fract() == 0.0 && step < 1e15 => Some(step as i128),
            // Every integer is a multiple of 1/n.
            Some(step) if (1.0 / step).fract() == 0.0 => None,
            Some(_) => {
                self.unsupported(pointer, "multipleOf", "a fractional `multipleOf` on integers is not supported")?;
                None
            }
        };
        match multiple {
            None | Some(1) => Ok(pat(numbers::integer_range(low.as_ref(), high.as_ref()))),
            Some(step) => self.multiples(step, low, high, pointer),
        }
    }

    /// Integers in `[low, high]` that are multiples of `step`.
    fn multiples(
        &mut self,
        step: i128,
        low: Option<Decimal>,
        high: Option<Decimal>,
        pointer: &str,
    ) -> Result<Expr, GrammarError> {
        const MAX_LISTED: i128 = 4096;
        if let (Some(low), Some(high)) =
            (low.as_ref().and_then(Decimal::to_i128), high.as_ref().and_then(Decimal::to_i128))
        {
            let first = low.div_euclid(step) + i128::from(low.rem_euclid(step) != 0);
            let last = high.div_euclid(step);
            if last - first < MAX_LISTED {
                let values: Vec<Hir> =
                    (first..=last).map(|k| Hir::literal((k * step).to_string().into_bytes())).collect();
                return Ok(pat(hir_alt(values)));
            }
        }
        if low.is_some() || high.is_some() || step > 100 {
            self.unsupported(
                pointer,
                "multipleOf",
                "only bounded ranges with at most 4096 multiples, or unbounded ones with a step up to 100, are supported",
            )?;
            return Ok(pat(numbers::integer_range(low.as_ref(), high.as_ref())));
        }
        // Unbounded: rules tracking (remainder mod step, digits so far). At
        // most 15 digits, so that every multiple is exact as an IEEE double
        // (consumers that parse numbers as doubles check it that way).
        const DIGITS: u32 = 15;
        let prefix = self.fresh_name(&format!("mod{step}"));
        let state = |r: i128, digits: u32| format!("{prefix}-{r}-{digits}");
        for digits in 1..=DIGITS {
            for r in 0..step {
                let mut alternatives = Vec::new();
                if digits < DIGITS {
                    alternatives.extend(
                        (0..10).map(|d| {
                            seq(vec![lit(&d.to_string()), reference(&state((10 * r + d) % step, digits + 1))])
                        }),
                    );
                }
                if r == 0 {
                    alternatives.push(expr(ExprKind::Empty));
                }
                self.rules.push(rule(&state(r, digits), alt(alternatives)));
            }
        }
        let nonzero: Vec<Expr> =
            (1..10).map(|d| seq(vec![lit(&d.to_string()), reference(&state(d % step, 1))])).collect();
        let nonzero = alt(nonzero);
        Ok(alt(vec![lit("0"), nonzero.clone(), seq(vec![lit("-"), nonzero])]))
    }

    fn number(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Expr, GrammarError> {
        if map.contains_key(negate::NOT_INTEGER) {
            let (lower, upper) = self.bounds(map, pointer)?;
            if lower.is_some() || upper.is_some() || map.contains_key("multipleOf") {
                self.unsupported(
                    pointer,
                    "not",
                    "the complement of `type: integer` beside bounds or `multipleOf` is not supported",
                )?;
            } else {
                // Written without exponent (`1.5e1` is the integer 15).
                return Ok(pat(numbers::fraction_number()));
            }
        }
        if let Some(step) = self.number_keyword(map, pointer, "multipleOf")? {
            if step.fract() == 0.0 && step >= 1.0 {
                return self.integer(map, pointer);
            }
            self.unsupported(pointer, "multipleOf", "a fractional `multipleOf` on numbers is not supported")?;
        }
        let (lower, upper) = self.bounds(map, pointer)?;
        if lower.is_none() && upper.is_none() {
            return Ok(pat(numbers::any_number()));
        }
        Ok(pat(numbers::number_range(lower.as_ref(), upper.as_ref())))
    }

    // ---- Strings --------------------------------------------------------

    fn count_keyword(
        &self,
        map: &Map<String, Value>,
        pointer: &str,
        keyword: &str,
    ) -> Result<Option<u32>, GrammarError> {
        match map.get(keyword) {
            None => Ok(None),
            Some(value) => match value.as_f64() {
                Some(count) if count >= 0.0 && count.fract() == 0.0 => Ok(Some(count.min(f64::from(u32::MAX)) as u32)),
                _ => Err(self.error(
                    ErrorKind::Syntax,
                    &format!("{pointer}/{keyword}"),
                    format!("`{keyword}` must be a non-negative integer"),
                )),
            },
        }
    }

    /// The decoded strings allowed by `format` and `pattern`, if any.
    fn string_language(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Option<Hir>, GrammarError> {
        let mut format_hir = None;
        if let Some(format) = map.get("format") {
            let name = format.as_str().unwrap_or_default();
            match formats::format_regex(name) {
                Some(regex) => {
                    let hir = regex_syntax::parse(&format!("^(?:{regex})$"))
                        .map_err(|error| self.error(ErrorKind::Regex, pointer, error))?;
                    format_hir =
                        Some(pattern::whole_strings(hir).map_err(|e| self.error(ErrorKind::Regex, pointer, e))?);
                }
                None if formats::is_defined(name) || !format.is_string() => self.unsupported(
                    pointer,
                    "format",
                    &format!("format `{name}` is not enforced by Trellis (known: {})", formats::KNOWN_FORMATS),
                )?,
                // No validator knows it, so validation ignores it.
                None => self.warnings.push(Warning {
                    pointer: shown(&format!("{pointer}/format")),
                    keyword: "format".to_owned(),
                    reason: format!(
                        "format `{name}` is not defined by JSON Schema, so it constrains nothing: any string is \
                         accepted"
                    ),
                }),
            }
        }
        let Some(pattern_value) = map.get("pattern") else { return Ok(format_hir) };
        let at = format!("{pointer}/pattern");
        let Some(pattern_text) = pattern_value.as_str() else {
            return Err(self.error(ErrorKind::Syntax, &at, "`pattern` must be a string"));
        };
        if format_hir.is_some() {
            self.unsupported(pointer, "pattern", "`pattern` together with `format` is not supported")?;
            return Ok(format_hir);
        }
        match pattern::pattern_strings(pattern_text) {
            Ok(hir) => Ok(Some(hir)),
            Err(reason) => {
                self.unsupported(pointer, "pattern", &reason)?;
                Ok(None)
            }
        }
    }

    fn string(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Expr, GrammarError> {
        let min = self.count_keyword(map, pointer, "minLength")?;
        let max = self.count_keyword(map, pointer, "maxLength")?;
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(self.error(ErrorKind::EmptyLanguage, pointer, "`minLength` is above `maxLength`"));
        }
        if let Some(listed) = map.get(negate::NOT_IN) {
            let names: Vec<&str> = listed.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let all = ClassUnicode::new([ClassUnicodeRange::new('\0', char::MAX)]);
            let others = names_complement(&names, &all);
            let language = if min.is_some() || max.is_some() {
                lengths::bounded(&others, min.unwrap_or(0) as usize, max.map(|max| max as usize))
            } else {
                Some(others)
            };
            match language {
                Some(language) if !map.contains_key("pattern") && !map.contains_key("format") => {
                    // Each character written one way, as for every
                    // constrained string, so that the decoded value is the
                    // one compared.
                    return Ok(pat(quoted(pattern::json_encoded(&language))));
                }
                _ => self.unsupported(
                    pointer,
                    "not",
                    "the complement of a string `enum` beside a `pattern` or `format` is not supported",
                )?,
            }
        }
        let Some(decoded) = self.string_language(map, pointer)? else {
            if min.is_none() && max.is_none() {
                return Ok(pat(quoted(hir_repeat(string_char(), 0, None))));
            }
            // Counted characters use the one-spelling encoding: each
            // counted position then costs the lexer DFA about half the
            // states that every escape form would.
            let any = class(&[('\0', char::MAX)]);
            let counted = quoted(pattern::json_encoded(&hir_repeat(any, min.unwrap_or(0), max)));
            // The lexer holds a copy of the character per count: where it
            // is too large, its error points here.
            let keyword = if max.is_some() { "maxLength" } else { "minLength" };
            let span = self.span_of(&format!("{pointer}/{keyword}"));
            return Ok(Expr::new(ExprKind::Pattern(counted), span));
        };
        // Lengths that do not follow from the language (bytes bound code
        // points: 1 to 4 bytes each) are pushed down into it, where its
        // shape allows that exactly (see `lengths.rs`).
        let properties = decoded.properties();
        let max_implied = max.is_none_or(|max| properties.maximum_len().is_some_and(|bytes| bytes <= max as usize));
        let min_implied = min.is_none_or(|min| properties.minimum_len().unwrap_or(0).div_ceil(4) >= min as usize);
        if (!max_implied || !min_implied)
            && let Some(bounded) = lengths::bounded(&decoded, min.unwrap_or(0) as usize, max.map(|max| max as usize))
        {
            if is_never(&pat(bounded.clone())) {
                return Err(self.error(
                    ErrorKind::EmptyLanguage,
                    pointer,
                    "no string of the allowed lengths matches the `pattern` or `format`",
                ));
            }
            return Ok(pat(quoted(pattern::json_encoded(&bounded))));
        }
        if !max_implied {
            self.unsupported(pointer, "maxLength", "`maxLength` together with `pattern` or `format` is not supported")?;
        }
        if !min_implied {
            self.unsupported(pointer, "minLength", "`minLength` together with `pattern` or `format` is not supported")?;
        }
        Ok(pat(quoted(pattern::json_encoded(&decoded))))
    }

    /// `n` comma-separated items, `low <= n <= high`, at least one of
    /// them `witness` and the others `item` (with a leading comma unless
    /// `first`): what `contains` and the complements of `items` and
    /// `additionalProperties` need. Ambiguous where several items could be
    /// the witness, and exact: the witness's position is every position.
    /// `high` must be at most [`MAX_WITNESS_WINDOW`] (one alternative per
    /// position).
    fn witness_sequence(
        &self,
        first: bool,
        low: u32,
        high: Option<u32>,
        item: Option<&Expr>,
        witness: &Expr,
    ) -> Option<Expr> {
        let low = low.max(1);
        if high.is_some_and(|high| high < low) {
            return None;
        }
        let lead = |body: Expr| if first { body } else { seq(vec![self.comma(), body]) };
        let Some(item) = item else { return (low == 1).then(|| lead(witness.clone())) };
        let items = |min: u32, max: Option<u32>| repeat(seq(vec![self.comma(), item.clone()]), min, max);
        // (items before the witness: min, max; items after: min, max).
        let mut cases: Vec<(u32, Option<u32>, u32, Option<u32>)> = Vec::new();
        match high {
            Some(high) => {
                for before in 0..high {
                    cases.push((before, Some(before), (low - 1).saturating_sub(before), Some(high - 1 - before)));
                }
            }
            None => {
                let rest = low - 1;
                for before in 0..rest {
                    cases.push((before, Some(before), rest - before, None));
                }
                cases.push((rest, None, 0, None));
            }
        }
        let mut alternatives = Vec::new();
        for (before_min, before_max, after_min, after_max) in cases {
            let after = items(after_min, after_max);
            if !first {
                alternatives.push(seq(vec![items(before_min, before_max), self.comma(), witness.clone(), after]));
                continue;
            }
            if before_min == 0 {
                alternatives.push(seq(vec![witness.clone(), after.clone()]));
            }
            if before_max != Some(0) {
                let (min, max) = (before_min.max(1) - 1, before_max.map(|max| max - 1));
                alternatives.push(seq(vec![item.clone(), items(min, max), self.comma(), witness.clone(), after]));
            }
        }
        Some(alt(alternatives))
    }

    // ---- Arrays ---------------------------------------------------------

    fn array(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Expr, GrammarError> {
        let min = self.count_keyword(map, pointer, "minItems")?.unwrap_or(0);
        let max = self.count_keyword(map, pointer, "maxItems")?;
        if max.is_some_and(|max| max < min) {
            return Err(self.error(ErrorKind::EmptyLanguage, pointer, "`minItems` is above `maxItems`"));
        }
        // (schema, pointer) of the leading positional items, and of the rest.
        let (prefix, rest): (Vec<Located>, Option<Located>) = match (map.get("prefixItems"), map.get("items")) {
            (_, Some(Value::Array(items))) => {
                let prefix =
                    items.iter().enumerate().map(|(i, s)| (s.clone(), format!("{pointer}/items/{i}"))).collect();
                let rest = map.get("additionalItems").map(|s| (s.clone(), format!("{pointer}/additionalItems")));
                (prefix, rest)
            }
            (prefix, items) => {
                let prefix = match prefix {
                    Some(Value::Array(items)) => items
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (s.clone(), format!("{pointer}/prefixItems/{i}")))
                        .collect(),
                    Some(_) => {
                        return Err(self.error(
                            ErrorKind::Syntax,
                            &format!("{pointer}/prefixItems"),
                            "`prefixItems` must be an array",
                        ));
                    }
                    None => Vec::new(),
                };
                (prefix, items.map(|s| (s.clone(), format!("{pointer}/items"))))
            }
        };
        // `uniqueItems` over a finite item domain (`unique.rs`).
        if map.get("uniqueItems") == Some(&Value::Bool(true)) {
            let simple = prefix.is_empty() && !map.contains_key("contains") && !map.contains_key(negate::SOME_ITEM);
            let items = rest.as_ref().map(|(items, _)| items.clone());
            let outcome = if simple {
                self.unique_array(items.as_ref(), min, max, pointer)?
            } else {
                Err("unique items beside `prefixItems` or `contains` are not supported".to_owned())
            };
            match outcome {
                Ok(expression) => return Ok(expression),
                Err(reason) => {
                    self.unsupported(pointer, "uniqueItems", &format!("a grammar cannot compare items here: {reason}"))?
                }
            }
        }
        // An item schema with no valid value ends the array before its
        // position (a leaf that matches nothing cuts every longer layout).
        let mut elements = Vec::with_capacity(prefix.len());
        for (schema, at) in &prefix {
            elements.push(self.schema_or_never(schema, at)?);
        }
        // `contains` (and the complement of `items`): some item past the
        // prefix satisfies the witness schema (and the items' schema).
        let witness_schema = match (map.get("contains"), map.get(negate::SOME_ITEM)) {
            (Some(contains), _) => {
                let least = self.count_keyword(map, pointer, "minContains")?.unwrap_or(1);
                if map.contains_key("maxContains") {
                    self.unsupported(
                        pointer,
                        "maxContains",
                        "an upper bound on the items that match is not supported",
                    )?;
                }
                if least > 1 {
                    self.unsupported(pointer, "minContains", "more than one item that must match is not supported")?;
                }
                // `minContains: 0` makes `contains` hold always (§10.3.1.3).
                (least > 0).then(|| (contains.clone(), 0, format!("{pointer}/contains")))
            }
            (None, Some(some)) => Some((
                some.get("schema").cloned().unwrap_or(Value::Bool(true)),
                some.get("from").and_then(Value::as_u64).unwrap_or(0) as usize,
                pointer.to_owned(),
            )),
            (None, None) => None,
        };
        let mut min = min;
        let witness = match witness_schema {
            None => None,
            Some((_, from, _)) if from != prefix.len() => {
                self.unsupported(pointer, "contains", "`contains` beside `prefixItems` is not supported")?;
                None
            }
            Some(_) if max.is_some_and(|max| max > MAX_WITNESS_WINDOW) => {
                self.unsupported(
                    pointer,
                    "contains",
                    &format!("`contains` with `maxItems` above {MAX_WITNESS_WINDOW} is not supported"),
                )?;
                None
            }
            Some((schema, _, at)) => {
                let items = rest.as_ref().map_or(Value::Bool(true), |(items, _)| items.clone());
                let both = self.merge(&items, &schema, &at)?;
                let witness = self.merged_rule(&both, &at)?;
                // The witness comes after the prefix.
                min = min.max(prefix.len() as u32 + 1);
                Some(witness)
            }
        };
        let rest = match &rest {
            Some((Value::Bool(false), _)) => None,
            Some((schema, at)) => Some(self.schema_or_never(schema, at)?).filter(|item| !is_never(item)),
            None => Some(self.any_value()),
        };
        let max_count = max.map_or(u32::MAX, |max| max);
        // Positions past the prefix: `rest` repeated within the count window.
        let tail = |builder: &Builder, first: bool, used: u32| -> Option<Expr> {
            let low = min.saturating_sub(used);
            let high = max.map(|max| max.saturating_sub(used));
            if let Some(witness) = &witness {
                return builder.witness_sequence(first, low, high, rest.as_ref(), witness);
            }
            let item = rest.clone();
            match item {
                None => (low == 0 && !first).then(|| expr(ExprKind::Empty)),
                Some(item) if first => {
                    let low = low.max(1);
                    if high.is_some_and(|high| high < low) {
                        return None;
                    }
                    let more = repeat(seq(vec![builder.comma(), item.clone()]), low - 1, high.map(|h| h - 1));
                    Some(seq(vec![item, more]))
                }
                Some(item) => Some(repeat(seq(vec![builder.comma(), item]), low, high)),
            }
        };
        // Built back to front: `after[k]` continues after k items (k >= 1).
        let mut after: Option<Expr> = tail(self, false, prefix.len() as u32);
        let mut nonempty: Option<Expr> = tail(self, true, prefix.len() as u32);
        for k in (0..prefix.len()).rev() {
            let count = k as u32;
            if count >= max_count {
                after = (count >= min).then(|| expr(ExprKind::Empty));
                nonempty = None;
                continue;
            }
            let element = elements[k].clone();
            let take_rest = after.clone();
            let with_next = take_rest.map(|rest| seq(vec![element.clone(), rest]));
            nonempty = with_next.clone();
            let taken = with_next.map(|with| seq(vec![self.comma(), with]));
            after = match (taken, count >= min) {
                (Some(taken), true) => Some(repeat(taken, 0, Some(1))),
                (Some(taken), false) => Some(taken),
                (None, true) => Some(expr(ExprKind::Empty)),
                (None, false) => None,
            };
        }
        let mut alternatives = Vec::new();
        if min == 0 {
            alternatives.push(seq(vec![self.open("["), lit("]")]));
        }
        if let Some(nonempty) = nonempty {
            alternatives.push(seq(vec![self.open("["), nonempty, self.close("]")]));
        }
        Ok(alt(alternatives))
    }

    // ---- Objects --------------------------------------------------------

    /// The extra member that stands for a `patternProperties` dropped in
    /// lenient mode: any key but the declared ones, with any value. Dropping
    /// the keyword must not narrow the language (the patterns' keys are
    /// allowed whatever `additionalProperties` says), so it widens it.
    fn any_other_member(&mut self, declared: &[(String, Value, String)]) -> (Expr, Expr) {
        let names: Vec<&str> = declared.iter().map(|(name, _, _)| name.as_str()).collect();
        let key = if names.is_empty() { quoted(hir_repeat(string_char(), 0, None)) } else { other_keys(&names) };
        (pat(key), self.any_value())
    }

    /// The names `propertyNames` allows: a schema over strings with only
    /// `type`, `enum`/`const`, `pattern`, `format` and lengths (after
    /// `$ref` and `allOf`), as a finite list or a regular language.
    fn property_names(&mut self, schema: &Value, pointer: &str) -> Result<Names, GrammarError> {
        let Some(map) = self.expand(schema, pointer)? else { return Ok(Names::Listed(Vec::new())) };
        let string_keywords = ["type", "enum", "const", "pattern", "format", "minLength", "maxLength"];
        if let Some(other) = map.keys().find(|key| !is_annotation(key) && !string_keywords.contains(&key.as_str())) {
            let reason = format!(
                "only `propertyNames` over `type`, `enum`, `const`, `pattern`, `format` and lengths are supported, not `{other}`"
            );
            self.unsupported(pointer.rsplit_once('/').map_or(pointer, |(parent, _)| parent), "propertyNames", &reason)?;
            return Ok(Names::Any);
        }
        if map.contains_key("type") && !self.types(&map, pointer)?.iter().any(|t| t == "string") {
            return Ok(Names::Listed(Vec::new()));
        }
        let min = self.count_keyword(&map, pointer, "minLength")?;
        let max = self.count_keyword(&map, pointer, "maxLength")?;
        let mut language = self.string_language(&map, pointer)?;
        if min.is_some() || max.is_some() {
            let any = hir_repeat(class(&[('\0', char::MAX)]), 0, None);
            match lengths::bounded(
                language.as_ref().unwrap_or(&any),
                min.unwrap_or(0) as usize,
                max.map(|m| m as usize),
            ) {
                Some(bounded) => language = Some(bounded),
                None => {
                    self.unsupported(pointer, "maxLength", "these lengths with this `pattern` are not supported")?;
                    return Ok(Names::Any);
                }
            }
        }
        let listed: Option<Vec<Value>> = match (map.get("enum"), map.get("const")) {
            (_, Some(constant)) => Some(vec![constant.clone()]),
            (Some(Value::Array(values)), None) => Some(values.clone()),
            (Some(_), None) => {
                return Err(self.error(ErrorKind::Syntax, &format!("{pointer}/enum"), "`enum` must be an array"));
            }
            (None, None) => None,
        };
        let matcher = match &language {
            Some(hir) => Some(
                regex_automata::meta::Regex::builder()
                    .build_from_hir(&Hir::concat(vec![
                        Hir::look(regex_syntax::hir::Look::Start),
                        hir.clone(),
                        Hir::look(regex_syntax::hir::Look::End),
                    ]))
                    .map_err(|error| self.error(ErrorKind::Regex, pointer, error))?,
            ),
            None => None,
        };
        Ok(match (listed, language) {
            (Some(values), _) => Names::Listed(
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|name| matcher.as_ref().is_none_or(|m| m.is_match(*name)))
                    .map(str::to_owned)
                    .collect(),
            ),
            (None, Some(language)) => match matcher {
                Some(matcher) => Names::Strings { language, matcher },
                None => Names::Any,
            },
            (None, None) => Names::Any,
        })
    }

    /// Most dependency triggers in one object: each doubles the object's
    /// layouts (one per set of triggers present).
    const MAX_DEPENDENCIES: usize = 4;

    /// `dependentRequired` and the list form of draft-7 `dependencies`:
    /// (trigger, the names it requires), triggers that require nothing
    /// left out.
    fn dependencies(
        &mut self,
        map: &Map<String, Value>,
        pointer: &str,
    ) -> Result<Vec<(String, Vec<String>)>, GrammarError> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for keyword in ["dependentRequired", "dependencies"] {
            let Some(value) = map.get(keyword) else { continue };
            let Some(entries) = value.as_object() else {
                return Err(self.error(
                    ErrorKind::Syntax,
                    &format!("{pointer}/{keyword}"),
                    format!("`{keyword}` must be an object"),
                ));
            };
            for (trigger, dependents) in entries {
                // Schema values of `dependencies` were rewritten before
                // (`negate::dependent_schemas`).
                let Some(dependents) = dependents.as_array() else { continue };
                let mut names = Vec::new();
                for name in dependents {
                    match name.as_str() {
                        Some(name) => names.push(name.to_owned()),
                        None => {
                            return Err(self.error(
                                ErrorKind::Syntax,
                                &format!("{pointer}/{keyword}/{}", token(trigger)),
                                "dependencies must list property names",
                            ));
                        }
                    }
                }
                names.retain(|name| name != trigger);
                if names.is_empty() {
                    continue;
                }
                match out.iter_mut().find(|(t, _)| t == trigger) {
                    Some((_, existing)) => existing.extend(names),
                    None => out.push((trigger.clone(), names)),
                }
            }
            if out.len() > Self::MAX_DEPENDENCIES {
                self.unsupported(
                    pointer,
                    keyword,
                    &format!("more than {} properties with dependencies in one object", Self::MAX_DEPENDENCIES),
                )?;
                // Dropped (lenient): no dependency is enforced.
                return Ok(Vec::new());
            }
        }
        Ok(out)
    }

    fn object(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Expr, GrammarError> {
        let Some(Value::Array(wanted)) = map.get(negate::SOME_KEY) else {
            return self.object_members(map, pointer, None);
        };
        // Some member has a key outside `outside` and a value of `schema`
        // (the complement of `additionalProperties`, see `negate.rs`):
        // a declared member, or an extra one. Further such requirements
        // stay in the map for the declared members' cases.
        let Some(some_key) = wanted.first() else {
            let mut rest = map.clone();
            rest.remove(negate::SOME_KEY);
            return self.object_members(&rest, pointer, None);
        };
        let outside: Vec<String> =
            some_key["outside"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
        let witness_schema = some_key.get("schema").cloned().unwrap_or(Value::Bool(true));
        let mut rest = map.clone();
        rest.remove(negate::SOME_KEY);
        let closed =
            rest.get("additionalProperties") == Some(&Value::Bool(false)) && !rest.contains_key("patternProperties");
        let further = wanted.len() > 1;
        if further {
            rest.insert(negate::SOME_KEY.to_owned(), Value::Array(wanted[1..].to_vec()));
        }
        let mut declared: Vec<String> = rest
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, _)| name.clone())
            .collect();
        for name in rest.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !declared.iter().any(|n| n == name) {
                declared.push(name.to_owned());
            }
        }
        // One case per declared name, and one for the extras: from the
        // complements' budget, as each multiplies what follows.
        let cases = declared.iter().filter(|name| !outside.contains(name)).count() + 1;
        if cases > self.negation_budget {
            self.unsupported(
                pointer,
                "not",
                &format!("the complement of this schema takes more than {NEGATION_BUDGET} cases in all"),
            )?;
            rest.remove(negate::SOME_KEY);
            return self.object_members(&rest, pointer, None);
        }
        self.negation_budget -= cases;
        let mut alternatives = Vec::new();
        let mut contradiction = None;
        for name in declared.iter().filter(|name| !outside.contains(name)) {
            let mut branch = rest.clone();
            let mut required = branch.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
            required.push(Value::String(name.clone()));
            branch.insert("required".into(), Value::Array(required));
            let own = branch
                .get("properties")
                .and_then(|properties| properties.get(name))
                .or_else(|| branch.get("additionalProperties"))
                .cloned()
                .unwrap_or(Value::Bool(true));
            let mut properties = branch.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
            properties.insert(name.clone(), serde_json::json!({"allOf": [own, witness_schema]}));
            branch.insert("properties".into(), Value::Object(properties));
            match self.merged_rule(&Value::Object(branch), pointer) {
                Ok(expression) => alternatives.push(expression),
                Err(error) if error.kind == ErrorKind::EmptyLanguage => {
                    contradiction.get_or_insert(error);
                }
                Err(error) => return Err(error),
            }
        }
        let mut names = declared;
        names.extend(outside);
        rest.remove(negate::SOME_KEY);
        let extras = if closed {
            // No extra member at all: only the declared ones can be it.
            Err(self.error(ErrorKind::EmptyLanguage, pointer, "no other property is allowed"))
        } else if further {
            self.unsupported(
                pointer,
                "not",
                "the complement of two `additionalProperties` over one object with other keys allowed is not supported",
            )?;
            self.object_members(&rest, pointer, None)
        } else {
            self.object_members(&rest, pointer, Some((names, witness_schema)))
        };
        match extras {
            Ok(expression) => alternatives.push(expression),
            Err(error) if error.kind == ErrorKind::EmptyLanguage => {
                contradiction.get_or_insert(error);
            }
            Err(error) => return Err(error),
        }
        match contradiction {
            Some(error) if alternatives.is_empty() => Err(error),
            _ => Ok(alt(alternatives)),
        }
    }

    /// An object schema's members; with `witness` (names, schema), at least
    /// one extra member has a key outside the names and a value of the
    /// schema.
    fn object_members(
        &mut self,
        map: &Map<String, Value>,
        pointer: &str,
        witness: Option<(Vec<String>, Value)>,
    ) -> Result<Expr, GrammarError> {
        let min = self.count_keyword(map, pointer, "minProperties")?.unwrap_or(0);
        let max = self.count_keyword(map, pointer, "maxProperties")?;
        if max.is_some_and(|max| max < min) {
            return Err(self.error(ErrorKind::EmptyLanguage, pointer, "`minProperties` is above `maxProperties`"));
        }
        let required: Vec<String> = match map.get("required") {
            None => Vec::new(),
            Some(Value::Array(names)) => names.iter().filter_map(|name| name.as_str().map(str::to_owned)).collect(),
            Some(_) => {
                return Err(self.error(
                    ErrorKind::Syntax,
                    &format!("{pointer}/required"),
                    "`required` must be an array",
                ));
            }
        };
        let empty = Map::new();
        let properties = match map.get("properties") {
            None => &empty,
            Some(Value::Object(properties)) => properties,
            Some(_) => {
                return Err(self.error(
                    ErrorKind::Syntax,
                    &format!("{pointer}/properties"),
                    "`properties` must be an object",
                ));
            }
        };
        // (name, schema, pointer) in output order.
        let mut declared: Vec<(String, Value, String)> = properties
            .iter()
            .map(|(name, schema)| (name.clone(), schema.clone(), format!("{pointer}/properties/{}", token(name))))
            .collect();
        for name in &required {
            if !properties.contains_key(name) && !declared.iter().any(|(n, _, _)| n == name) {
                let schema = match map.get("additionalProperties") {
                    Some(schema) => schema.clone(),
                    None => Value::Bool(true),
                };
                declared.push((name.clone(), schema, format!("{pointer}/required")));
            }
        }
        // Names that dependencies mention are declared members, so that
        // extra keys never take them (a forbidden trigger stays forbidden).
        let dependencies = self.dependencies(map, pointer)?;
        for (trigger, dependents) in &dependencies {
            for name in std::iter::once(trigger).chain(dependents) {
                if !declared.iter().any(|(n, _, _)| n == name) {
                    let schema = map.get("additionalProperties").cloned().unwrap_or(Value::Bool(true));
                    declared.push((name.clone(), schema, format!("{pointer}/dependentRequired")));
                }
            }
        }
        // `propertyNames`: declared names outside its language are
        // forbidden (an error if required); extra keys come from it.
        let names_at = format!("{pointer}/propertyNames");
        let names = match map.get("propertyNames") {
            Some(schema) => self.property_names(schema, &names_at)?,
            None => Names::Any,
        };
        if !matches!(names, Names::Any) {
            let mut kept = Vec::with_capacity(declared.len());
            for entry in declared {
                if names.contains(&entry.0) {
                    kept.push(entry);
                } else if required.contains(&entry.0) {
                    return Err(self.error(
                        ErrorKind::EmptyLanguage,
                        &names_at,
                        format!("the required property `{}` is not a valid name under `propertyNames`", entry.0),
                    ));
                }
            }
            declared = kept;
        }
        let patterns = match map.get("patternProperties") {
            Some(Value::Object(patterns)) if !patterns.is_empty() => Some(patterns),
            Some(Value::Object(_)) | None => None,
            Some(_) => {
                return Err(self.error(
                    ErrorKind::Syntax,
                    &format!("{pointer}/patternProperties"),
                    "`patternProperties` must be an object",
                ));
            }
        };
        // Extra members: (key, value) expressions.
        let mut extra: Option<(Expr, Expr)> = None;
        if patterns.is_some() && !matches!(names, Names::Any) {
            self.unsupported(pointer, "propertyNames", "`propertyNames` beside `patternProperties` is not supported")?;
        }
        if let Some(patterns) = patterns {
            let at = format!("{pointer}/patternProperties");
            if patterns.len() > 1 {
                self.unsupported(pointer, "patternProperties", "only one pattern is supported")?;
                extra = Some(self.any_other_member(&declared));
            } else if let Some((pattern_text, schema)) = patterns.iter().next() {
                let pattern_at = format!("{at}/{}", token(pattern_text));
                let keys = pattern::pattern_strings(pattern_text)
                    .map_err(|reason| self.error(ErrorKind::Unsupported, &pattern_at, reason))?;
                let matcher = regex_automata::meta::Regex::builder()
                    .build_from_hir(&Hir::concat(vec![
                        Hir::look(regex_syntax::hir::Look::Start),
                        keys.clone(),
                        Hir::look(regex_syntax::hir::Look::End),
                    ]))
                    .map_err(|error| self.error(ErrorKind::Regex, &pattern_at, error))?;
                for (name, property, _) in &mut declared {
                    if matcher.is_match(name.as_str()) {
                        // The declared property must satisfy both schemas.
                        *property = self.merge(property, schema, &pattern_at)?;
                    }
                }
                let names: Vec<&str> = declared.iter().map(|(name, _, _)| name.as_str()).collect();
                if names.iter().any(|name| matcher.is_match(*name)) {
                    self.unsupported(
                        pointer,
                        "patternProperties",
                        "a declared property matches the pattern, so pattern keys could repeat it",
                    )?;
                    extra = Some(self.any_other_member(&declared));
                } else {
                    let value = self.schema(schema, &pattern_at)?;
                    extra = Some((pat(quoted(pattern::json_encoded(&keys))), value));
                }
            }
        } else {
            let additional = map.get("additionalProperties");
            let value = match additional {
                Some(Value::Bool(false)) => None,
                None | Some(Value::Bool(true)) => Some(self.any_value()),
                Some(schema) => Some(self.schema(schema, &format!("{pointer}/additionalProperties"))?),
            };
            if let Some(value) = value {
                let declared_names: Vec<&str> = declared.iter().map(|(name, _, _)| name.as_str()).collect();
                let key = match &names {
                    Names::Any if declared_names.is_empty() => Some(quoted(hir_repeat(string_char(), 0, None))),
                    Names::Any => Some(other_keys(&declared_names)),
                    // The listed names not declared, each spelled one way.
                    Names::Listed(listed) => {
                        let keys: Vec<Hir> = listed
                            .iter()
                            .filter(|name| !declared_names.contains(&name.as_str()))
                            .map(|name| Hir::literal(Value::String(name.clone()).to_string().into_bytes()))
                            .collect();
                        Some(hir_alt(keys))
                    }
                    Names::Strings { language, .. } if declared_names.is_empty() => {
                        Some(quoted(pattern::json_encoded(language)))
                    }
                    Names::Strings { .. } => {
                        self.unsupported(
                            pointer,
                            "propertyNames",
                            "a `propertyNames` pattern beside declared properties is not supported",
                        )?;
                        Some(other_keys(&declared_names))
                    }
                };
                // No name left (an empty list): no extra member.
                if let Some(key) = key.filter(|key| key.properties().minimum_len().is_some()) {
                    extra = Some((pat(key), value));
                }
            }
        }
        let witness = match witness {
            None => None,
            Some(_) if extra.is_none() => {
                return Err(self.error(ErrorKind::EmptyLanguage, pointer, "no other property is allowed"));
            }
            Some(_) if patterns.is_some() || !matches!(names, Names::Any) => {
                self.unsupported(
                    pointer,
                    "not",
                    "the complement of `additionalProperties` beside `patternProperties` or `propertyNames` is not \
                     supported",
                )?;
                None
            }
            Some((outside, schema)) => {
                let mut excluded: Vec<&str> = declared.iter().map(|(name, _, _)| name.as_str()).collect();
                excluded.extend(outside.iter().map(String::as_str));
                let additional = map.get("additionalProperties").cloned().unwrap_or(Value::Bool(true));
                let value_schema = self.merge(&additional, &schema, pointer)?;
                let value = self.merged_rule(&value_schema, pointer)?;
                Some(seq(vec![pat(other_keys(&excluded)), self.colon(), value]))
            }
        };
        if witness.is_some() && max.is_some_and(|max| max > MAX_WITNESS_WINDOW) {
            self.unsupported(
                pointer,
                "not",
                &format!("the complement of `additionalProperties` beside `maxProperties` above {MAX_WITNESS_WINDOW}"),
            )?;
        }
        let mut members: Vec<(String, Expr)> = Vec::with_capacity(declared.len());
        for (name, schema, at) in &declared {
            let key = lit(&Value::String(name.clone()).to_string());
            let value = match self.schema(schema, at) {
                Ok(value) => value,
                // An optional property no value can satisfy is forbidden:
                // its key is left out (extra keys never take a declared
                // name). A required one leaves no valid object.
                Err(error) if error.kind == ErrorKind::EmptyLanguage && !required.contains(name) => continue,
                Err(error) if error.kind == ErrorKind::EmptyLanguage => {
                    return Err(self.error(
                        ErrorKind::EmptyLanguage,
                        at,
                        format!("the required property `{name}` has no valid value: {}", error.message),
                    ));
                }
                Err(error) => return Err(error),
            };
            members.push((name.clone(), seq(vec![key, self.colon(), value])));
        }
        let extra = extra.map(|(key, value)| seq(vec![key, self.colon(), value]));
        // One layout per set of dependency triggers present: those present
        // are required with their dependents, the others are forbidden, so
        // the layouts are disjoint and their union is exact.
        let mut alternatives = Vec::new();
        let mut empty_allowed = false;
        for present in 0u32..(1 << dependencies.len()) {
            let is_present = |i: usize| present & (1 << i) != 0;
            let mut needed: Vec<&str> = required.iter().map(String::as_str).collect();
            for (i, (trigger, dependents)) in dependencies.iter().enumerate() {
                if is_present(i) {
                    needed.push(trigger);
                    needed.extend(dependents.iter().map(String::as_str));
                }
            }
            let absent: Vec<&str> =
                (0..dependencies.len()).filter(|&i| !is_present(i)).map(|i| dependencies[i].0.as_str()).collect();
            let satisfiable = needed.iter().all(|name| !absent.contains(name))
                && needed.iter().all(|name| members.iter().any(|(member, _)| member == name));
            if !satisfiable {
                continue;
            }
            let layout_members: Vec<(Expr, bool)> = members
                .iter()
                .filter(|(name, _)| !absent.contains(&name.as_str()))
                .map(|(name, member)| (member.clone(), needed.contains(&name.as_str())))
                .collect();
            let layout =
                ObjectLayout { members: layout_members, extra: extra.clone(), witness: witness.clone(), min, max };
            if layout.members.iter().all(|(_, required)| !required) && min == 0 && layout.witness.is_none() {
                empty_allowed = true;
            }
            if let Some(body) = layout.build(self, pointer) {
                alternatives.push(seq(vec![self.open("{"), body, self.close("}")]));
            }
        }
        if empty_allowed {
            alternatives.insert(0, seq(vec![self.open("{"), lit("}")]));
        }
        if alternatives.is_empty() {
            return Err(self.error(
                ErrorKind::EmptyLanguage,
                pointer,
                "no object satisfies these property constraints",
            ));
        }
        Ok(alt(alternatives))
    }
}

/// The property names `propertyNames` allows.
enum Names {
    Any,
    /// Exactly these (from `enum`/`const`).
    Listed(Vec<String>),
    /// The decoded strings of a regular language, and a matcher for it.
    Strings {
        language: Hir,
        matcher: regex_automata::meta::Regex,
    },
}

impl Names {
    fn contains(&self, name: &str) -> bool {
        match self {
            Names::Any => true,
            Names::Listed(names) => names.iter().any(|listed| listed == name),
            Names::Strings { matcher, .. } => matcher.is_match(name),
        }
    }
}

/// The members of an object schema, in output order, and how many members
/// there may be.
struct ObjectLayout {
    /// `"key": value` and whether it is required.
    members: Vec<(Expr, bool)>,
    /// An additional or pattern member, repeatable.
    extra: Option<Expr>,
    /// An extra member that must occur at least once among the extras.
    witness: Option<Expr>,
    min: u32,
    max: Option<u32>,
}

impl ObjectLayout {
    /// The non-empty member list, or `None` when no member list satisfies
    /// the counts. States are (next member, whether one was written, count
    /// written so far); each gets a rule so that the grammar stays linear in
    /// the number of properties.
    fn build(&self, builder: &mut Builder, pointer: &str) -> Option<Expr> {
        let counted = self.max.is_some() || self.min > 0;
        let mut names: HashMap<(usize, bool, u32), Option<String>> = HashMap::new();
        let prefix = builder.fresh_name(&format!("{pointer}-members"));
        self.state(builder, &prefix, &mut names, 0, true, 0, counted)
    }

    #[allow(clippy::too_many_arguments)]
    fn state(
        &self,
        builder: &mut Builder,
        prefix: &str,
        names: &mut HashMap<(usize, bool, u32), Option<String>>,
        next: usize,
        first: bool,
        count: u32,
        counted: bool,
    ) -> Option<Expr> {
        let key = (next, first, count);
        if let Some(name) = names.get(&key) {
            return name.as_deref().map(reference);
        }
        let body = if next == self.members.len() {
            self.tail(builder, first, count)
        } else {
            let (member, required) = &self.members[next];
            let taken = if self.max.is_some_and(|max| count >= max) {
                None
            } else {
                let after = if counted { count + 1 } else { 0 };
                let rest = self.state(builder, prefix, names, next + 1, false, after, counted);
                rest.map(|rest| {
                    if first {
                        seq(vec![member.clone(), rest])
                    } else {
                        seq(vec![builder.comma(), member.clone(), rest])
                    }
                })
            };
            let skipped =
                if *required { None } else { self.state(builder, prefix, names, next + 1, first, count, counted) };
            match (taken, skipped) {
                (Some(a), Some(b)) => Some(alt(vec![a, b])),
                (a, b) => a.or(b),
            }
        };
        let name = body.map(|body| {
            let name = format!("{prefix}-{next}-{}-{count}", if first { "a" } else { "b" });
            builder.rules.push(rule(&name, body));
            name
        });
        names.insert(key, name.clone());
        name.as_deref().map(reference)
    }

    /// Extra members after the declared ones. Duplicate extra keys collapse
    /// when the document is parsed, so only one extra member can be counted
    /// on towards `minProperties`.
    fn tail(&self, builder: &Builder, first: bool, count: u32) -> Option<Expr> {
        let needed = self.min.saturating_sub(count);
        let high = self.max.map(|max| max.saturating_sub(count));
        if needed > 1 || high.is_some_and(|high| high < needed) {
            return None;
        }
        if let Some(witness) = &self.witness {
            return builder.witness_sequence(first, needed, high, self.extra.as_ref(), witness);
        }
        let Some(extra) = &self.extra else {
            return (needed == 0 && !first).then(|| expr(ExprKind::Empty));
        };
        if first {
            if high == Some(0) {
                return None;
            }
            let more = repeat(seq(vec![builder.comma(), extra.clone()]), 0, high.map(|h| h - 1));
            Some(seq(vec![extra.clone(), more]))
        } else {
            Some(repeat(seq(vec![builder.comma(), extra.clone()]), needed, high))
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let digit = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
            out.push(digit(bytes[i + 1]) * 16 + digit(bytes[i + 2]));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the json_schema fuzz target: the span of a JSON syntax
    /// error stays inside the text and on character boundaries, also for an
    /// empty or truncated schema.
    #[test]
    fn syntax_error_spans_stay_inside_the_text() {
        for text in ["", "{", "{\"type\": \"é", "é", "{\"a\":\n  ]"] {
            let error = compile_json_schema(text, &JsonSchemaOptions::default()).expect_err("not JSON");
            let span = error.span.expect("a syntax error has a span");
            assert!(span.start <= span.end && span.end <= text.len(), "{text:?}: {span:?}");
            assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end), "{text:?}: {span:?}");
            let _ = error.render("schema.json", text);
        }
    }

    /// Issue 18: an `anyOf` of 14 objects, each an optional `enum` field
    /// and an optional string with a searched `pattern` (JSONSchemaBench
    /// `Github_trivial---o35155` without `required`), took 30 s to compile:
    /// conflict reports asked each terminal for an example, and a search of
    /// the lazy lexer's DFA built 180,000 states for them, kept for good.
    /// With the lexer that full, a mask walk then met its state limit, and
    /// the walk counted the tokens it could not step as refused: valid
    /// documents of the last branches lost their tokens. Examples now come
    /// from the NFA (no state is built), and a limit makes a mask undecided
    /// (`trellis-token-index`'s `a_limit_makes_the_mask_undecided_...`).
    #[test]
    fn many_searched_patterns_compile_without_building_lexer_states() {
        let branches = [
            ("INSPIRE ID", r"INSPIRE-\\d{8}", "INSPIRE-12345678"),
            ("INSPIRE BAI", r"(\\w+\\.)+\\d+", "J.Smith.1"),
            ("ORCID", r"\\d{4}-\\d{4}-\\d{4}-\\d{3}[0-9Xx]", "1234-5678-9012-345X"),
            ("JACOW", r"JACoW-\\d{8}", "JACoW-12345678"),
            ("KAKEN", r"KAKEN-\\d{8}", "KAKEN-12345678"),
            ("ARXIV", r"\\w+_(\\w_)?\\d+", "smith_j_1"),
            ("CERN", r"CERN-\\d+", "CERN-1"),
            ("DESY", r"DESY-\\d+", "DESY-2"),
            ("GOOGLESCHOLAR", r"(\\w|-){12}", "abcdef-12345"),
            ("VIAF", r"\\d{7,9}", "12345678"),
            ("RESEARCHERID", r"[A-z]-\\d{4}-\\d{4}", "A-1234-5678"),
            ("SCOPUS", r"\\d{10,11}", "12345678901"),
            ("WIKIPEDIA", r"\\w+", "Ada_Lovelace"),
            ("SLAC", r"SLAC-\\d+", "SLAC-123"),
        ];
        let any_of: Vec<String> = branches
            .iter()
            .map(|(kind, pattern, _)| {
                format!(
                    r#"{{"type": "object", "properties": {{"type": {{"type": "string", "enum": ["{kind}"]}}, "value": {{"type": "string", "pattern": "{pattern}"}}}}}}"#
                )
            })
            .collect();
        let schema = format!(r#"{{"anyOf": [{}]}}"#, any_of.join(", "));
        let grammar = CompiledGrammar::new(&schema, crate::Format::JsonSchema).expect("compiles");
        assert!(
            grammar.stats().lexer_states < 1000,
            "{} lexer states built while compiling",
            grammar.stats().lexer_states
        );
        for (kind, _, value) in branches {
            let document = format!(r#"{{"type": "{kind}", "value": "x {value} y"}}"#);
            assert_eq!(grammar.check(document.as_bytes()), crate::Verdict::Complete, "{document}");
        }
        assert!(!grammar.accepts(br#"{"type": "SLAC", "value": "SLAC-"}"#));
        assert!(!grammar.accepts(br#"{"type": "ORCID", "value": "1234-5678-9012-345Y"}"#));
    }

    fn string_of_at_most(count: usize) -> String {
        format!(r#"{{"type": "object", "properties": {{"text": {{"type": "string", "maxLength": {count}}}}}}}"#)
    }

    /// Issue 15: `maxLength: 100000` was refused as too large for the
    /// lexer (its NFA holds a copy of the JSON character per count, and the
    /// growth room of its vectors was counted against the limit), and the
    /// lazy lexer ran out of states 65,534 bytes into such a string.
    #[test]
    fn long_strings_can_be_bounded() {
        let grammar = CompiledGrammar::new(&string_of_at_most(100_000), crate::Format::JsonSchema).expect("compiles");
        let document = |length: usize| format!(r#"{{"text": "{}"}}"#, "é".repeat(length));
        assert!(grammar.accepts(document(100_000).as_bytes()));
        let too_long = document(100_001);
        assert_eq!(grammar.check(too_long.as_bytes()), crate::Verdict::Rejected { offset: 200_010 });
    }

    /// Past the lexer's NFA limit, the error names the keyword's JSON
    /// pointer and points at its value, not at a `x{1000}` nobody wrote.
    #[test]
    fn a_length_too_large_for_the_lexer_names_its_keyword() {
        let text = string_of_at_most(200_000);
        let source = crate::Source::new(crate::Format::JsonSchema, text.clone());
        let error = source.compile(&Config::default()).expect_err("too large");
        assert_eq!(error.kind, ErrorKind::TooLarge);
        assert!(error.message.contains("(at #/properties/text/maxLength)"), "{error}");
        assert!(error.message.contains("`{0,200000}`"), "{error}");
        let span = error.span.expect("a span");
        assert_eq!(&text[span.start..span.end], "200000");
        assert!(!source.render(&error).contains("x{1000}"), "{}", source.render(&error));
    }
}
