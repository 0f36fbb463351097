//! JSON Schema → grammar, checked against an independent oracle.
//!
//! The cases are data (`tests/schemas/*.jsonl`, one schema per line with
//! documents that must be accepted and ones that must be rejected) plus the
//! shared workload schemas with their documents. For every schema:
//!
//! * **soundness**: random walks through the compiled grammar's viable bytes
//!   produce documents, and the `jsonschema` crate (formats checked) must
//!   find every complete one valid;
//! * **completeness**: every valid document, written in the compact form the
//!   compiler documents, is accepted (and, pretty-printed, by the flexible
//!   whitespace policy), and every invalid one is rejected;
//! * the data itself is checked by the oracle, so a wrong case cannot hide
//!   a bug.
//!
//! `errors.jsonl` lists schemas that must be refused with an error naming a
//! JSON pointer; `lenient.jsonl` the warnings lenient mode must give.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;
use trellis_grammars::json_schema::{JsonSchemaOptions, Whitespace, compile_json_schema};
use trellis_grammars::walk::ByteWalker;
use trellis_grammars::{CompiledGrammar, Config, Format, Matcher, Source};
use trellis_tests::{Rng, compact_json, random_walk};

const NOT_VALIDITY_CASES: [&str; 2] = ["errors.jsonl", "lenient.jsonl"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

struct Case {
    name: String,
    schema: Value,
    /// Documents as the compact policy writes them.
    valid: Vec<String>,
    /// Documents as parsed values (for the flexible policy and the oracle).
    valid_values: Vec<Value>,
    invalid: Vec<Value>,
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

fn data_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("schemas"))
        .expect("tests/schemas")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.ends_with(".jsonl") && !NOT_VALIDITY_CASES.contains(&name)
        })
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let stem = file.file_stem().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        for line in read_jsonl(&file) {
            let list = |key: &str| line[key].as_array().cloned().unwrap_or_default();
            cases.push(Case {
                name: format!("{stem}/{}", line["name"].as_str().expect("name")),
                schema: line["schema"].clone(),
                valid: list("valid").iter().map(compact_json).collect(),
                valid_values: list("valid"),
                invalid: list("invalid"),
            });
        }
    }
    cases
}

