//! The JSONSchemaBench dev set by the MaskBench protocol: cold masks, the
//! figure a structured-output server lives by, Trellis beside llguidance in
//! one process.
//!
//! ```text
//! cargo run --release -p trellis-benches --bin maskbench -- [--dataset FILE] [--vocab o200k_base]
//!     [--limit N] [--every K] [--skip trellis|llguidance] [--schema-budget SECONDS] [--out FILE.jsonl]
//!     [--only ID] [--trace-us N]
//! ```
//!
//! Protocol, per schema (`--dataset`, default
//! `../shared/workloads/jsonschemabench-dev.jsonl.gz`, gzipped or not; one
//! schema per line with labelled instances): each engine compiles it (timed:
//! JSON Schema text to a matcher factory, everything a server does when a
//! request brings a schema it has never seen), then runs every instance
//! from a fresh matcher of that compiled schema — so the first instance
//! meets empty caches and later ones the caches the earlier ones filled, as
//! a server's requests with one schema would. An instance is
//! `json.dumps(data, ensure_ascii=False)` (`", "` and `": "` separators,
//! keys in the instance's own order: `trellis_tests::compact_json`; floats
//! as serde_json prints them, `1e-5` where Python writes `1e-05`, both
//! JSON), tokenized once; for each token the
//! engine computes the mask and commits the token, timed together; a token
//! outside the mask rejects the instance; after the last token, one more
//! mask (timed) must allow EOS. A valid instance must be accepted and an
//! invalid one rejected.
//!
//! A schema **passes** when it compiles and every instance gets the right
//! answer within `--schema-budget` (default 60 s of masks). Times are
//! reported over the schemas both engines pass (the comparable set), and
//! each engine's over all the schemas it passes; the engines alternate
//! which runs first from one schema to the next. `--every K` takes every
//! K-th schema (a stratified sample: the file is grouped by dataset),
//! `--limit N` the first N of those. `--out` writes one JSON line per
//! schema and engine (outcome, compile and mask times, the first error).
//! `--only ID` runs one schema, and `--trace-us N` prints every mask slower
//! than N µs with the text before it (instances that stop early are traced
//! up to where they stopped).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llguidance::api::TopLevelGrammar;
use llguidance::{Matcher as LlgMatcher, ParserFactory};
use serde_json::{Value, json};
use trellis_benches::{fmt_us, llg_env, percentile};
use trellis_grammars::{CompiledGrammar, Format};
use trellis_tests::compact_json;
use trellis_token_index::{TokenConstraint, TokenError, TokenIndex, TokenSet, Tokenizer};

/// One instance: its tokens and its label.
struct Instance {
    tokens: Vec<u32>,
    valid: bool,
}

/// How one instance went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Rejected,
    /// The engine could not decide (a limit) or reported an error.
    Undecided,
    /// The schema's budget ran out during this instance.
    OutOfTime,
}

/// How one schema went for one engine.
#[derive(Debug, Default)]
struct SchemaRun {
    compile: Option<Duration>,
    /// Why it did not compile (or the panic's message).
    error: Option<String>,
    crashed: bool,
    timed_out: bool,
    valid_accepted: usize,
    valid_rejected: usize,
    invalid_rejected: usize,
    invalid_accepted: usize,
    undecided: usize,
    /// Mask + commit times (ns), every token of every instance.
    masks: Vec<u64>,
    /// The first wrong or undecided answer, for `--out`.
    first_problem: Option<String>,
}

impl SchemaRun {
    fn passed(&self) -> bool {
        self.compile.is_some()
            && self.error.is_none()
            && !self.crashed
            && !self.timed_out
            && self.valid_rejected == 0
            && self.invalid_accepted == 0
            && self.undecided == 0
    }

    fn status(&self) -> &'static str {
        if self.crashed {
            "crash"
        } else if self.compile.is_none() {
            "compile error"
        } else if self.timed_out {
            "timeout"
        } else if self.invalid_accepted > 0 {
            "invalid accepted"
        } else if self.valid_rejected > 0 {
            "valid rejected"
        } else if self.undecided > 0 {
            "undecided"
        } else {
            "pass"
        }
    }
}

