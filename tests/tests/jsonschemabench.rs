//! Coverage and agreement on the JSONSchemaBench dev set (ignored: it takes
//! minutes).
//!
//! ```sh
//! CARGO_BUILD_JOBS=1 cargo test --release -p trellis-tests --test jsonschemabench -- --ignored --nocapture
//! ```
//!
//! Reads `../shared/workloads/jsonschemabench-dev.jsonl.gz` beside the
//! repository (or the file named by `TRELLIS_JSONSCHEMABENCH`, gzipped or
//! not), one schema per line with labelled instances. For every schema it
//! compiles the grammar (default options: compact whitespace, not lenient)
//! and checks every instance twice:
//!
//! * **as written**: the compact form with the instance's own key order;
//! * **in some order**: a depth-first search for an order of every object's
//!   keys that the grammar accepts, driven by the matcher (a viable prefix
//!   prunes the search), which is what a schema-order grammar can be asked
//!   of a document whose keys come in another order.
//!
//! An instance is invalid when the label or the `jsonschema` crate (formats
//! asserted) says so; an invalid instance accepted in any order is the
//! figure that must stay 0. `TRELLIS_BENCH_LIMIT` takes the first N
//! schemas, `TRELLIS_BENCH_OUT` writes one JSON line per schema (its id, the
//! outcome, the refusal message) for comparing runs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use serde_json::{Map, Value};
use trellis_grammars::json_schema::{JsonSchemaOptions, compile_json_schema};
use trellis_grammars::{CompiledGrammar, Config, Matcher};
use trellis_tests::compact_json;

fn dataset() -> String {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/workloads/jsonschemabench-dev.jsonl.gz");
    let path = std::env::var("TRELLIS_JSONSCHEMABENCH").map_or(default, Into::into);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let output = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("gzip -dc {}: {e}", path.display()));
        assert!(output.status.success(), "gzip -dc {} failed", path.display());
        String::from_utf8(output.stdout).expect("UTF-8")
    } else {
        String::from_utf8(bytes).expect("UTF-8")
    }
}

/// The outcome of a search: accepted in some order, in none, or undecided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    Yes,
    No,
    /// The matcher gave up (a limit).
    Undecided,
    /// The search for an order ran out of its budget.
    OutOfBudget,
}

/// Every matcher state after writing `value` from `matcher` in some key
/// order (at most `WIDTH` of them), or `Undecided` when the matcher gave up
/// or the budget ran out.
struct Search {
    budget: usize,
    undecided: bool,
    out_of_budget: bool,
}

const WIDTH: usize = 8;

impl Search {
    fn feed(&mut self, matcher: &Matcher, bytes: &[u8]) -> Option<Matcher> {
        if self.budget == 0 {
            self.out_of_budget = true;
            return None;
        }
        self.budget -= 1;
        let mut next = matcher.clone();
        match next.advance(bytes) {
            Ok(()) => Some(next),
            Err(trellis_grammars::MatchError::Rejected { .. }) => None,
            Err(_) => {
                self.undecided = true;
                None
            }
        }
    }

