//! `allOf` by merging: two schemas become one whose keywords enforce both.
//!
//! Most keywords merge by intersection (types, `enum`), by taking the
//! tighter bound (`minimum`, `maxLength`, ...) or by union (`required`).
//! `properties` and `additionalProperties` merge together, because a
//! property declared on one side only is still governed by the other side's
//! `additionalProperties`; `prefixItems` and `items` likewise. Nested schemas
//! are not merged eagerly but wrapped in `{"allOf": [a, b]}`, merged when
//! they are compiled, so that recursive schemas do not unfold forever.
//! Keywords that cannot be intersected as written (two different
//! `pattern`s, two different `format`s) are refused with their pointer.
//!
//! `oneOf` is checked here too: its branches must be provably disjoint.

use serde_json::{Map, Value};

use super::negate::{NOT_IN, NOTS, SOME_KEY, asserts_nothing};
use super::numbers::Decimal;
use super::{Builder, is_annotation};
use crate::error::{ErrorKind, GrammarError};

/// Equality of JSON values as JSON Schema defines it (`1` equals `1.0`).
pub(super) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(key, a)| y.get(key).is_some_and(|b| json_equal(a, b)))
        }
        _ => a == b,
    }
}

fn all_of(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Bool(true), other) | (other, Value::Bool(true)) => other.clone(),
        (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
        (a, b) if a == b => a.clone(),
        (a, b) => serde_json::json!({ "allOf": [a, b] }),
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

const LOWER: [&str; 5] = ["minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"];
const UPPER: [&str; 5] = ["maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"];

impl Builder<'_> {
    /// The schema as a keyword map with `$ref` and `allOf` merged in and
    /// draft-7 array `items` renamed; `None` for the schema `false`.
    pub(super) fn expand(&mut self, schema: &Value, pointer: &str) -> Result<Option<Map<String, Value>>, GrammarError> {
        let mut map = match schema {
            Value::Bool(true) => return Ok(Some(Map::new())),
            Value::Bool(false) => return Ok(None),
            Value::Object(map) => map.clone(),
            _ => return Err(self.error(ErrorKind::Syntax, pointer, "a schema must be an object or a boolean")),
        };
        self.depth += 1;
        if self.depth > super::MAX_DEPTH {
            self.depth -= 1;
            return Err(self.error(ErrorKind::TooLarge, pointer, "`$ref`/`allOf` merging nests too deep"));
        }
        let result = (|| {
            if let Some(target) = map.remove("$ref") {
                let target = self.ref_pointer(&target, pointer)?;
                let resolved = self.resolve(&target);
                if !self.ref_siblings_apply {
                    return self.expand(resolved, pointer);
                }
                let merged = self.merge(resolved, &Value::Object(map), pointer)?;
                return self.expand(&merged, pointer);
            }
            if map.contains_key("dependentSchemas") || map.contains_key("dependencies") {
                let mut rest = map.clone();
                if let Some(cases) = super::negate::dependent_schemas(&mut rest) {
                    let merged = self.merge(&Value::Object(rest), &cases, pointer)?;
                    return self.expand(&merged, pointer);
                }
            }
            if let Some(condition) = super::negate::conditional(&mut map) {
                let merged = self.merge(&Value::Object(map), &condition, pointer)?;
                return self.expand(&merged, pointer);
            }
            if let Some(branches) = map.remove("allOf") {
                let Value::Array(branches) = branches else {
                    return Err(self.error(ErrorKind::Syntax, &format!("{pointer}/allOf"), "`allOf` must be an array"));
                };
                let mut merged = Value::Object(map);
                for (i, branch) in branches.iter().enumerate() {
                    merged = self.merge(&merged, branch, &format!("{pointer}/allOf/{i}"))?;
                }
                return self.expand(&merged, pointer);
            }
            if let Some(Value::Array(items)) = map.get("items").cloned() {
                map.insert("prefixItems".into(), Value::Array(items));
                match map.remove("additionalItems") {
                    Some(rest) => map.insert("items".into(), rest),
                    None => map.remove("items"),
                };
            }
            map.remove("$defs");
            map.remove("definitions");
            Ok(Some(map))
        })();
        self.depth -= 1;
        result
    }

    /// One schema that enforces both `a` and `b` (`pointer` is where the
    /// merge was asked for, for errors).
    pub(super) fn merge(&mut self, a: &Value, b: &Value, pointer: &str) -> Result<Value, GrammarError> {
        // Merging with a schema that asserts nothing keeps the other as
        // written, its `$ref`s unexpanded: recursion stays a rule.
        if asserts_nothing(a) {
            return Ok(b.clone());
        }
        if asserts_nothing(b) {
            return Ok(a.clone());
        }
        let (Some(mut a), Some(b)) = (self.expand(a, pointer)?, self.expand(b, pointer)?) else {
            return Ok(Value::Bool(false));
        };
        let contradiction = |builder: &Builder, keyword: &str, what: &str| {
            builder.error(ErrorKind::EmptyLanguage, pointer, format!("`allOf` is contradictory: {what} (`{keyword}`)"))
        };
        let cannot = |builder: &Builder, keyword: &str| {
            builder.error(
                ErrorKind::Unsupported,
                pointer,
                match keyword.strip_prefix('\0') {
                    // An internal keyword of `negate.rs`.
                    Some(internal) => {
                        format!("two complements (`not`, `oneOf`, `if`) that each need `{internal}` cannot be merged")
                    }
                    None => format!("`allOf` branches with two different `{keyword}` keywords cannot be merged"),
                },
            )
        };
        // Properties and items merge as groups, after the loop.
        let object_group = ["properties", "additionalProperties", "patternProperties"];
        let array_group = ["prefixItems", "items"];
        // Negations of both sides: all must fail (see `negate.rs`).
        let mut negated: Vec<Value> = Vec::new();
        if let Some(inner) = a.remove("not") {
            negated.push(inner);
        }
        if let Some(Value::Array(list)) = a.remove(NOTS) {
            negated.extend(list);
        }
        if let Some(inner) = b.get("not") {
            negated.push(inner.clone());
        }
        if let Some(Value::Array(list)) = b.get(NOTS) {
            negated.extend(list.iter().cloned());
        }
        let mut unique: Vec<Value> = Vec::with_capacity(negated.len());
        for inner in negated {
            if !unique.iter().any(|seen| json_equal(seen, &inner)) {
                unique.push(inner);
            }
        }
        if !unique.is_empty() {
            a.insert(NOTS.to_owned(), Value::Array(unique));
        }
        for (keyword, b_value) in &b {
            if object_group.contains(&keyword.as_str())
                || array_group.contains(&keyword.as_str())
                || keyword == "not"
                || keyword == NOTS
            {
                continue;
            }
            let Some(a_value) = a.get(keyword).cloned() else {
                a.insert(keyword.clone(), b_value.clone());
                continue;
            };
            if is_annotation(keyword) || json_equal(&a_value, b_value) {
                continue;
            }
            let merged = match keyword.as_str() {
                "type" => {
                    let names = |value: &Value| -> Vec<String> {
                        match value {
                            Value::String(name) => vec![name.clone()],
                            Value::Array(names) => names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect(),
                            _ => Vec::new(),
                        }
                    };
                    let (left, right) = (names(&a_value), names(b_value));
                    let mut both = Vec::new();
                    for t in &left {
                        for u in &right {
                            let meet = match (t.as_str(), u.as_str()) {
                                (x, y) if x == y => Some(x),
                                ("integer", "number") | ("number", "integer") => Some("integer"),
                                _ => None,
                            };
                            if let Some(meet) = meet
                                && !both.iter().any(|b: &Value| b == meet)
                            {
                                both.push(Value::String(meet.to_owned()));
                            }
                        }
                    }
                    if both.is_empty() {
                        return Err(contradiction(self, "type", "no type is allowed by both sides"));
                    }
                    Value::Array(both)
                }
                "required" => {
                    let mut names = a_value.as_array().cloned().unwrap_or_default();
                    for name in b_value.as_array().into_iter().flatten() {
                        if !names.contains(name) {
                            names.push(name.clone());
                        }
                    }
                    Value::Array(names)
                }
                "enum" => {
                    let left = a_value.as_array().cloned().unwrap_or_default();
                    let right = b_value.as_array().cloned().unwrap_or_default();
                    Value::Array(left.into_iter().filter(|v| right.iter().any(|w| json_equal(v, w))).collect())
                }
                "const" => return Err(contradiction(self, "const", "two different constants")),
                SOME_KEY => {
                    let mut wanted = a_value.as_array().cloned().unwrap_or_default();
                    for requirement in b_value.as_array().into_iter().flatten() {
                        if !wanted.iter().any(|seen| json_equal(seen, requirement)) {
                            wanted.push(requirement.clone());
                        }
                    }
                    Value::Array(wanted)
                }
                NOT_IN => {
                    let mut names = a_value.as_array().cloned().unwrap_or_default();
                    names.extend(
                        b_value
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|v| !names.contains(v))
                            .cloned()
                            .collect::<Vec<_>>(),
                    );
                    Value::Array(names)
                }
                "uniqueItems" => Value::Bool(true),
                "multipleOf" => match (a_value.as_u64(), b_value.as_u64()) {
                    (Some(x), Some(y)) if x > 0 && y > 0 => Value::from(x / gcd(x, y) * y),
                    _ => return Err(cannot(self, keyword)),
                },
                "anyOf" | "oneOf" => {
                    let (left, right) = (a_value.as_array(), b_value.as_array());
                    let (Some(left), Some(right)) = (left, right) else { return Err(cannot(self, keyword)) };
                    if left.len() * right.len() > 64 {
                        return Err(cannot(self, keyword));
                    }
                    let product: Vec<Value> = left.iter().flat_map(|x| right.iter().map(|y| all_of(x, y))).collect();
                    Value::Array(product)
                }
                k if (LOWER.contains(&k) || UPPER.contains(&k)) && a_value.is_number() && b_value.is_number() => {
                    // Compared exactly: two integers above 2^53 can be
                    // the same double.
                    let exact = |value: &Value| value.as_number().and_then(Decimal::from_number);
                    let pick_a = match (exact(&a_value), exact(b_value)) {
                        (Some(x), Some(y)) if LOWER.contains(&k) => x >= y,
                        (Some(x), Some(y)) => x <= y,
                        _ => true,
                    };
                    if pick_a { a_value.clone() } else { b_value.clone() }
                }
                _ => return Err(cannot(self, keyword)),
            };
            a.insert(keyword.clone(), merged);
        }
        self.merge_properties(&mut a, &b, pointer)?;
        merge_items(&mut a, &b);
        Ok(Value::Object(a))
    }

    fn merge_properties(
        &mut self,
        a: &mut Map<String, Value>,
        b: &Map<String, Value>,
        pointer: &str,
    ) -> Result<(), GrammarError> {
        let has = |map: &Map<String, Value>, keyword: &str| map.contains_key(keyword);
        let object_like = |map: &Map<String, Value>| has(map, "properties") || has(map, "additionalProperties");
        if has(b, "patternProperties") || has(a, "patternProperties") {
            let (left, right) = (has(a, "patternProperties"), has(b, "patternProperties"));
            let conflict = (left && (right || object_like(b))) || (right && object_like(a));
            if conflict {
                return Err(self.error(
                    ErrorKind::Unsupported,
                    pointer,
                    "`allOf` branches mixing `patternProperties` with other property keywords cannot be merged",
                ));
            }
            if let Some(patterns) = b.get("patternProperties") {
                a.insert("patternProperties".into(), patterns.clone());
            }
        }
        if !object_like(b) {
            return Ok(());
        }
        let empty = Map::new();
        let left = a.get("properties").and_then(Value::as_object).unwrap_or(&empty).clone();
        let right = b.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let left_rest = a.get("additionalProperties").cloned();
        let right_rest = b.get("additionalProperties").cloned();
        let mut merged = Map::new();
        let names = left.keys().chain(right.keys().filter(|name| !left.contains_key(*name)));
        for name in names {
            let x = left.get(name).or(left_rest.as_ref());
            let y = right.get(name).or(right_rest.as_ref());
            let schema = match (x, y) {
                (Some(x), Some(y)) => all_of(x, y),
                (Some(x), None) | (None, Some(x)) => x.clone(),
                (None, None) => Value::Bool(true),
            };
            merged.insert(name.clone(), schema);
        }
        a.insert("properties".into(), Value::Object(merged));
        match (left_rest, right_rest) {
            (Some(x), Some(y)) => a.insert("additionalProperties".into(), all_of(&x, &y)),
            (None, Some(y)) => a.insert("additionalProperties".into(), y),
            _ => None,
        };
        Ok(())
    }

    /// For each (merged) branch of a `oneOf`, the other branches that may
    /// overlap it: those not provably disjoint from it.
    pub(super) fn overlaps(&mut self, branches: &[Value], pointer: &str) -> Result<Vec<Vec<usize>>, GrammarError> {
        let mut shapes = Vec::with_capacity(branches.len());
        for (i, branch) in branches.iter().enumerate() {
            shapes.push(self.shape(branch, &format!("{pointer}/{i}"))?);
        }
        let mut overlaps = vec![Vec::new(); shapes.len()];
        for i in 0..shapes.len() {
            for j in i + 1..shapes.len() {
                if !shapes[i].disjoint(&shapes[j]) {
                    overlaps[i].push(j);
                    overlaps[j].push(i);
                }
            }
        }
        Ok(overlaps)
    }

    fn shape(&mut self, schema: &Value, pointer: &str) -> Result<Shape, GrammarError> {
        let Some(map) = self.expand(schema, pointer)? else { return Ok(Shape::nothing()) };
        let values = match (map.get("const"), map.get("enum")) {
            (Some(value), _) => Some(vec![value.clone()]),
            (None, Some(Value::Array(values))) => Some(values.clone()),
            _ => None,
        };
        let types = match &values {
            Some(values) => values
                .iter()
                .map(|v| super::ALL_TYPES.iter().find(|t| super::has_type(v, t)).map_or("", |t| t))
                .collect(),
            None => self.types(&map, pointer)?.iter().map(|t| leak_type(t)).collect(),
        };
        let mut discriminators = Vec::new();
        let required: Vec<&str> =
            map.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let properties = map.get("properties").and_then(Value::as_object);
        // Names no object of this schema has: declared `false`, or not
        // declared where no other key is allowed.
        let closed =
            map.get("additionalProperties") == Some(&Value::Bool(false)) && !map.contains_key("patternProperties");
        let forbidden = Forbidden {
            declared_false: properties
                .into_iter()
                .flatten()
                .filter(|(_, schema)| **schema == Value::Bool(false))
                .map(|(name, _)| name.clone())
                .collect(),
            closed_to_others: closed.then(|| properties.into_iter().flatten().map(|(name, _)| name.clone()).collect()),
        };
        let required_names: Vec<String> = required.iter().map(|name| (*name).to_owned()).collect();
        if let Some(properties) = properties {
            for name in required {
                if let Some(property) = properties.get(name) {
                    let shape = self.shape(property, &format!("{pointer}/properties/{}", super::token(name)))?;
                    if let Some(values) = shape.values {
                        discriminators.push((name.to_owned(), values));
                    }
                }
            }
        }
        Ok(Shape { types, values, discriminators, required: required_names, forbidden })
    }
}

