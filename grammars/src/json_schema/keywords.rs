//! The keywords Trellis knows, and warnings for unknown ones that look like
//! typos of them.
//!
//! JSON Schema ignores keywords it does not define, so `{"requried":
//! ["id"]}` validates every object: the typo silently drops a constraint.
//! Trellis follows the specification and ignores the keyword too, but an
//! unknown keyword close to a known one (`requried`, `propeties`,
//! `additionalProperty`) is reported as a [`Warning`] with its JSON pointer
//! and the keyword it probably meant.
//!
//! "Close" is [`closest_name`], the edit distance that also suggests
//! grammar rule names, capped at 2 edits, or 3 for names of 12 characters
//! or more: `additionalProperty` is 3 edits from `additionalProperties`,
//! while `propertyOrder` (a keyword of some editors, 4 edits from
//! `propertyNames`) is left alone.
//!
//! Every schema in the document is checked, whether or not the compiled
//! grammar reaches it (a `$defs` entry nothing references yet is still a
//! trap), by walking the keywords whose values are schemas.

use serde_json::Value;

use super::{Warning, shown, token};
use crate::lower::{closest_name, edit_distance};

/// Every keyword of draft 2020-12 (and the draft-7 spellings Trellis
/// reads), enforced, refused or annotation.
pub(super) const KEYWORDS: &[&str] = &[
    // Core and identifiers.
    "$schema",
    "$id",
    // Draft 4's spelling of `$id`.
    "id",
    "$anchor",
    "$dynamicAnchor",
    "$recursiveAnchor",
    "$vocabulary",
    "$comment",
    "$defs",
    "definitions",
    "$ref",
    "$dynamicRef",
    "$recursiveRef",
    // Applicators.
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "properties",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
    "dependentSchemas",
    "dependencies",
    "prefixItems",
    "items",
    "additionalItems",
    "contains",
    "unevaluatedProperties",
    "unevaluatedItems",
    // Validation.
    "type",
    "enum",
    "const",
    "multipleOf",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minContains",
    "maxContains",
    "minProperties",
    "maxProperties",
    "required",
    "dependentRequired",
    // Annotations and content.
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentMediaType",
    "contentEncoding",
    "contentSchema",
];

/// Warnings for the unknown keywords of `schema` (the document root) that
/// look like typos of known ones, in document order.
pub(super) fn typo_warnings(schema: &Value) -> Vec<Warning> {
    let mut warnings = Vec::new();
    check(schema, "", &mut warnings);
    warnings
}

/// The known keyword `keyword` is probably a typo of, if any.
fn suggestion(keyword: &str) -> Option<&'static str> {
    if KEYWORDS.contains(&keyword) {
        return None;
    }
    let close = closest_name(keyword, KEYWORDS.iter().copied())?;
    let cap = if keyword.chars().count() >= 12 { 3 } else { 2 };
    (edit_distance(keyword, close) <= cap).then_some(close)
}

/// Checks the schema at `pointer` and the schemas inside it. A schema is
/// walked as deep as serde_json parsed it (at most 128 levels).
fn check(schema: &Value, pointer: &str, warnings: &mut Vec<Warning>) {
    let Value::Object(map) = schema else { return };
    for (keyword, value) in map {
        let at = format!("{pointer}/{}", token(keyword));
        if let Some(known) = suggestion(keyword) {
            warnings.push(Warning {
                pointer: shown(&at),
                keyword: keyword.clone(),
                reason: format!(
                    "`{keyword}` is not a JSON Schema keyword, so it is ignored (as JSON Schema says); did you mean `{known}`?"
                ),
            });
        }
        match (keyword.as_str(), value) {
            (
                "additionalProperties"
                | "additionalItems"
                | "items"
                | "not"
                | "if"
                | "then"
                | "else"
                | "contains"
                | "propertyNames"
                | "unevaluatedProperties"
                | "unevaluatedItems"
                | "contentSchema",
                Value::Object(_),
            ) => check(value, &at, warnings),
            ("allOf" | "anyOf" | "oneOf" | "prefixItems" | "items", Value::Array(schemas)) => {
                for (i, schema) in schemas.iter().enumerate() {
                    check(schema, &format!("{at}/{i}"), warnings);
                }
            }
            (
                "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" | "dependencies",
                Value::Object(schemas),
            ) => {
                for (name, schema) in schemas {
                    check(schema, &format!("{at}/{}", token(name)), warnings);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_of_keywords_are_suggested_and_other_names_are_not() {
        for (typo, meant) in [
            ("requried", "required"),
            ("propeties", "properties"),
            ("additionalProperty", "additionalProperties"),
            ("maxLenght", "maxLength"),
            ("minimun", "minimum"),
            ("item", "items"),
        ] {
            assert_eq!(suggestion(typo), Some(meant), "{typo}");
        }
        for name in ["required", "name", "strict", "nullable", "discriminator", "propertyOrder", "x-order"] {
            assert_eq!(suggestion(name), None, "{name}");
        }
    }

    #[test]
    fn every_schema_is_walked_with_its_pointer() {
        let schema: Value = serde_json::from_str(
            r#"{
                "type": "object",
                "propeties": {"a": {}},
                "properties": {"requried": {"type": "string", "maxLenght": 3}, "x/y": {"minimun": 1}},
                "items": [{"formatt": "date"}],
                "$defs": {"unused": {"anyOf": [{"typ": "string"}]}},
                "enum": [{"requried": 1}]
            }"#,
        )
        .expect("JSON");
        let found: Vec<(String, String)> =
            typo_warnings(&schema).into_iter().map(|warning| (warning.pointer, warning.keyword)).collect();
        let expected = [
            ("#/propeties", "propeties"),
            ("#/properties/requried/maxLenght", "maxLenght"),
            ("#/properties/x~1y/minimun", "minimun"),
            ("#/items/0/formatt", "formatt"),
            ("#/$defs/unused/anyOf/0/typ", "typ"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(p, k)| (p.to_string(), k.to_string())).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn the_keywords_the_compiler_reads_are_known() {
        for keyword in KEYWORDS {
            assert_eq!(suggestion(keyword), None);
        }
        for keyword in ["unevaluatedItems", "$dynamicRef"] {
            assert!(super::super::unenforceable(keyword).is_some() && KEYWORDS.contains(&keyword));
        }
        // Enforced through complements (`negate.rs`), still known keywords.
        for keyword in ["not", "if", "then", "else", "contains", "dependentSchemas", "uniqueItems"] {
            assert!(super::super::unenforceable(keyword).is_none() && KEYWORDS.contains(&keyword));
        }
        for keyword in ["title", "$defs", "contentSchema", "$vocabulary", "deprecated"] {
            assert!(super::super::is_annotation(keyword) && KEYWORDS.contains(&keyword));
        }
    }
}