/// The shared workload schemas, with their documents verbatim.
fn workload_cases() -> Vec<Case> {
    let workloads = root().join("workloads");
    let docs = read_jsonl(&workloads.join("schema-docs.jsonl"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(workloads.join("schemas"))
        .expect("workloads/schemas")
        .map(|entry| entry.expect("entry").path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let relative = format!("schemas/{}", path.file_name().and_then(|n| n.to_str()).unwrap_or_default());
            let text = std::fs::read_to_string(path).expect("schema");
            let valid: Vec<String> = docs
                .iter()
                .filter(|doc| doc["schema"] == relative.as_str())
                .map(|doc| doc["text"].as_str().expect("text").to_owned())
                .collect();
            let valid_values = valid.iter().map(|text| serde_json::from_str(text).expect("document")).collect();
            Case {
                name: format!("workloads/{relative}"),
                schema: serde_json::from_str(&text).expect("schema JSON"),
                valid,
                valid_values,
                invalid: Vec::new(),
            }
        })
        .collect()
}

fn oracle(schema: &Value) -> jsonschema::Validator {
    jsonschema::options().should_validate_formats(true).build(schema).expect("the oracle accepts the schema")
}

fn compile(name: &str, schema: &Value, whitespace: Whitespace) -> CompiledGrammar {
    let options = JsonSchemaOptions { whitespace, lenient: false };
    let (ebnf, warnings) = compile_json_schema(&schema.to_string(), &options)
        .unwrap_or_else(|error| panic!("{name}: the schema does not compile: {error}"));
    assert!(warnings.is_empty());
    CompiledGrammar::from_ebnf(&ebnf, &Config::default())
        .unwrap_or_else(|error| panic!("{name}: the grammar does not compile: {error}"))
}

fn viable_bytes(matcher: &Matcher) -> Vec<u8> {
    let mut walker = ByteWalker::new(matcher);
    (0..=255u8).filter(|&byte| walker.enter(1, byte)).collect()
}

/// A walk biased towards finishing: closing bytes often, ASCII mostly.
fn finishing_walk(grammar: &CompiledGrammar, rng: &mut Rng, max_len: usize) -> Option<String> {
    let mut matcher = grammar.matcher();
    let mut text = Vec::new();
    while text.len() < max_len {
        let next = viable_bytes(&matcher);
        if next.is_empty() || (matcher.is_complete() && rng.below(3) == 0) {
            break;
        }
        let closers: Vec<u8> = next.iter().copied().filter(|b| b"\"}]".contains(b)).collect();
        let ascii: Vec<u8> = next.iter().copied().filter(|b| b.is_ascii()).collect();
        let pool = match rng.below(8) {
            0..=2 if !closers.is_empty() => &closers,
            3..=6 if !ascii.is_empty() => &ascii,
            _ => &next,
        };
        let byte = pool[rng.below(pool.len())];
        matcher.advance(&[byte]).expect("a viable byte is accepted");
        text.push(byte);
    }
    assert!(matcher.is_complete() || !viable_bytes(&matcher).is_empty(), "dead end after {text:?}");
    matcher.is_complete().then(|| String::from_utf8(text).expect("grammar output is UTF-8"))
}

/// Random documents from the grammar, all checked by the oracle. Returns how
/// many complete documents were checked.
fn check_soundness(name: &str, grammar: &CompiledGrammar, validator: &jsonschema::Validator, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let mut documents = Vec::new();
    for _ in 0..24 {
        documents.extend(finishing_walk(grammar, &mut rng, 400));
    }
    for _ in 0..6 {
        let (matcher, bytes) = random_walk(grammar, &mut rng, 160, 2);
        if matcher.is_complete() {
            documents.push(String::from_utf8(bytes).expect("grammar output is UTF-8"));
        }
    }
    for text in &documents {
        let value: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{name}: the grammar produced non-JSON {text:?}: {e}"));
        if let Err(error) = validator.validate(&value) {
            panic!("{name}: the grammar produced {text:?}, which the oracle rejects: {error}");
        }
    }
    documents.len()
}

fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3))
}

fn run_case(case: &Case) -> (usize, f64) {
    let validator = oracle(&case.schema);
    for value in &case.valid_values {
        assert!(validator.is_valid(value), "{}: the data's valid document {value} is invalid", case.name);
    }
    for value in &case.invalid {
        assert!(!validator.is_valid(value), "{}: the data's invalid document {value} is valid", case.name);
    }
    let start = Instant::now();
    let grammar = compile(&case.name, &case.schema, Whitespace::Compact);
    let compile_ms = start.elapsed().as_secs_f64() * 1e3;
    for text in &case.valid {
        let verdict = grammar.check(text.as_bytes());
        assert!(verdict.is_complete(), "{}: valid document {text} rejected ({verdict:?})", case.name);
    }
    for value in &case.invalid {
        let text = compact_json(value);
        assert!(!grammar.accepts(text.as_bytes()), "{}: invalid document {text} accepted", case.name);
    }
    let checked = check_soundness(&case.name, &grammar, &validator, seed_of(&case.name));

    let flexible = compile(&case.name, &case.schema, Whitespace::Flexible);
    for value in &case.valid_values {
        let pretty = serde_json::to_string_pretty(value).expect("pretty");
        assert!(flexible.accepts(pretty.as_bytes()), "{}: flexible policy rejects\n{pretty}", case.name);
        let padded = format!(" {} \n", compact_json(value));
        assert!(flexible.accepts(padded.as_bytes()), "{}: flexible policy rejects {padded:?}", case.name);
    }
    check_soundness(&case.name, &flexible, &validator, seed_of(&case.name) ^ 1);
    (checked, compile_ms)
}

