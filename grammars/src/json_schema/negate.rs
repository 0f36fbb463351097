//! `not`, and the complements behind overlapping `oneOf` and
//! `if`/`then`/`else`.
//!
//! A grammar has no complement operator, but a JSON Schema's complement is
//! again a union of schemas wherever each keyword's is: a value fails a
//! schema when it has a type the schema does not allow, or has an allowed
//! type and fails one of that type's keywords (draft 2020-12 §7.6.1: the
//! assertions of a schema are a conjunction, so the complement is the union
//! of their complements, by De Morgan). Most keywords have a complement
//! that is one more keyword: `minimum: 5` fails exactly on
//! `exclusiveMaximum: 5`, `required: ["a"]` on `properties: {"a": false}`,
//! `maxItems: 3` on `minItems: 4`, an `enum` of numbers on the open
//! intervals between them. Applicators complement lazily: a failing
//! `properties: {"p": P}` is `p` present with a value of `{"not": P}`,
//! compiled when that property is, so recursive schemas stay finite rules;
//! `anyOf` fails when every branch does (all of them negated), `not: X`
//! when `X` holds.
//!
//! So `{"not": X}` beside other keywords `R` compiles as the union, over the
//! branches `Bᵢ` of `X`'s complement, of `R` merged with `Bᵢ`. Several
//! negations in one schema (two `not`s merged by `allOf`, the other
//! branches of a `oneOf`) are kept as one list under [`NOTS`] and taken one
//! at a time, so that a branch contradicting `R` is dropped before the next
//! negation multiplies it.
//!
//! Each complement is a *subset* of the true complement (never more), so
//! the compiled language stays sound: where a branch is spelled narrower
//! than JSON allows (strings written one way per character, bounded numbers
//! without exponent, as elsewhere in this module) valid documents are left
//! out, never invalid ones let in. Complements that are not regular or
//! not known here (`pattern`, `format`, `multipleOf`, `uniqueItems`,
//! `additionalProperties` schemas, ...) are refused with the pointer of the
//! keyword.
//!
//! Five keywords are internal, written where no schema can write them
//! (their names start with a NUL character): [`NOTS`], [`NOT_INTEGER`] (a
//! number with a fractional part), [`NOT_IN`] (a string other than the
//! listed ones), [`SOME_KEY`] (a member outside the listed names) and
//! [`SOME_ITEM`] (an item past the prefix that satisfies a schema).

use serde_json::{Map, Value, json};

use super::numbers::Decimal;
use super::{
    ALL_TYPES, Builder, NEGATION_BUDGET, alt, canonical, formats, has_type, is_annotation, never, reference, rule,
    token,
};
use crate::ebnf::{Expr, ExprKind};
use crate::error::{ErrorKind, GrammarError};
use crate::span::Span;

/// Schemas every one of which the value must fail (a list of `not`s).
pub(super) const NOTS: &str = "\u{0}nots";
/// `true`: the number has a nonzero fractional part (the complement of
/// `type: integer` among numbers).
pub(super) const NOT_INTEGER: &str = "\u{0}notInteger";
/// A list of strings: the string is none of them (the complement of a
/// string `enum`).
pub(super) const NOT_IN: &str = "\u{0}notIn";

/// A list of `{"outside": [names], "schema": S}`: for each, some member has
/// a key outside the names and a value of `S` (the complement of
/// `additionalProperties`).
pub(super) const SOME_KEY: &str = "\u{0}someKey";

/// `{"from": k, "schema": S}`: some item at position `k` or later
/// satisfies `S` (the complement of `items` after `k` prefix items).
pub(super) const SOME_ITEM: &str = "\u{0}someItem";

/// A complement as a union of schemas, or why it cannot be written (a
/// message naming the keyword and its pointer).
pub(super) type Complement = Result<Vec<Value>, String>;

/// Whether a schema asserts nothing: `true`, or only annotations.
pub(super) fn asserts_nothing(schema: &Value) -> bool {
    match schema {
        Value::Bool(value) => *value,
        Value::Object(map) => map.keys().all(|keyword| is_annotation(keyword)),
        _ => false,
    }
}

