//! `trellis check` with JSON Schema constraints: by extension, by
//! `--format json-schema`, errors naming the JSON pointer, and `--lenient`
//! warnings on stderr.

mod common;

use common::{text, trellis};

const USER: &str = "tests/workloads/schemas/user.schema.json";

#[test]
fn schema_files_are_recognised_by_extension() {
    let valid = trellis(&["check", "--grammar", USER], br#"{"id": 42, "name": "Bo", "email": "bo@x.io"}"#);
    assert_eq!(valid.status.code(), Some(0), "{}{}", text(&valid.stdout), text(&valid.stderr));

    let missing_required = trellis(&["check", "--grammar", USER], br#"{"id": 42, "name": "Bo"}"#);
    assert_eq!(missing_required.status.code(), Some(1), "{}", text(&missing_required.stdout));

    let out_of_range = trellis(&["check", "--grammar", USER], br#"{"id": 0, "name": "Bo", "email": "bo@x.io"}"#);
    assert_eq!(out_of_range.status.code(), Some(1), "{}", text(&out_of_range.stdout));
}

#[test]
fn inline_schemas_need_the_format() {
    let schema = r#"{"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2}"#;
    let accepted = trellis(&["check", "--format", "json-schema", "--grammar-text", schema], br#"["a", "b"]"#);
    assert_eq!(accepted.status.code(), Some(0), "{}{}", text(&accepted.stdout), text(&accepted.stderr));
    let rejected = trellis(&["check", "--format", "json-schema", "--grammar-text", schema], br#"["a", "b", "a"]"#);
    assert_eq!(rejected.status.code(), Some(1));
}

#[test]
fn unenforceable_keywords_fail_or_warn_with_their_pointer() {
    let schema = r#"{"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": true}}}"#;
    let strict = trellis(&["check", "--format", "json-schema", "--grammar-text", schema], br#"{"tags": [1]}"#);
    assert_eq!(strict.status.code(), Some(2));
    let message = text(&strict.stderr);
    assert!(message.contains("#/properties/tags/uniqueItems") && message.contains("--lenient"), "{message}");

    let lenient =
        trellis(&["check", "--format", "json-schema", "--lenient", "--grammar-text", schema], br#"{"tags": [1, 1]}"#);
    assert_eq!(lenient.status.code(), Some(0), "{}", text(&lenient.stderr));
    let warning = text(&lenient.stderr);
    assert!(warning.contains("warning") && warning.contains("#/properties/tags/uniqueItems"), "{warning}");
}

#[test]
fn schemas_that_are_not_json_point_at_the_place() {
    let broken = trellis(&["check", "--format", "json-schema", "--grammar-text", "{\"type\": }"], b"1");
    assert_eq!(broken.status.code(), Some(2));
    let message = text(&broken.stderr);
    assert!(message.contains("1:10") && message.contains("not JSON"), "{message}");
}