/// An engine: compiles a schema into something that runs instances.
trait Engine {
    fn name(&self) -> &'static str;
    fn compile(&self, schema: &Value) -> Result<Box<dyn Compiled>, String>;
}

trait Compiled {
    /// Runs one instance, pushing mask + commit times (ns) to `times`;
    /// stops early past `deadline`.
    fn run(&self, tokens: &[u32], times: &mut Vec<u64>, deadline: Instant) -> Result<Verdict, String>;
}

// Trellis ---------------------------------------------------------------------

struct Trellis {
    index: TokenIndex,
}

struct TrellisCompiled {
    constraint: TokenConstraint,
    eos: u32,
}

impl Engine for Trellis {
    fn name(&self) -> &'static str {
        "trellis"
    }

    fn compile(&self, schema: &Value) -> Result<Box<dyn Compiled>, String> {
        let grammar = CompiledGrammar::new(&schema.to_string(), Format::JsonSchema).map_err(|e| e.to_string())?;
        let constraint = TokenConstraint::new(&grammar, &self.index);
        let eos = self.index.vocabulary().eos_tokens()[0];
        Ok(Box::new(TrellisCompiled { constraint, eos }))
    }
}

impl Compiled for TrellisCompiled {
    fn run(&self, tokens: &[u32], times: &mut Vec<u64>, deadline: Instant) -> Result<Verdict, String> {
        let mut matcher = self.constraint.matcher();
        let mut mask = TokenSet::new(matcher.vocabulary_len());
        run_tokens(tokens, self.eos, times, deadline, |token| {
            match matcher.mask(&mut mask) {
                Err(TokenError::GaveUp(limit)) => return Err(("mask before token", limit.to_string())),
                Err(error) => return Err(("token", error.to_string())),
                Ok(()) => {}
            }
            let allowed = mask.contains(token);
            if allowed && token != self.eos {
                matcher.commit(token).map_err(|error| ("token", error.to_string()))?;
            }
            Ok(allowed)
        })
    }
}

// llguidance --------------------------------------------------------------------

struct Llguidance {
    factory: Arc<ParserFactory>,
    eos: u32,
}

struct LlgCompiled {
    matcher: LlgMatcher,
    eos: u32,
}

impl Engine for Llguidance {
    fn name(&self) -> &'static str {
        "llguidance"
    }

    fn compile(&self, schema: &Value) -> Result<Box<dyn Compiled>, String> {
        let parser =
            self.factory.create_parser(TopLevelGrammar::from_json_schema(schema.clone())).map_err(|e| e.to_string())?;
        let matcher = LlgMatcher::new(Ok(parser));
        if let Some(error) = matcher.get_error() {
            return Err(error);
        }
        Ok(Box::new(LlgCompiled { matcher, eos: self.eos }))
    }
}

impl Compiled for LlgCompiled {
    fn run(&self, tokens: &[u32], times: &mut Vec<u64>, deadline: Instant) -> Result<Verdict, String> {
        // A shallow clone shares the lexer (and its lazily built DFA) with
        // the compiled schema, as a server's requests with one schema would.
        let mut matcher = self.matcher.clone();
        run_tokens(tokens, self.eos, times, deadline, |token| {
            let mask = matcher.compute_mask_or_eos().map_err(|error| ("mask before token", error.to_string()))?;
            let allowed = mask.is_allowed(token);
            if allowed && token != self.eos {
                matcher.consume_token(token).map_err(|error| ("token", error.to_string()))?;
            }
            Ok(allowed)
        })
    }
}