/// The `anyOf` an `if`/`then`/`else` stands for, `(if ∧ then) ∨ (¬if ∧
/// else)` (draft 2020-12 §10.2.2.1-3), with the three keywords removed from
/// `map`. `None` when there is nothing to enforce: `then`/`else` without
/// `if`, or `if` alone, have no effect on validity.
pub(super) fn conditional(map: &mut Map<String, Value>) -> Option<Value> {
    let condition = map.remove("if");
    let then = map.remove("then");
    let otherwise = map.remove("else");
    let condition = condition?;
    if then.is_none() && otherwise.is_none() {
        return None;
    }
    let then = then.unwrap_or(Value::Bool(true));
    let otherwise = otherwise.unwrap_or(Value::Bool(true));
    Some(json!({"anyOf": [{"allOf": [condition, then]}, {"allOf": [{"not": condition}, otherwise]}]}))
}

/// The schemas `dependentSchemas` (and the schema values of draft-7
/// `dependencies`) stand for, removed from `map`: for each trigger `t` with
/// schema `S`, an object without `t`, or one with `t` that satisfies `S`
/// (draft 2020-12 §10.2.2.4); non-objects satisfy the first. `None` when
/// there are none.
pub(super) fn dependent_schemas(map: &mut Map<String, Value>) -> Option<Value> {
    let mut cases = Vec::new();
    if let Some(Value::Object(entries)) = map.remove("dependentSchemas") {
        cases.extend(entries);
    }
    if let Some(Value::Object(mut entries)) = map.remove("dependencies") {
        let schemas: Vec<String> = entries.iter().filter(|(_, v)| !v.is_array()).map(|(k, _)| k.clone()).collect();
        for trigger in schemas {
            if let Some(schema) = entries.remove(&trigger) {
                cases.push((trigger, schema));
            }
        }
        if !entries.is_empty() {
            map.insert("dependencies".to_owned(), Value::Object(entries));
        }
    }
    if cases.is_empty() {
        return None;
    }
    let all: Vec<Value> = cases
        .into_iter()
        .filter(|(_, schema)| !asserts_nothing(schema))
        .map(|(trigger, schema)| {
            json!({"anyOf": [
                { "properties": { &trigger: false } },
                { "type": "object", "required": [&trigger], "allOf": [schema] }
            ]})
        })
        .collect();
    Some(json!({ "allOf": all }))
}

/// At most this many pairs of `oneOf` branches in one complement (each is a
/// branch of the union: "two of them hold").
const MAX_ONE_OF_PAIRS: usize = 64;