#[test]
fn data_schemas_are_sound_and_complete() {
    let cases = data_cases();
    assert!(cases.len() >= 100, "at least 100 schemas of our own ({} found)", cases.len());
    let mut documents = 0;
    for case in &cases {
        assert!(case.valid.len() >= 5, "{}: at least five valid documents", case.name);
        documents += run_case(case).0;
    }
    eprintln!("{} schemas, {documents} random documents validated", cases.len());
    assert!(documents >= cases.len() * 10, "random walks should finish often ({documents} documents)");
}

#[test]
fn workload_schemas_are_sound_and_complete() {
    let cases = workload_cases();
    assert_eq!(cases.len(), 9);
    for case in &cases {
        assert!(!case.valid.is_empty(), "{}: has documents", case.name);
        let (documents, compile_ms) = run_case(case);
        eprintln!("{}: compiled in {compile_ms:.1} ms, {documents} random documents validated", case.name);
    }
}

#[test]
fn errors_name_the_json_pointer() {
    for line in read_jsonl(&root().join("schemas/errors.jsonl")) {
        let name = line["name"].as_str().expect("name");
        let pointer = line["pointer"].as_str().expect("pointer");
        let text = line["schema"].to_string();
        let error = match CompiledGrammar::new(&text, Format::JsonSchema) {
            Ok(_) => panic!("{name}: compiled, but should be refused"),
            Err(error) => error,
        };
        let needle = pointer;
        let mentions = error.message.contains(&format!("at {needle})"))
            || error.message.contains(&format!("at {needle} "))
            || error.message.ends_with(&format!("at {needle}"));
        assert!(mentions, "{name}: the error should name {pointer}: {error}");
    }
}