    fn value(&mut self, from: Vec<Matcher>, value: &Value) -> Vec<Matcher> {
        match value {
            Value::Object(map) if !map.is_empty() => {
                let opened: Vec<Matcher> = from.iter().filter_map(|m| self.feed(m, b"{")).collect();
                let keys: Vec<&String> = map.keys().collect();
                let mut out = Vec::new();
                for matcher in opened {
                    self.members(matcher, map, &keys, &mut vec![false; keys.len()], true, &mut out);
                    if out.len() >= WIDTH {
                        break;
                    }
                }
                out
            }
            Value::Array(items) if !items.is_empty() => {
                let mut states: Vec<Matcher> = from.iter().filter_map(|m| self.feed(m, b"[")).collect();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        states = states.iter().filter_map(|m| self.feed(m, b", ")).collect();
                    }
                    states = self.value(states, item);
                    states.truncate(WIDTH);
                }
                states.iter().filter_map(|m| self.feed(m, b"]")).collect()
            }
            other => {
                let text = compact_json(other);
                from.iter().filter_map(|m| self.feed(m, text.as_bytes())).collect()
            }
        }
    }

    /// Depth-first over the next key to write.
    fn members(
        &mut self,
        matcher: Matcher,
        map: &Map<String, Value>,
        keys: &[&String],
        used: &mut Vec<bool>,
        first: bool,
        out: &mut Vec<Matcher>,
    ) {
        if used.iter().all(|&u| u) {
            out.extend(self.feed(&matcher, b"}"));
            return;
        }
        for i in 0..keys.len() {
            if used[i] || out.len() >= WIDTH {
                continue;
            }
            let key = format!("{}{}: ", if first { "" } else { ", " }, Value::String(keys[i].clone()));
            let Some(keyed) = self.feed(&matcher, key.as_bytes()) else { continue };
            let after = self.value(vec![keyed], &map[keys[i].as_str()]);
            used[i] = true;
            for next in after.into_iter().take(2) {
                self.members(next, map, keys, used, false, out);
            }
            used[i] = false;
        }
    }

    fn accepts(grammar: &CompiledGrammar, value: &Value) -> Found {
        let mut search = Search { budget: 20_000, undecided: false, out_of_budget: false };
        let ends = search.value(vec![grammar.matcher()], value);
        if ends.iter().any(Matcher::is_complete) {
            Found::Yes
        } else if search.undecided {
            Found::Undecided
        } else if search.out_of_budget {
            Found::OutOfBudget
        } else {
            Found::No
        }
    }
}

/// The refusal's cause, for the tally: the keyword it names, or its kind.
fn cause(message: &str) -> String {
    if let Some(start) = message.find('`')
        && let Some(len) = message[start + 1..].find('`')
    {
        let keyword = &message[start + 1..start + 1 + len];
        if message.contains("cannot be enforced") {
            return format!("unsupported `{keyword}`");
        }
    }
    let mut words: Vec<&str> = message.split(" (at ").next().unwrap_or(message).split_whitespace().take(8).collect();
    words.retain(|w| !w.starts_with('#'));
    words.join(" ")
}

#[derive(Default)]
struct Tally {
    schemas: usize,
    compiled: usize,
    crashed: usize,
    valid: usize,
    invalid: usize,
    valid_rejected_as_written: usize,
    valid_rejected_any_order: usize,
    valid_undecided: usize,
    invalid_accepted: usize,
    invalid_undecided: usize,
    /// Invalid instances whose every order the search could not try (the
    /// one written is rejected).
    invalid_out_of_budget: usize,
    schemas_with_valid_rejected: usize,
    label_oracle_disagree: usize,
    causes: BTreeMap<String, usize>,
    slowest: Vec<(f64, String)>,
}