impl Builder<'_> {
    /// The complement of `schema` as a union of schemas (see the module
    /// docs); `pointer` is the schema's, for messages.
    pub(super) fn complement(&mut self, schema: &Value, pointer: &str) -> Result<Complement, GrammarError> {
        let Some(map) = self.expand(schema, pointer)? else { return Ok(Ok(vec![Value::Bool(true)])) };
        let mut out = Vec::new();
        let refuse = |keyword: &str, why: &str| -> Complement {
            Err(format!("the complement of `{keyword}` at #{pointer}/{} {why}", token(keyword)))
        };
        // Applicators (`$ref` and `allOf` were merged in by `expand`, and
        // `if`/`then`/`else` rewritten to an `anyOf`).
        if let Some(inner) = map.get("not") {
            out.push(inner.clone());
        }
        if let Some(Value::Array(negated)) = map.get(NOTS) {
            out.extend(negated.iter().cloned());
        }
        for keyword in ["anyOf", "oneOf"] {
            let Some(branches) = map.get(keyword) else { continue };
            let Some(branches) = branches.as_array() else {
                return Err(self.error(
                    ErrorKind::Syntax,
                    &format!("{pointer}/{keyword}"),
                    format!("`{keyword}` must be an array"),
                ));
            };
            // None holds; for `oneOf` also: two hold.
            out.push(json!({ NOTS: branches }));
            if keyword == "oneOf" {
                let pairs = branches.len() * branches.len().saturating_sub(1) / 2;
                if pairs > MAX_ONE_OF_PAIRS {
                    return Ok(refuse(keyword, &format!("has more than {MAX_ONE_OF_PAIRS} pairs of branches")));
                }
                for i in 0..branches.len() {
                    for j in i + 1..branches.len() {
                        out.push(json!({"allOf": [branches[i], branches[j]]}));
                    }
                }
            }
        }
        let types = match self.types(&map, pointer) {
            Ok(types) => types,
            // No type allowed: everything fails the schema.
            Err(error) if error.kind == ErrorKind::EmptyLanguage => return Ok(Ok(vec![Value::Bool(true)])),
            Err(error) => return Err(error),
        };
        let values: Option<Vec<Value>> = match (map.get("enum"), map.get("const")) {
            (Some(Value::Array(values)), Some(constant)) => {
                Some(values.iter().filter(|value| super::merge::json_equal(value, constant)).cloned().collect())
            }
            (Some(Value::Array(values)), None) => Some(values.clone()),
            (None, Some(constant)) => Some(vec![constant.clone()]),
            (Some(_), _) => {
                return Err(self.error(ErrorKind::Syntax, &format!("{pointer}/enum"), "`enum` must be an array"));
            }
            (None, None) => None,
        };
        for kind in ALL_TYPES {
            let allowed = types.iter().any(|t| t == kind || (kind == "number" && t == "integer"));
            let listed: Option<Vec<&Value>> =
                values.as_ref().map(|values| values.iter().filter(|value| has_type(value, kind)).collect());
            if !allowed || listed.as_ref().is_some_and(Vec::is_empty) {
                out.push(json!({ "type": kind }));
                continue;
            }
            if let Some(listed) = listed {
                match complement_of_values(kind, &listed) {
                    Ok(branches) => out.extend(branches),
                    Err(why) => return Ok(refuse("enum", &why)),
                }
            }
            if kind == "number" && !types.iter().any(|t| t == "number") {
                out.push(json!({ "type": "number", NOT_INTEGER: true }));
            }
        }
        let allows = |kind: &str| types.iter().any(|t| t == kind || (kind == "number" && t == "integer"));
        for (keyword, value) in &map {
            let number = |value: &Value| value.is_number();
            let count = |value: &Value| value.as_u64();
            let branches: Vec<Value> = match keyword.as_str() {
                "type" | "enum" | "const" | "not" | "anyOf" | "oneOf" => continue,
                k if k == NOTS => continue,
                k if is_annotation(k) => continue,
                // Bounds (draft 4's boolean exclusive forms included).
                "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" if !allows("number") => continue,
                "minimum" if number(value) => {
                    let strict = map.get("exclusiveMinimum") == Some(&Value::Bool(true));
                    let bound = if strict { "maximum" } else { "exclusiveMaximum" };
                    vec![json!({ "type": "number", bound: value })]
                }
                "maximum" if number(value) => {
                    let strict = map.get("exclusiveMaximum") == Some(&Value::Bool(true));
                    let bound = if strict { "minimum" } else { "exclusiveMinimum" };
                    vec![json!({ "type": "number", bound: value })]
                }
                "exclusiveMinimum" if number(value) => vec![json!({ "type": "number", "maximum": value })],
                "exclusiveMaximum" if number(value) => vec![json!({ "type": "number", "minimum": value })],
                "exclusiveMinimum" | "exclusiveMaximum" if value.is_boolean() => continue,
                k if k == NOT_INTEGER => {
                    if allows("number") {
                        vec![json!({ "type": "integer" })]
                    } else {
                        Vec::new()
                    }
                }
                "minLength" | "maxLength" | "pattern" | "format" | NOT_IN if !allows("string") => continue,
                "minLength" => match count(value) {
                    Some(0) => Vec::new(),
                    Some(n) => vec![json!({ "type": "string", "maxLength": n - 1 })],
                    None => return Ok(refuse(keyword, "needs a non-negative integer")),
                },
                "maxLength" => match count(value) {
                    Some(n) => vec![json!({ "type": "string", "minLength": n + 1 })],
                    None => return Ok(refuse(keyword, "needs a non-negative integer")),
                },
                "format" => {
                    let name = value.as_str().unwrap_or_default();
                    if formats::format_regex(name).is_some() || formats::is_defined(name) {
                        return Ok(refuse(keyword, "is not a language Trellis can write"));
                    }
                    // A format JSON Schema does not define asserts nothing.
                    Vec::new()
                }
                k if k == NOT_IN => vec![json!({ "type": "string", "enum": value })],
                "minItems" | "maxItems" | "prefixItems" | "items" | "contains" | "minContains" | "maxContains"
                | "uniqueItems"
                    if !allows("array") =>
                {
                    continue;
                }
                "minItems" => match count(value) {
                    Some(0) => Vec::new(),
                    Some(n) => vec![json!({ "type": "array", "maxItems": n - 1 })],
                    None => return Ok(refuse(keyword, "needs a non-negative integer")),
                },
                "maxItems" => match count(value) {
                    Some(n) => vec![json!({ "type": "array", "minItems": n + 1 })],
                    None => return Ok(refuse(keyword, "needs a non-negative integer")),
                },
                "prefixItems" => {
                    let Some(items) = value.as_array() else { return Ok(refuse(keyword, "needs an array")) };
                    let mut branches = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        if asserts_nothing(item) {
                            continue;
                        }
                        let mut positions = vec![Value::Bool(true); i];
                        positions.push(json!({ "not": item }));
                        branches.push(json!({ "type": "array", "minItems": i + 1, "prefixItems": positions }));
                    }
                    branches
                }
                "items" => {
                    let leading = map.get("prefixItems").and_then(Value::as_array).map_or(0, Vec::len);
                    if asserts_nothing(value) {
                        Vec::new()
                    } else if value == &Value::Bool(false) {
                        vec![json!({ "type": "array", "minItems": leading + 1 })]
                    } else {
                        // Some item past the prefix fails it.
                        let positions = vec![Value::Bool(true); leading];
                        let some = json!({ "from": leading, "schema": { "not": value } });
                        vec![json!({ "type": "array", "prefixItems": positions, SOME_ITEM: some })]
                    }
                }
                "minContains" | "maxContains" => continue,
                "contains" => {
                    let least = map.get("minContains").and_then(Value::as_u64).unwrap_or(1);
                    if map.contains_key("maxContains") || least > 1 {
                        return Ok(refuse(keyword, "with `minContains` above 1 or `maxContains` is not supported"));
                    }
                    if least == 0 {
                        Vec::new()
                    } else {
                        // No item satisfies it.
                        vec![json!({ "type": "array", "items": { "not": value } })]
                    }
                }
                "uniqueItems" if value == &Value::Bool(false) => Vec::new(),
                "uniqueItems" => return Ok(refuse(keyword, "(an array with a repeated item) is not context-free")),
                "required"
                | "properties"
                | "additionalProperties"
                | "minProperties"
                | "maxProperties"
                | "dependentRequired"
                | "dependencies"
                | "patternProperties"
                | "propertyNames"
                    if !allows("object") =>
                {
                    continue;
                }
                "required" => {
                    let names = value.as_array().into_iter().flatten().filter_map(Value::as_str);
                    names.map(|name| json!({ "type": "object", "properties": { name: false } })).collect()
                }
                "properties" => {
                    let Some(properties) = value.as_object() else { return Ok(refuse(keyword, "needs an object")) };
                    properties
                        .iter()
                        .filter(|(_, schema)| !asserts_nothing(schema))
                        .map(|(name, schema)| {
                            json!({ "type": "object", "required": [name], "properties": { name: { "not": schema } } })
                        })
                        .collect()
                }
                "additionalProperties" if asserts_nothing(value) => Vec::new(),
                "additionalProperties" if map.contains_key("patternProperties") => {
                    return Ok(refuse(keyword, "beside `patternProperties` is not supported"));
                }
                "additionalProperties" => {
                    // Some key outside `properties` (§10.3.2.3) whose value
                    // fails it; any value, for `false`.
                    let declared: Vec<&String> = map
                        .get("properties")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| k)
                        .collect();
                    let schema = if value == &Value::Bool(false) { Value::Bool(true) } else { json!({ "not": value }) };
                    vec![json!({ "type": "object", SOME_KEY: [{ "outside": declared, "schema": schema }] })]
                }
                "minProperties" => match count(value) {
                    Some(0) => Vec::new(),
                    Some(n) => vec![json!({ "type": "object", "maxProperties": n - 1 })],
                    None => return Ok(refuse(keyword, "needs a non-negative integer")),
                },
                "maxProperties" => match count(value) {
                    Some(n) => vec![json!({ "type": "object", "minProperties": n + 1 })],
                    None => return Ok(refuse(keyword, "needs a non-negative integer")),
                },
                "dependentRequired" | "dependencies" => {
                    let Some(entries) = value.as_object() else { return Ok(refuse(keyword, "needs an object")) };
                    let mut branches = Vec::new();
                    for (trigger, dependents) in entries {
                        let Some(dependents) = dependents.as_array() else {
                            return Ok(refuse(keyword, "with a schema is not supported"));
                        };
                        for name in dependents.iter().filter_map(Value::as_str).filter(|name| name != trigger) {
                            branches.push(
                                json!({ "type": "object", "required": [trigger], "properties": { name: false } }),
                            );
                        }
                    }
                    branches
                }
                _ => return Ok(refuse(keyword, "is not supported")),
            };
            out.extend(branches);
        }
        Ok(Ok(out))
    }
}

