//! `uniqueItems: true` over a finite item domain.
//!
//! A context-free grammar cannot compare two arbitrary items, but when the
//! items can only take finitely many values (an `enum` or `const`, `boolean`,
//! `null`), an array of distinct items is a walk through the subsets of the
//! values used so far: one rule per subset, each continuing with a value
//! not in it. The rules grow with the number of subsets of at most
//! `maxItems` values, so the domain is bounded by [`MAX_SUBSETS`]; beyond it,
//! and for infinite domains, `uniqueItems` is refused.

use hashbrown::HashMap;
use serde_json::{Map, Value};

use super::merge::json_equal;
use super::{Builder, alt, expr, has_type, is_annotation, lit, reference, rule, seq};
use crate::ebnf::{Expr, ExprKind};
use crate::error::GrammarError;

/// Most rules (subsets of the item domain) one array of unique items takes.
const MAX_SUBSETS: usize = 4096;

impl Builder<'_> {
    /// The array of distinct items for an items schema with a finite
    /// domain, counts `min..=max`; `Err` with the reason it is refused.
    pub(super) fn unique_array(
        &mut self,
        items: Option<&Value>,
        min: u32,
        max: Option<u32>,
        pointer: &str,
    ) -> Result<Result<Expr, String>, GrammarError> {
        let Some(items) = items else { return Ok(Err("the items can be any JSON value".to_owned())) };
        let Some(map) = self.expand(items, pointer)? else {
            // No item is allowed: only the empty array.
            return Ok(Ok(if min == 0 { seq(vec![self.open("["), lit("]")]) } else { super::never() }));
        };
        let Some(values) = self.item_domain(&map, pointer)? else {
            return Ok(Err("the items can take infinitely many values (only `enum`, `const`, `boolean` and \
                           `null` items are finite)"
                .to_owned()));
        };
        let mut domain: Vec<Value> = Vec::with_capacity(values.len());
        for value in values {
            if !domain.iter().any(|seen| json_equal(seen, &value)) {
                domain.push(value);
            }
        }
        let longest = max.map_or(domain.len(), |max| (max as usize).min(domain.len()));
        let subsets: usize = (0..=longest).map(|k| binomial(domain.len(), k)).sum();
        if subsets > MAX_SUBSETS || domain.len() > 63 {
            return Ok(Err(format!(
                "{} item values make {subsets} subsets, more than the {MAX_SUBSETS} rules allowed",
                domain.len()
            )));
        }
        let values: Vec<Expr> = domain.iter().map(|value| self.value_expr(value)).collect();
        let prefix = self.fresh_name(&format!("{pointer}-unique"));
        let mut names: HashMap<u64, Option<String>> = HashMap::new();
        let first = UniqueRules { values: &values, min, longest, prefix: &prefix };
        let mut alternatives = Vec::new();
        if min == 0 {
            alternatives.push(seq(vec![self.open("["), lit("]")]));
        }
        let mut starts = Vec::new();
        for (i, value) in values.iter().enumerate() {
            if let Some(rest) = first.state(self, &mut names, 1 << i) {
                starts.push(seq(vec![value.clone(), rest]));
            }
        }
        if !starts.is_empty() {
            alternatives.push(seq(vec![self.open("["), alt(starts), self.close("]")]));
        }
        Ok(Ok(alt(alternatives)))
    }

    /// The values an items schema allows when they are finitely many.
    fn item_domain(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Option<Vec<Value>>, GrammarError> {
        if map.keys().any(|key| !is_annotation(key) && !matches!(key.as_str(), "type" | "enum" | "const")) {
            return Ok(None);
        }
        let types = self.types(map, pointer)?;
        let allowed =
            |value: &Value| types.iter().any(|t| has_type(value, t) || (t == "number" && has_type(value, "integer")));
        let listed: Option<Vec<Value>> = match (map.get("enum"), map.get("const")) {
            (Some(Value::Array(values)), Some(constant)) => {
                Some(values.iter().filter(|value| json_equal(value, constant)).cloned().collect())
            }
            (Some(Value::Array(values)), None) => Some(values.clone()),
            (None, Some(constant)) => Some(vec![constant.clone()]),
            _ => None,
        };
        Ok(match listed {
            Some(values) => Some(values.into_iter().filter(allowed).collect()),
            None if types.iter().all(|t| t == "boolean" || t == "null") => {
                Some([Value::Bool(false), Value::Bool(true), Value::Null].into_iter().filter(allowed).collect())
            }
            None => None,
        })
    }
}

/// The rules of one array of distinct values: a state is the set of values
/// used (a bit per value).
struct UniqueRules<'a> {
    values: &'a [Expr],
    min: u32,
    longest: usize,
    prefix: &'a str,
}

impl UniqueRules<'_> {
    /// What may follow once the values in `used` are written: `]` (when
    /// enough) or `, ` and an unused value.
    fn state(&self, builder: &mut Builder, names: &mut HashMap<u64, Option<String>>, used: u64) -> Option<Expr> {
        if let Some(name) = names.get(&used) {
            return name.as_deref().map(reference);
        }
        let count = used.count_ones();
        let mut alternatives = Vec::new();
        if count >= self.min {
            alternatives.push(expr(ExprKind::Empty));
        }
        if (count as usize) < self.longest {
            for (i, value) in self.values.iter().enumerate() {
                if used & (1 << i) == 0
                    && let Some(rest) = self.state(builder, names, used | (1 << i))
                {
                    alternatives.push(seq(vec![builder.comma(), value.clone(), rest]));
                }
            }
        }
        let name = (!alternatives.is_empty()).then(|| {
            let name = format!("{}-{used:x}", self.prefix);
            builder.rules.push(rule(&name, alt(alternatives)));
            name
        });
        names.insert(used, name.clone());
        name.as_deref().map(reference)
    }
}

fn binomial(n: usize, k: usize) -> usize {
    (0..k).fold(1usize, |acc, i| acc.saturating_mul(n - i) / (i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Format;
    use crate::tables::CompiledGrammar;

    #[test]
    fn subsets_are_counted_by_binomials() {
        assert_eq!(binomial(5, 0), 1);
        assert_eq!(binomial(5, 2), 10);
        assert_eq!((0..=12).map(|k| binomial(12, k)).sum::<usize>(), 4096);
    }

    #[test]
    fn large_domains_are_refused_unless_max_items_bounds_the_subsets() {
        let values: Vec<String> = (0..40).map(|i| format!("\"v{i}\"")).collect();
        let schema = |max: &str| {
            format!(r#"{{"type": "array", "items": {{"enum": [{}]}}, "uniqueItems": true{max}}}"#, values.join(", "))
        };
        let error = CompiledGrammar::new(&schema(""), Format::JsonSchema).err().map(|e| e.message).unwrap_or_default();
        assert!(error.contains("#/uniqueItems"), "{error}");
        let bounded = CompiledGrammar::new(&schema(r#", "maxItems": 2"#), Format::JsonSchema)
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(bounded.accepts(br#"["v1", "v39"]"#));
        assert!(!bounded.accepts(br#"["v1", "v1"]"#));
        assert!(!bounded.accepts(br#"["v1", "v2", "v3"]"#));
    }
}