/// The protocol's loop, the same for every engine: for each token and then
/// EOS, one timed `step` (mask, membership, commit; `Ok(false)` when the
/// token is not in the mask, an error with what failed); stops at the
/// first refusal, error or `deadline`.
fn run_tokens(
    tokens: &[u32],
    eos: u32,
    times: &mut Vec<u64>,
    deadline: Instant,
    mut step: impl FnMut(u32) -> Result<bool, (&'static str, String)>,
) -> Result<Verdict, String> {
    for (i, &token) in tokens.iter().chain([&eos]).enumerate() {
        if Instant::now() > deadline {
            return Ok(Verdict::OutOfTime);
        }
        let start = Instant::now();
        let allowed = step(token);
        times.push(start.elapsed().as_nanos() as u64);
        match allowed {
            Err((what, error)) => return Err(format!("{what} #{i}: {error}")),
            Ok(false) => return Ok(Verdict::Rejected),
            Ok(true) => {}
        }
    }
    Ok(Verdict::Accepted)
}

// The run -------------------------------------------------------------------------

fn run_schema(engine: &dyn Engine, schema: &Value, instances: &[Instance], budget: Duration) -> SchemaRun {
    let mut run = SchemaRun::default();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let start = Instant::now();
        let compiled = engine.compile(schema);
        let compile = start.elapsed();
        let compiled = match compiled {
            Ok(compiled) => compiled,
            Err(error) => {
                run.error = Some(error);
                return;
            }
        };
        run.compile = Some(compile);
        let deadline = Instant::now() + budget;
        for (i, instance) in instances.iter().enumerate() {
            let verdict = compiled.run(&instance.tokens, &mut run.masks, deadline).unwrap_or_else(|error| {
                run.first_problem.get_or_insert_with(|| format!("instance {i}: {error}"));
                Verdict::Undecided
            });
            match (verdict, instance.valid) {
                (Verdict::Accepted, true) => run.valid_accepted += 1,
                (Verdict::Rejected, false) => run.invalid_rejected += 1,
                (Verdict::Rejected, true) => {
                    run.valid_rejected += 1;
                    run.first_problem.get_or_insert_with(|| format!("instance {i}: valid, rejected"));
                }
                (Verdict::Accepted, false) => {
                    run.invalid_accepted += 1;
                    run.first_problem.get_or_insert_with(|| format!("instance {i}: invalid, accepted"));
                }
                (Verdict::Undecided, _) => run.undecided += 1,
                (Verdict::OutOfTime, _) => {
                    run.timed_out = true;
                    break;
                }
            }
        }
    }));
    if let Err(panic) = outcome {
        run.crashed = true;
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into());
        run.error = Some(message);
    }
    run
}

fn read_dataset(path: &PathBuf) -> Result<Box<dyn BufRead>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = BufReader::new(file);
    let gzipped = reader.fill_buf().map_err(|e| format!("{}: {e}", path.display()))?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzipped { Box::new(BufReader::new(flate2::bufread::GzDecoder::new(reader))) } else { Box::new(reader) })
}

#[derive(Default)]
struct Totals {
    schemas: usize,
    by_status: BTreeMap<&'static str, usize>,
    valid_accepted: usize,
    valid_rejected: usize,
    invalid_rejected: usize,
    invalid_accepted: usize,
    undecided: usize,
    /// Over the schemas this engine passes.
    masks: Vec<u64>,
    compile: Vec<u64>,
}

impl Totals {
    fn add(&mut self, run: &SchemaRun) {
        self.schemas += 1;
        *self.by_status.entry(run.status()).or_default() += 1;
        self.valid_accepted += run.valid_accepted;
        self.valid_rejected += run.valid_rejected;
        self.invalid_rejected += run.invalid_rejected;
        self.invalid_accepted += run.invalid_accepted;
        self.undecided += run.undecided;
        if run.passed() {
            self.masks.extend_from_slice(&run.masks);
            self.compile.extend(run.compile.map(|d| d.as_nanos() as u64));
        }
    }
}