/// The values of type `kind` not among `listed` (all of type `kind`), as a
/// union of schemas.
fn complement_of_values(kind: &str, listed: &[&Value]) -> Result<Vec<Value>, String> {
    Ok(match kind {
        "null" => Vec::new(),
        "boolean" => [true, false]
            .into_iter()
            .filter(|b| !listed.contains(&&Value::Bool(*b)))
            .map(|b| json!({ "const": b }))
            .collect(),
        "number" => {
            // The open intervals around the values, in order.
            let mut numbers: Vec<(Decimal, &Value)> = Vec::new();
            for value in listed {
                let Some(decimal) = value.as_number().and_then(Decimal::from_number) else {
                    return Err("(a number too precise for a decimal) is not supported".to_owned());
                };
                numbers.push((decimal, value));
            }
            numbers.sort_by(|a, b| a.0.cmp(&b.0));
            numbers.dedup_by(|a, b| a.0 == b.0);
            let mut branches = Vec::with_capacity(numbers.len() + 1);
            let mut below: Option<&Value> = None;
            for (_, value) in &numbers {
                branches.push(match below {
                    None => json!({ "type": "number", "exclusiveMaximum": value }),
                    Some(low) => json!({ "type": "number", "exclusiveMinimum": low, "exclusiveMaximum": value }),
                });
                below = Some(value);
            }
            if let Some(low) = below {
                branches.push(json!({ "type": "number", "exclusiveMinimum": low }));
            }
            branches
        }
        "string" => vec![json!({ "type": "string", NOT_IN: listed })],
        // Only the empty container has a complement as one keyword.
        "array" if listed.iter().all(|value| value.as_array().is_some_and(Vec::is_empty)) => {
            vec![json!({ "type": "array", "minItems": 1 })]
        }
        "object" if listed.iter().all(|value| value.as_object().is_some_and(Map::is_empty)) => {
            vec![json!({ "type": "object", "minProperties": 1 })]
        }
        _ => return Err(format!("(a {kind} other than the listed ones) is not supported")),
    })
}