fn leak_type(name: &str) -> &'static str {
    match name {
        "null" => "null",
        "boolean" => "boolean",
        "object" => "object",
        "array" => "array",
        "string" => "string",
        "integer" => "integer",
        _ => "number",
    }
}

/// What a `oneOf` branch can match, coarsely: enough to prove disjointness.
struct Shape {
    types: Vec<&'static str>,
    values: Option<Vec<Value>>,
    /// Required properties with a fixed set of values.
    discriminators: Vec<(String, Vec<Value>)>,
    required: Vec<String>,
    forbidden: Forbidden,
}

/// The property names an object schema forbids.
#[derive(Default)]
struct Forbidden {
    /// Declared with the schema `false`.
    declared_false: Vec<String>,
    /// With `additionalProperties: false` (and no patterns): every name but
    /// these.
    closed_to_others: Option<Vec<String>>,
}

impl Forbidden {
    fn forbids(&self, name: &str) -> bool {
        self.declared_false.iter().any(|n| n == name)
            || self.closed_to_others.as_ref().is_some_and(|declared| !declared.iter().any(|n| n == name))
    }
}

impl Shape {
    fn nothing() -> Shape {
        Shape {
            types: Vec::new(),
            values: Some(Vec::new()),
            discriminators: Vec::new(),
            required: Vec::new(),
            forbidden: Forbidden::default(),
        }
    }