/// Prints every mask slower than `threshold` µs with the text before it
/// (the instances' tokens in order, as the run took them).
fn trace(
    id: &str,
    engines: &[Box<dyn Engine>],
    runs: &[SchemaRun],
    record: &Value,
    tokenizer: &Tokenizer,
    threshold: u64,
) {
    let texts: Vec<String> =
        record["tests"].as_array().into_iter().flatten().map(|test| compact_json(&test["data"])).collect();
    for (engine, run) in engines.iter().zip(runs) {
        let mut times = run.masks.iter();
        'instances: for (i, text) in texts.iter().enumerate() {
            let tokens = tokenizer.encode(text).unwrap_or_default();
            for position in 0..=tokens.len() {
                let Some(&ns) = times.next() else { break 'instances };
                if ns >= threshold * 1000 {
                    let before = String::from_utf8_lossy(&tokenizer.decode(&tokens[..position]).unwrap_or_default())
                        .into_owned();
                    let tail: String = before.chars().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
                    println!("{id} {} instance {i} token {position}: {} µs after …{tail:?}", engine.name(), ns / 1000);
                }
            }
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: maskbench [--dataset FILE] [--vocab o200k_base|cl100k_base|r50k_base] [--limit N] [--every K] \
         [--skip trellis|llguidance]... [--schema-budget SECONDS] [--out FILE.jsonl] [--only ID] [--trace-us N]"
    );
    std::process::exit(2)
}

fn main() {
    let mut dataset =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/workloads/jsonschemabench-dev.jsonl.gz"));
    let mut vocab_name = "o200k_base".to_string();
    let (mut limit, mut every) = (usize::MAX, 1usize);
    let mut skip: Vec<String> = Vec::new();
    let mut budget = Duration::from_secs(60);
    let mut out_path: Option<PathBuf> = None;
    let mut only: Option<String> = None;
    let mut trace_us: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    let number = |value: Option<String>| value.and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| usage());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dataset" => dataset = args.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            "--vocab" => vocab_name = args.next().unwrap_or_else(|| usage()),
            "--limit" => limit = number(args.next()) as usize,
            "--every" => every = (number(args.next()) as usize).max(1),
            "--skip" => skip.push(args.next().unwrap_or_else(|| usage())),
            "--schema-budget" => budget = Duration::from_secs(number(args.next())),
            "--only" => only = Some(args.next().unwrap_or_else(|| usage())),
            "--trace-us" => trace_us = Some(number(args.next())),
            "--out" => out_path = Some(args.next().map(PathBuf::from).unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }

    let tokenizer = Arc::new(Tokenizer::tiktoken(&vocab_name).unwrap_or_else(|e| {
        eprintln!("maskbench: vocabulary {vocab_name}: {e}");
        std::process::exit(2)
    }));
    let vocabulary = tokenizer.vocabulary().clone();
    let eos = vocabulary.eos_tokens()[0];
    let mut engines: Vec<Box<dyn Engine>> = Vec::new();
    if !skip.iter().any(|s| s == "trellis") {
        engines.push(Box::new(Trellis { index: TokenIndex::new(vocabulary.clone()) }));
    }
    if !skip.iter().any(|s| s == "llguidance") {
        let env = llg_env(&tokenizer);
        let mut factory = ParserFactory::new_simple(&env).expect("llguidance ParserFactory");
        factory.quiet();
        engines.push(Box::new(Llguidance { factory: Arc::new(factory), eos }));
    }
    let mut out = out_path.map(|path| {
        std::fs::File::create(&path).unwrap_or_else(|e| {
            eprintln!("maskbench: {}: {e}", path.display());
            std::process::exit(2)
        })
    });
    let reader = read_dataset(&dataset).unwrap_or_else(|e| {
        eprintln!("maskbench: {e}");
        std::process::exit(2)
    });

    let mut totals: Vec<Totals> = engines.iter().map(|_| Totals::default()).collect();
    // Over the schemas every engine passes.
    let mut shared_masks: Vec<Vec<u64>> = engines.iter().map(|_| Vec::new()).collect();
    let mut shared_compile: Vec<Vec<u64>> = engines.iter().map(|_| Vec::new()).collect();
    // Trellis's total mask time over the peer's, per shared schema.
    let mut per_schema_ratio: Vec<f64> = Vec::new();
    let mut slowest: Vec<(u64, String)> = Vec::new();
    let started = Instant::now();
    let mut taken = 0usize;
    for (line_number, line) in reader.lines().enumerate() {
        let line = line.unwrap_or_else(|e| panic!("{}: line {}: {e}", dataset.display(), line_number + 1));
        if line.trim().is_empty() || line_number % every != 0 {
            continue;
        }
        if taken == limit {
            break;
        }
        taken += 1;
        let record: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{}: line {}: {e}", dataset.display(), line_number + 1));
        let id = record["id"].as_str().unwrap_or("?").to_string();
        if only.as_ref().is_some_and(|only| *only != id) {
            taken -= 1;
            continue;
        }
        let schema = &record["schema"];
        let instances: Vec<Instance> = record["tests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|test| Instance {
                tokens: tokenizer.encode(&compact_json(&test["data"])).expect("tokenizing an instance"),
                valid: test["valid"].as_bool().unwrap_or(false),
            })
            .collect();
        let mut runs: Vec<Option<SchemaRun>> = engines.iter().map(|_| None).collect();
        // Alternate which engine runs first.
        let order: Vec<usize> =
            if taken.is_multiple_of(2) { (0..engines.len()).collect() } else { (0..engines.len()).rev().collect() };
        for &e in &order {
            runs[e] = Some(run_schema(engines[e].as_ref(), schema, &instances, budget));
        }
        let runs: Vec<SchemaRun> = runs.into_iter().flatten().collect();
        if let Some(threshold) = trace_us {
            trace(&id, &engines, &runs, &record, &tokenizer, threshold);
        }
        for (e, run) in runs.iter().enumerate() {
            totals[e].add(run);
            if let Some(file) = out.as_mut() {
                let line = json!({
                    "id": id,
                    "engine": engines[e].name(),
                    "status": run.status(),
                    "compile_us": run.compile.map(|d| d.as_secs_f64() * 1e6),
                    "masks": run.masks.len(),
                    "mask_total_us": run.masks.iter().sum::<u64>() as f64 / 1000.0,
                    "mask_max_us": run.masks.iter().max().map(|&m| m as f64 / 1000.0),
                    "error": run.error,
                    "problem": run.first_problem,
                });
                let _ = writeln!(file, "{line}");
            }
        }
        if runs.iter().all(SchemaRun::passed) {
            for (e, run) in runs.iter().enumerate() {
                shared_masks[e].extend_from_slice(&run.masks);
                shared_compile[e].extend(run.compile.map(|d| d.as_nanos() as u64));
            }
            if runs.len() == 2 {
                let total = |run: &SchemaRun| run.masks.iter().sum::<u64>() as f64;
                per_schema_ratio.push(total(&runs[0]) / total(&runs[1]).max(1.0));
            }
            if let Some(max) = runs[0].masks.iter().max() {
                slowest.push((*max, id.clone()));
            }
        }
        if taken.is_multiple_of(100) {
            eprintln!("maskbench: {taken} schemas, {:.0} s", started.elapsed().as_secs_f64());
        }
    }

    println!(
        "# MaskBench protocol on {} — {taken} schemas (every {every}), tiktoken:{vocab_name}, {:.0} s",
        dataset.display(),
        started.elapsed().as_secs_f64()
    );
    println!();
    println!(
        "| engine | schemas | pass | compile error | crash | timeout | valid rejected | invalid accepted | undecided | instances: valid ok / rejected, invalid ok / accepted |"
    );
    println!("|:--|--:|--:|--:|--:|--:|--:|--:|--:|:--|");
    for (engine, t) in engines.iter().zip(&totals) {
        let n = |status: &str| t.by_status.get(status).copied().unwrap_or(0);
        println!(
            "| {} | {} | {} ({:.1} %) | {} | {} | {} | {} | {} | {} | {} / {}, {} / {} |",
            engine.name(),
            t.schemas,
            n("pass"),
            100.0 * n("pass") as f64 / t.schemas.max(1) as f64,
            n("compile error"),
            n("crash"),
            n("timeout"),
            n("valid rejected"),
            n("invalid accepted"),
            n("undecided"),
            t.valid_accepted,
            t.valid_rejected,
            t.invalid_rejected,
            t.invalid_accepted,
        );
    }
    let table = |title: &str, masks: &mut [Vec<u64>], compile: &mut [Vec<u64>]| {
        println!();
        println!("{title}");
        println!();
        println!(
            "| engine | masks | mask p50 µs | p90 | p95 | p99 | p99.9 | max | mean | compile p50 ms | p90 | p99 | max |"
        );
        println!("|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for (e, engine) in engines.iter().enumerate() {
            masks[e].sort_unstable();
            compile[e].sort_unstable();
            let m = &masks[e];
            let mean = m.iter().sum::<u64>() as f64 / m.len().max(1) as f64 / 1000.0;
            let ms = |p: f64| percentile(&compile[e], p) / 1000.0;
            let mut row = format!("| {} | {} |", engine.name(), m.len());
            for p in [0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                let _ = write!(row, " {} |", fmt_us(percentile(m, p)));
            }
            let _ =
                write!(row, " {} | {:.2} | {:.2} | {:.2} | {:.2} |", fmt_us(mean), ms(0.5), ms(0.9), ms(0.99), ms(1.0));
            println!("{row}");
        }
    };
    table(
        "Schemas every engine passes (the comparable set), cold: each schema compiled fresh, its instances in order:",
        &mut shared_masks,
        &mut shared_compile,
    );
    if engines.len() == 2 {
        let (a, b) = (&shared_masks[0], &shared_masks[1]);
        let mean = |m: &[u64]| m.iter().sum::<u64>() as f64 / m.len().max(1) as f64;
        let ratio = |p: f64| percentile(a, p) / percentile(b, p);
        println!();
        println!(
            "{} / {}: mean {:.3}, p50 {:.3}, p95 {:.3}, p99 {:.3}, max {:.3}; compile p50 {:.3}, p99 {:.3}, max {:.3}",
            engines[0].name(),
            engines[1].name(),
            mean(a) / mean(b),
            ratio(0.5),
            ratio(0.95),
            ratio(0.99),
            ratio(1.0),
            percentile(&shared_compile[0], 0.5) / percentile(&shared_compile[1], 0.5),
            percentile(&shared_compile[0], 0.99) / percentile(&shared_compile[1], 0.99),
            percentile(&shared_compile[0], 1.0) / percentile(&shared_compile[1], 1.0),
        );
        per_schema_ratio.sort_by(f64::total_cmp);
        if !per_schema_ratio.is_empty() {
            let slower = per_schema_ratio.iter().filter(|&&r| r > 1.0).count();
            println!(
                "per schema, total mask time {} / {}: median {:.3}, slower on {:.1} % of schemas",
                engines[0].name(),
                engines[1].name(),
                per_schema_ratio[per_schema_ratio.len() / 2],
                100.0 * slower as f64 / per_schema_ratio.len() as f64
            );
        }
    }
    let mut own_masks: Vec<Vec<u64>> = totals.iter_mut().map(|t| std::mem::take(&mut t.masks)).collect();
    let mut own_compile: Vec<Vec<u64>> = totals.iter_mut().map(|t| std::mem::take(&mut t.compile)).collect();
    table("Each engine over every schema it passes:", &mut own_masks, &mut own_compile);
    slowest.sort_unstable_by(|a, b| b.cmp(a));
    if !slowest.is_empty() {
        println!();
        let shown: Vec<String> =
            slowest.iter().take(5).map(|(ns, id)| format!("{id} ({} µs)", fmt_us(*ns as f64 / 1000.0))).collect();
        println!("{}'s slowest single masks (shared set): {}", engines[0].name(), shown.join(", "));
    }
}