impl Builder<'_> {
    /// The expression for a schema with `not` (or [`NOTS`]): the union,
    /// over the branches of the first negated schema's complement, of the
    /// rest merged with the branch (the other negations still in it).
    pub(super) fn negation(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Expr, GrammarError> {
        let key = canonical(&Value::Object(map.clone()));
        if let Some(name) = self.negations.get(&key) {
            return Ok(reference(name));
        }
        let name = self.fresh_name(&format!("{pointer}-not"));
        self.negations.insert(key, name.clone());
        let index = self.rules.len();
        self.rules.push(rule(&name, Expr::new(ExprKind::Empty, Span::default())));
        let body = self.negation_body(map, pointer);
        self.rules[index].body = body.as_ref().map_or_else(|_| never(), Clone::clone);
        body?;
        Ok(reference(&name))
    }

    fn negation_body(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Expr, GrammarError> {
        let mut rest = map.clone();
        let mut negated: Vec<(Value, String)> = Vec::new();
        if let Some(inner) = rest.remove("not") {
            negated.push((inner, format!("{pointer}/not")));
        }
        if let Some(list) = rest.remove(NOTS) {
            negated.extend(list.as_array().into_iter().flatten().map(|inner| (inner.clone(), pointer.to_owned())));
        }
        if negated.is_empty() {
            return self.schema(&Value::Object(rest), pointer);
        }
        let (first, first_at) = negated.remove(0);
        if !negated.is_empty() {
            rest.insert(NOTS.to_owned(), Value::Array(negated.into_iter().map(|(inner, _)| inner).collect()));
        }
        let branches = match self.complement(&first, &first_at)? {
            Ok(branches) => branches,
            Err(reason) => {
                // Lenient: the negation is dropped, which widens.
                self.unsupported(pointer, "not", &reason)?;
                vec![Value::Bool(true)]
            }
        };
        if branches.len() > self.negation_budget {
            self.unsupported(
                pointer,
                "not",
                &format!("the complement of this schema takes more than {NEGATION_BUDGET} cases in all"),
            )?;
            return self.schema(&Value::Object(rest), pointer);
        }
        self.negation_budget -= branches.len();
        let rest = Value::Object(rest);
        let mut alternatives = Vec::with_capacity(branches.len());
        let mut contradiction = None;
        for branch in &branches {
            let result = match self.merge(&rest, branch, pointer) {
                Ok(merged) => self.merged_rule(&merged, pointer),
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
        if alternatives.is_empty() {
            return Err(contradiction.unwrap_or_else(|| {
                self.error(ErrorKind::EmptyLanguage, pointer, "no value satisfies the schema beside `not`")
            }));
        }
        Ok(alt(alternatives))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Format;
    use crate::tables::CompiledGrammar;

    fn grammar(schema: &str) -> CompiledGrammar {
        CompiledGrammar::new(schema, Format::JsonSchema).unwrap_or_else(|error| panic!("{schema}: {error}"))
    }

    #[test]
    fn conditionals_without_if_enforce_nothing() {
        let mut map = json!({"then": {"type": "string"}, "else": false}).as_object().cloned().unwrap_or_default();
        assert_eq!(conditional(&mut map), None);
        assert!(map.is_empty(), "`then`/`else` are removed with no effect");
        let mut alone = json!({"if": {"type": "string"}}).as_object().cloned().unwrap_or_default();
        assert_eq!(conditional(&mut alone), None);
    }

    #[test]
    fn the_complement_of_numbers_is_the_open_intervals_around_them() {
        let listed = [json!(3), json!(1), json!(1.0)];
        let listed: Vec<&Value> = listed.iter().collect();
        let branches = complement_of_values("number", &listed).unwrap_or_default();
        assert_eq!(
            branches,
            vec![
                json!({"type": "number", "exclusiveMaximum": 1}),
                json!({"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 3}),
                json!({"type": "number", "exclusiveMinimum": 3}),
            ]
        );
    }

    #[test]
    fn a_complement_is_a_union_of_schemas_per_type_and_keyword() {
        let root = json!({});
        let mut builder = Builder::new(&root, super::super::JsonSchemaOptions::default());
        let schema = json!({"type": "object", "required": ["a"], "properties": {"b": {"type": "integer"}}});
        let branches = builder.complement(&schema, "").ok().and_then(Result::ok).unwrap_or_default();
        for kind in ["null", "boolean", "array", "string", "number"] {
            assert!(branches.contains(&json!({"type": kind})), "every other type: {kind}");
        }
        assert!(branches.contains(&json!({"type": "object", "properties": {"a": false}})));
        assert!(branches.contains(
            &json!({"type": "object", "required": ["b"], "properties": {"b": {"not": {"type": "integer"}}}})
        ));
        let refused = builder.complement(&json!({"pattern": "^a"}), "/x").ok().and_then(Result::err);
        assert!(refused.is_some_and(|reason| reason.contains("`pattern` at #/x/pattern")));
    }

    #[test]
    fn not_of_a_recursive_schema_is_a_finite_grammar() {
        // A tree of integers, and its complement among trees' shapes.
        let schema = r##"{
            "$defs": {"tree": {"type": "object", "properties": {"value": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}, "required": ["value"], "additionalProperties": false}},
            "type": "object",
            "not": {"$ref": "#/$defs/tree"},
            "properties": {"value": {}, "kids": {}}
        }"##;
        let grammar = grammar(schema);
        assert!(grammar.accepts(br#"{"value": "x"}"#));
        assert!(grammar.accepts(br#"{"kids": []}"#));
        assert!(grammar.accepts(br#"{"value": 1, "kids": [{"value": 1.5}]}"#));
        assert!(!grammar.accepts(br#"{"value": 1}"#));
        assert!(!grammar.accepts(br#"{"value": 1, "kids": [{"value": 2}]}"#));
    }
}