/// A `format` JSON Schema does not define (`byte`, `color`, ...) is
/// ignored by validators, so it is compiled as a plain string, with a
/// warning naming its pointer; the oracle agrees on every document.
#[test]
fn formats_json_schema_does_not_define_are_plain_strings_with_a_warning() {
    let text = r#"{"type": "object", "properties": {"b": {"type": "string", "format": "byte"}, "c": {"type": "string", "format": "color", "maxLength": 3}}}"#;
    let (ebnf, warnings) = compile_json_schema(text, &JsonSchemaOptions::default()).expect("compiles");
    let pointers: Vec<&str> = warnings.iter().map(|w| w.pointer.as_str()).collect();
    assert_eq!(pointers, ["#/properties/b/format", "#/properties/c/format"]);
    let grammar = CompiledGrammar::from_ebnf(&ebnf, &Config::default()).expect("grammar");
    let schema: Value = serde_json::from_str(text).expect("JSON");
    let validator = oracle(&schema);
    for document in [r#"{"b": "not base64 at all!"}"#, r#"{"c": "red"}"#, r#"{"b": "", "c": ""}"#] {
        assert!(validator.is_valid(&serde_json::from_str(document).expect("JSON")), "{document}");
        assert!(grammar.accepts(document.as_bytes()), "{document}");
    }
    assert!(!grammar.accepts(br#"{"c": "blue"}"#), "maxLength still holds");
    check_soundness("unknown formats", &grammar, &validator, 7);
}

#[test]
fn lenient_mode_lists_every_dropped_keyword() {
    for line in read_jsonl(&root().join("schemas/lenient.jsonl")) {
        let name = line["name"].as_str().expect("name");
        let text = line["schema"].to_string();
        assert!(CompiledGrammar::new(&text, Format::JsonSchema).is_err(), "{name}: strict mode refuses it");
        let options = JsonSchemaOptions { lenient: true, ..JsonSchemaOptions::default() };
        let (ebnf, warnings) = compile_json_schema(&text, &options).expect("lenient compiles");
        let pointers: Vec<&str> = warnings.iter().map(|w| w.pointer.as_str()).collect();
        let expected: Vec<&str> =
            line["warnings"].as_array().expect("warnings").iter().map(|p| p.as_str().expect("pointer")).collect();
        assert_eq!(pointers, expected, "{name}");
        let grammar = CompiledGrammar::from_ebnf(&ebnf, &Config::default()).expect("grammar");
        for doc in line["accepted"].as_array().expect("accepted") {
            assert!(
                grammar.accepts(compact_json(doc).as_bytes()),
                "{name}: {doc} accepted once the keyword is dropped"
            );
        }
    }
}

#[test]
fn source_options_select_the_whitespace_policy() {
    let schema = r#"{"type": "object", "properties": {"a": {"type": "array"}}}"#;
    let compact = CompiledGrammar::new(schema, Format::JsonSchema).expect("compiles");
    assert!(compact.accepts(br#"{"a": [1, 2]}"#));
    assert!(!compact.accepts(br#"{"a":[1,2]}"#));
    let mut source = Source::new(Format::JsonSchema, schema);
    source.options.json_schema.whitespace = Whitespace::Flexible;
    let (flexible, _) = source.compile(&Config::default()).expect("compiles");
    assert!(flexible.accepts(br#"{"a":[1,2]}"#));
    assert!(flexible.accepts(b"{\n  \"a\": [\n    1,\n    2\n  ]\n}"));
    assert_eq!(Format::from_path(Path::new("x.schema.json")), Some(Format::JsonSchema));
    assert_eq!(Format::from_name("json-schema"), Some(Format::JsonSchema));
}

/// A decimal with `digits` significant digits (at most 15, so that doubles
/// order it exactly like the decimal), times 10^`shift`, in plain decimal.
fn plain_decimal(rng: &mut Rng, digits: usize, shift: i32) -> String {
    let mut significant: String = (0..digits).map(|_| char::from(b'0' + rng.below(10) as u8)).collect();
    if significant.starts_with('0') {
        significant.replace_range(..1, &(1 + rng.below(9)).to_string());
    }
    let negative = rng.below(3) == 0;
    // The digits with the point `shift` places to the right of their end.
    let point = significant.len() as i32 + shift;
    let text = if point <= 0 {
        format!("0.{}{significant}", "0".repeat((-point) as usize))
    } else if shift >= 0 {
        format!("{significant}{}", "0".repeat(shift as usize))
    } else {
        let (integer, fraction) = significant.split_at(point as usize);
        format!("{integer}.{fraction}")
    };
    let text = match text.split_once('.') {
        Some((integer, fraction)) => match fraction.trim_end_matches('0') {
            "" => integer.to_owned(),
            fraction => format!("{integer}.{fraction}"),
        },
        None => text,
    };
    if negative && text != "0" { format!("-{text}") } else { text }
}

/// The decimal `text` with its last significant digit moved by one either
/// way, or a digit appended: a neighbour just inside or outside a bound.
fn neighbours(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let significant = text.bytes().filter(u8::is_ascii_digit).skip_while(|&b| b == b'0').count();
    if significant < 15 {
        let appended = if text.contains('.') { format!("{text}1") } else { format!("{text}.1") };
        out.push(appended);
    }
    if let Some(last) = text.bytes().rposition(|b| b.is_ascii_digit()) {
        let digit = text.as_bytes()[last];
        for replacement in
            [(digit > b'0').then(|| digit - 1), (digit < b'9').then_some(digit + 1)].into_iter().flatten()
        {
            let mut bytes = text.as_bytes().to_vec();
            bytes[last] = replacement;
            let candidate = String::from_utf8(bytes).expect("ASCII");
            // Only canonical forms: no leading zero before other digits.
            if !candidate.trim_start_matches('-').starts_with("0")
                || candidate.trim_start_matches('-').starts_with("0.")
                || candidate.trim_start_matches('-') == "0"
            {
                out.push(candidate);
            }
        }
    }
    out
}

/// Random decimal bounds (any mix of `minimum`, `maximum`,
/// `exclusiveMinimum`, `exclusiveMaximum`; up to 15 significant digits,
/// from 10^-8 to 10^22) on numbers and integers: a plain decimal without
/// exponent is accepted iff the `jsonschema` crate finds it valid, and a
/// schema refused as empty has no valid number among the probes.
#[test]
fn decimal_bounds_are_exact_against_the_oracle() {
    let mut rng = Rng(0x5eed_dec1);
    let keywords = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];
    let (mut schemas, mut empty, mut checked) = (0, 0, 0);
    for round in 0..400 {
        let kind = if round % 4 == 3 { "integer" } else { "number" };
        let scale = rng.below(24) as i32 - 10;
        let mut bounds = Vec::new();
        let mut schema = format!(r#"{{"type": "{kind}""#);
        for keyword in keywords {
            if rng.below(2) == 0 {
                let (digits, shift) = (1 + rng.below(6), scale + rng.below(3) as i32 - 1);
                let bound = plain_decimal(&mut rng, digits, shift);
                schema.push_str(&format!(r#", "{keyword}": {bound}"#));
                bounds.push(bound);
            }
        }
        schema.push('}');
        let value: Value = serde_json::from_str(&schema).expect("schema JSON");
        let validator = oracle(&value);
        let mut probes: Vec<String> = Vec::new();
        for bound in &bounds {
            probes.push(bound.clone());
            probes.extend(neighbours(bound));
        }
        for _ in 0..24 {
            let digits = 1 + rng.below(15);
            let shift = scale + rng.below(5) as i32 - 2 - rng.below(digits) as i32;
            probes.push(plain_decimal(&mut rng, digits, shift));
        }
        probes.extend(["0", "-0", "1", "-1"].map(String::from));
        schemas += 1;
        let grammar = match compile_json_schema(&schema, &JsonSchemaOptions::default())
            .and_then(|(ebnf, _)| CompiledGrammar::from_ebnf(&ebnf, &Config::default()))
        {
            Ok(grammar) => grammar,
            Err(error) => {
                assert_eq!(error.kind, trellis_grammars::ErrorKind::EmptyLanguage, "{schema}: {error}");
                for probe in &probes {
                    let value: Value = serde_json::from_str(probe).unwrap_or_else(|e| panic!("{probe}: {e}"));
                    assert!(!validator.is_valid(&value), "{schema} refused as empty, but {probe} is valid");
                }
                empty += 1;
                continue;
            }
        };
        for probe in &probes {
            let value: Value = serde_json::from_str(probe).unwrap_or_else(|e| panic!("{probe}: {e}"));
            let valid = validator.is_valid(&value);
            // Integers are written canonically: `3`, never `3.0`.
            let canonical = kind == "number" || !probe.contains('.');
            let written = if probe == "-0" && kind == "integer" { false } else { canonical };
            if written {
                assert_eq!(grammar.accepts(probe.as_bytes()), valid, "{schema}: {probe}");
            } else {
                assert!(!grammar.accepts(probe.as_bytes()) || valid, "{schema}: {probe} accepted, but invalid");
            }
            // Equal values in other spellings: trailing zeros are accepted
            // for numbers, exponents never under a bound.
            if kind == "number" && valid && !probe.contains('e') {
                let padded = if probe.contains('.') { format!("{probe}00") } else { format!("{probe}.0") };
                assert!(grammar.accepts(padded.as_bytes()), "{schema}: {padded}");
            }
            if !bounds.is_empty() {
                assert!(!grammar.accepts(format!("{probe}e0").as_bytes()), "{schema}: {probe}e0");
            }
            checked += 1;
        }
        if round % 8 == 0 {
            check_soundness(&schema, &grammar, &validator, round);
        }
    }
    eprintln!("{schemas} schemas ({empty} empty), {checked} numbers checked");
    assert!(empty > 10 && empty < schemas / 2, "the bounds should sometimes contradict ({empty} of {schemas})");
}

#[test]
fn response_format_wrappers_are_unwrapped() {
    let schema = r#"{"type": "object", "properties": {"a": {"type": "integer", "minimum": 1}}, "required": ["a"],
                     "additionalProperties": false, "$defs": {"unused": {}}}"#;
    let wrapped = [
        format!(
            r#"{{"type": "json_schema", "json_schema": {{"name": "answer", "schema": {schema}, "strict": true}}}}"#
        ),
        format!(r#"{{"name": "answer", "strict": true, "description": "d", "schema": {schema}}}"#),
    ];
    let plain = CompiledGrammar::new(schema, Format::JsonSchema).expect("the schema");
    for text in &wrapped {
        let grammar = CompiledGrammar::new(text, Format::JsonSchema).unwrap_or_else(|e| panic!("{text}: {e}"));
        for document in [r#"{"a": 1}"#, r#"{"a": 0}"#, r#"{"a": 2, "b": 3}"#, r#"{}"#, "null"] {
            assert_eq!(grammar.accepts(document.as_bytes()), plain.accepts(document.as_bytes()), "{text}: {document}");
        }
    }
    // References resolve inside the unwrapped schema.
    let refs = r##"{"name": "tree", "schema": {"$ref": "#/$defs/node", "$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}"##;
    assert!(CompiledGrammar::new(refs, Format::JsonSchema).expect("compiles").accepts(b"[[], [[]]]"));
    // A wrapper without its schema is an error; an object with other keys
    // is a schema (with unknown keywords) like any other.
    let error = CompiledGrammar::new(r#"{"type": "json_schema", "json_schema": {"name": "x"}}"#, Format::JsonSchema)
        .expect_err("no schema");
    assert!(error.message.contains("#/json_schema/schema"), "{error}");
    let not_a_wrapper = r#"{"name": "x", "schema": {"type": "null"}, "type": "string"}"#;
    assert!(CompiledGrammar::new(not_a_wrapper, Format::JsonSchema).expect("a schema").accepts(br#""s""#));
}

#[test]
fn keyword_typos_warn_with_the_keyword_meant() {
    let schema = r#"{"type": "object", "properties": {"id": {"type": "integer", "minimun": 3}},
                     "requried": ["id"], "additionalProperty": false}"#;
    let (ebnf, warnings) = compile_json_schema(schema, &JsonSchemaOptions::default()).expect("compiles");
    let shown: Vec<(String, String)> =
        warnings.iter().map(|warning| (warning.pointer.clone(), warning.to_string())).collect();
    assert_eq!(shown.len(), 3, "{shown:?}");
    for ((pointer, text), (expected_pointer, meant)) in shown.iter().zip([
        ("#/properties/id/minimun", "minimum"),
        ("#/requried", "required"),
        ("#/additionalProperty", "additionalProperties"),
    ]) {
        assert_eq!(pointer, expected_pointer);
        assert!(text.contains(&format!("did you mean `{meant}`?")) && text.contains(expected_pointer), "{text}");
    }
    // The keywords are ignored, as JSON Schema says.
    let grammar = CompiledGrammar::from_ebnf(&ebnf, &Config::default()).expect("grammar");
    assert!(grammar.accepts(br#"{"id": 1, "x": 2}"#) && grammar.accepts(b"{}"));
    // Through the front door too, without lenient mode.
    let (_, warnings) = Source::new(Format::JsonSchema, schema).compile(&Config::default()).expect("compiles");
    assert_eq!(warnings.len(), 3);
}

#[test]
fn a_byte_order_mark_starts_a_schema_file() {
    let (_, warnings) =
        compile_json_schema("\u{feff}{\"type\": \"null\"}", &JsonSchemaOptions::default()).expect("BOM");
    assert!(warnings.is_empty());
    // Errors point at the same character as without the mark.
    let text = "{\"type\": nul}";
    let without = compile_json_schema(text, &JsonSchemaOptions::default()).expect_err("not JSON");
    let with = compile_json_schema(&format!("\u{feff}{text}"), &JsonSchemaOptions::default()).expect_err("not JSON");
    let (without, with) = (without.span.expect("located"), with.span.expect("located"));
    assert_eq!((with.start, with.end), (without.start + 3, without.end + 3));
}