#[test]
#[ignore = "minutes: run with --ignored --release"]
fn jsonschemabench_dev_set() {
    let text = dataset();
    let limit: usize = std::env::var("TRELLIS_BENCH_LIMIT").ok().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    let filter = std::env::var("TRELLIS_BENCH_FILTER").ok();
    let mut out = std::env::var("TRELLIS_BENCH_OUT").ok().map(|path| std::fs::File::create(path).expect("out file"));
    let mut tally = Tally::default();
    let started = Instant::now();
    for line in text.lines().filter(|line| !line.trim().is_empty()).take(limit) {
        let record: Value = serde_json::from_str(line).expect("JSON line");
        let id = record["id"].as_str().unwrap_or_default().to_owned();
        if filter.as_ref().is_some_and(|f| !id.contains(f.as_str())) {
            continue;
        }
        tally.schemas += 1;
        let schema = &record["schema"];
        let schema_text = schema.to_string();
        let start = Instant::now();
        let compiled = std::panic::catch_unwind(|| {
            compile_json_schema(&schema_text, &JsonSchemaOptions::default())
                .and_then(|(ebnf, _)| CompiledGrammar::from_ebnf(&ebnf, &Config::default()))
        });
        let seconds = start.elapsed().as_secs_f64();
        tally.slowest.push((seconds, id.clone()));
        let grammar = match compiled {
            Err(_) => {
                tally.crashed += 1;
                writeln_out(&mut out, &id, "crash", "", seconds);
                continue;
            }
            Ok(Err(error)) => {
                *tally.causes.entry(cause(&error.message)).or_default() += 1;
                writeln_out(&mut out, &id, "refused", &error.message, seconds);
                continue;
            }
            Ok(Ok(grammar)) => grammar,
        };
        tally.compiled += 1;
        let oracle = jsonschema::options().should_validate_formats(true).build(schema).ok();
        let mut rejected_here = false;
        let mut notes = Vec::new();
        for (index, test) in record["tests"].as_array().into_iter().flatten().enumerate() {
            let data = &test["data"];
            let label = test["valid"].as_bool().unwrap_or(false);
            let oracle_says = oracle.as_ref().map(|validator| validator.is_valid(data));
            if oracle_says.is_some_and(|valid| valid != label) {
                tally.label_oracle_disagree += 1;
            }
            let valid = label && oracle_says.unwrap_or(true);
            let as_written = grammar.check(compact_json(data).as_bytes());
            let any_order = if as_written.is_complete() { Found::Yes } else { Search::accepts(&grammar, data) };
            if valid {
                tally.valid += 1;
                if !as_written.is_complete() {
                    tally.valid_rejected_as_written += 1;
                }
                match any_order {
                    Found::Yes => {}
                    Found::No => {
                        tally.valid_rejected_any_order += 1;
                        rejected_here = true;
                        notes.push(format!("valid {index} rejected ({as_written:?})"));
                    }
                    Found::Undecided | Found::OutOfBudget => {
                        tally.valid_undecided += 1;
                        notes.push(format!("valid {index} undecided ({as_written:?}, {any_order:?})"));
                    }
                }
            } else {
                tally.invalid += 1;
                match any_order {
                    Found::Yes => {
                        tally.invalid_accepted += 1;
                        notes.push(format!("INVALID {index} ACCEPTED"));
                        eprintln!("{id}: invalid instance {index} accepted: {}", compact_json(data));
                    }
                    Found::Undecided => tally.invalid_undecided += 1,
                    Found::OutOfBudget => tally.invalid_out_of_budget += 1,
                    Found::No => {}
                }
            }
        }
        if rejected_here {
            tally.schemas_with_valid_rejected += 1;
        }
        writeln_out(&mut out, &id, "compiled", &notes.join("; "), seconds);
    }
    let percent = |part: usize, whole: usize| 100.0 * part as f64 / whole.max(1) as f64;
    eprintln!(
        "schemas: {}, compiled {} ({:.1} %), crashed {}",
        tally.schemas,
        tally.compiled,
        percent(tally.compiled, tally.schemas),
        tally.crashed
    );
    eprintln!(
        "valid instances: {}; rejected as written {} ({:.2} %), rejected in every order {} ({:.2} %), undecided {}; schemas with a valid instance rejected: {}",
        tally.valid,
        tally.valid_rejected_as_written,
        percent(tally.valid_rejected_as_written, tally.valid),
        tally.valid_rejected_any_order,
        percent(tally.valid_rejected_any_order, tally.valid),
        tally.valid_undecided,
        tally.schemas_with_valid_rejected
    );
    eprintln!(
        "invalid instances: {}; accepted {}, undecided {}, rejected as written but not searched in every order {}; label and oracle disagree on {}",
        tally.invalid,
        tally.invalid_accepted,
        tally.invalid_undecided,
        tally.invalid_out_of_budget,
        tally.label_oracle_disagree
    );
    let mut causes: Vec<(&String, &usize)> = tally.causes.iter().collect();
    causes.sort_by(|a, b| b.1.cmp(a.1));
    eprintln!("refusals by cause:");
    for (cause, count) in causes.iter().take(40) {
        eprintln!("  {count:5}  {cause}");
    }
    tally.slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!("slowest compiles:");
    for (seconds, id) in tally.slowest.iter().take(8) {
        eprintln!("  {seconds:7.2} s  {id}");
    }
    eprintln!("total {:.1} s", started.elapsed().as_secs_f64());
    assert_eq!(tally.invalid_accepted, 0, "invalid instances accepted");
}

fn writeln_out(out: &mut Option<std::fs::File>, id: &str, outcome: &str, message: &str, seconds: f64) {
    if let Some(file) = out {
        let line = serde_json::json!({"id": id, "outcome": outcome, "message": message, "seconds": seconds});
        writeln!(file, "{line}").expect("write");
    }
}