    fn disjoint(&self, other: &Shape) -> bool {
        let types_meet = self.types.iter().any(|t| {
            other.types.iter().any(|u| t == u || matches!((*t, *u), ("integer", "number") | ("number", "integer")))
        });
        if !types_meet {
            return true;
        }
        if let (Some(x), Some(y)) = (&self.values, &other.values)
            && !x.iter().any(|v| y.iter().any(|w| json_equal(v, w)))
        {
            return true;
        }
        // Only objects can meet now when one side is an object schema
        // with a required name the other forbids.
        let only_objects = |shape: &Shape| shape.types.iter().all(|t| *t == "object");
        if (only_objects(self) || only_objects(other))
            && (self.required.iter().any(|name| other.forbidden.forbids(name))
                || other.required.iter().any(|name| self.forbidden.forbids(name)))
        {
            return true;
        }
        self.discriminators.iter().any(|(name, x)| {
            other
                .discriminators
                .iter()
                .any(|(other_name, y)| name == other_name && !x.iter().any(|v| y.iter().any(|w| json_equal(v, w))))
        })
    }
}

/// Merges `prefixItems`/`items` of `b` into `a`: position `i` must satisfy
/// both sides' schema for that position.
fn merge_items(a: &mut Map<String, Value>, b: &Map<String, Value>) {
    if !b.contains_key("prefixItems") && !b.contains_key("items") {
        return;
    }
    let prefix =
        |map: &Map<String, Value>| map.get("prefixItems").and_then(Value::as_array).cloned().unwrap_or_default();
    let (left, right) = (prefix(a), prefix(b));
    let (left_rest, right_rest) = (a.get("items").cloned(), b.get("items").cloned());
    let at = |items: &[Value], rest: &Option<Value>, i: usize| items.get(i).cloned().or_else(|| rest.clone());
    let length = left.len().max(right.len());
    let merged: Vec<Value> = (0..length)
        .map(|i| match (at(&left, &left_rest, i), at(&right, &right_rest, i)) {
            (Some(x), Some(y)) => all_of(&x, &y),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => Value::Bool(true),
        })
        .collect();
    if length > 0 {
        a.insert("prefixItems".into(), Value::Array(merged));
    }
    match (left_rest, right_rest) {
        (Some(x), Some(y)) => a.insert("items".into(), all_of(&x, &y)),
        (None, Some(y)) => a.insert("items".into(), y),
        _ => None,
    };
}
