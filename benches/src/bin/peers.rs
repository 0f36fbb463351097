//! Peers side by side: Trellis, llguidance (with toktrie) and outlines-core on
//! the same vocabulary, the same workload files and the same tokens, in one
//! process, printed as one table.
//!
//! ```text
//! cargo run --release -p trellis-benches --bin peers -- [--vocab o200k_base] [--workloads DIR]
//!     [--only json|regex|schema]... [--skip ENGINE]... [--detail] [--compile-runs N]
//! ```
//!
//! Protocol, for every (constraint, document): the document's text is
//! tokenized once with Trellis's tokenizer; every engine then, for each token,
//! computes the full mask (its own way), checks that the token is in it and
//! commits it; after the last token it computes one more mask and checks that
//! EOS is in it. Only the mask computations are timed. Each constraint is
//! compiled `--compile-runs` times per engine (default 5, fewer once one
//! constraint has taken a second) and its median compile time reported
//! (`--detail` lists them per constraint); then one untimed pass over all its
//! documents warms whatever lazy caches an engine keeps (cold figures are
//! still reported from that pass), then a timed pass gives the warm figures.
//! Caches by whole parser state (Trellis's boundary memo) are emptied before
//! the timed pass, so that it does not recall the first pass's states.
//! Memory is the live heap a constraint holds after both passes, measured by
//! a counting global allocator (so it covers every engine alike, caches
//! included, whatever its API tells).

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use llguidance::api::TopLevelGrammar;
use llguidance::{Matcher as LlgMatcher, ParserFactory};
use outlines_core::index::Index as OcIndex;
use outlines_core::vocabulary::Vocabulary as OcVocabulary;
use trellis_benches::{fmt_us, llg_env, percentile};
use trellis_grammars::{CompiledGrammar, Config, Format};
use trellis_token_index::{TokenConstraint, TokenIndex, TokenSet, Tokenizer};

// ---------------------------------------------------------------------------
// Heap accounting.

struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter only
// observes sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn live_heap() -> usize {
    LIVE.load(Ordering::Relaxed)
}

fn mb(bytes: isize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

// ---------------------------------------------------------------------------
// Workloads.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Group {
    Json,
    Regex,
    Schema,
}

impl Group {
    fn name(self) -> &'static str {
        match self {
            Group::Json => "json-docs",
            Group::Regex => "regex",
            Group::Schema => "schemas",
        }
    }

    fn parse(s: &str) -> Option<Group> {
        match s {
            "json" | "json-docs" => Some(Group::Json),
            "regex" => Some(Group::Regex),
            "schema" | "schemas" => Some(Group::Schema),
            _ => None,
        }
    }
}

/// One constraint and the token sequences of its documents.
struct Workload {
    /// For regexes and schemas: the file, relative to the workloads folder.
    path: Option<String>,
    /// The regex or the schema text.
    source: String,
    docs: Vec<Vec<u32>>,
}

fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

fn load_group(group: Group, dir: &Path, tokenizer: &Tokenizer) -> Vec<Workload> {
    let encode = |text: &str| tokenizer.encode(text).unwrap_or_else(|e| panic!("tokenizing a document: {e}"));
    match group {
        Group::Json => {
            let docs = read_jsonl(&dir.join("json-docs.jsonl"))
                .iter()
                .map(|v| encode(v.as_str().expect("json-docs.jsonl: each line is a JSON string")))
                .collect();
            vec![Workload { path: None, source: String::new(), docs }]
        }
        Group::Regex | Group::Schema => {
            let (file, key) = match group {
                Group::Regex => ("regex-docs.jsonl", "regex"),
                _ => ("schema-docs.jsonl", "schema"),
            };
            let mut out: Vec<Workload> = Vec::new();
            for v in read_jsonl(&dir.join(file)) {
                let path = v[key].as_str().expect("constraint path").to_string();
                let text = v["text"].as_str().expect("document text");
                let tokens = encode(text);
                match out.iter_mut().find(|w| w.path.as_deref() == Some(path.as_str())) {
                    Some(w) => w.docs.push(tokens),
                    None => {
                        let raw = std::fs::read_to_string(dir.join(&path))
                            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(&path).display()));
                        let source =
                            if group == Group::Regex { raw.trim_end_matches(['\n', '\r']).to_string() } else { raw };
                        out.push(Workload { path: Some(path), source, docs: vec![tokens] });
                    }
                }
            }
            out
        }
    }
}

// ---------------------------------------------------------------------------
// Engines.

/// One compiled constraint of one engine.
trait Compiled {
    /// Runs one document: for each token, a timed mask, a membership check,
    /// a commit; then a timed mask that must allow EOS. Mask times (ns) are
    /// appended to `times`.
    fn run_doc(&self, tokens: &[u32], times: &mut Vec<u64>) -> Result<(), String>;

    /// Called once before the timed pass. An engine that remembers masks by
    /// whole parser state forgets them here: the timed pass goes over the
    /// same documents as the first, and recalling their states would
    /// measure a lookup, not a mask of a state met for the first time.
    /// (States repeated within the pass are still recalled, as they would be
    /// in decoding.)
    fn before_timed_pass(&self) {}
}

/// One engine configuration (a row of the table).
struct Variant {
    engine: &'static str,
    /// What it compiles for this group, as shown in the table.
    input: String,
    /// When set, a rejected document makes the whole row n/a, for this reason
    /// (an engine that cannot express the workload, rather than a bug).
    all_or_nothing: Option<&'static str>,
    /// Compiles one workload's constraint, or says why it cannot.
    compile: CompileFn,
}

type CompileFn = Box<dyn Fn(&Workload) -> Result<Box<dyn Compiled>, String>>;

// Trellis --------------------------------------------------------------------

struct TrellisCompiled {
    constraint: TokenConstraint,
    vocab_len: usize,
}

impl Compiled for TrellisCompiled {
    fn before_timed_pass(&self) {
        self.constraint.forget_states();
    }

    fn run_doc(&self, tokens: &[u32], times: &mut Vec<u64>) -> Result<(), String> {
        let mut matcher = self.constraint.matcher();
        let mut mask = TokenSet::new(self.vocab_len);
        for (i, &t) in tokens.iter().enumerate() {
            let start = Instant::now();
            matcher.mask(&mut mask).expect("the mask is decided");
            times.push(start.elapsed().as_nanos() as u64);
            if !mask.contains(t) {
                return Err(format!("token #{i} ({t}) not in mask"));
            }
            matcher.commit(t).map_err(|e| format!("commit #{i}: {e}"))?;
        }
        let start = Instant::now();
        matcher.mask(&mut mask).expect("the mask is decided");
        times.push(start.elapsed().as_nanos() as u64);
        let eos = self.constraint.index().vocabulary().eos_tokens()[0];
        if !mask.contains(eos) {
            return Err("EOS not in final mask".into());
        }
        Ok(())
    }
}

fn trellis_variant(index: &TokenIndex, group: Group, grammar_file: Option<PathBuf>) -> Variant {
    let index = index.clone();
    let input = match (&grammar_file, group) {
        (Some(p), _) => p.file_name().unwrap_or_default().to_string_lossy().into_owned(),
        (None, Group::Regex) => "regex".into(),
        (None, _) => "JSON Schema".into(),
    };
    Variant {
        engine: "trellis",
        input,
        all_or_nothing: None,
        compile: Box::new(move |w: &Workload| {
            let grammar = match (&grammar_file, group) {
                (Some(path), _) => CompiledGrammar::from_file(path, None, &Config::default()),
                (None, Group::Regex) => CompiledGrammar::new(&w.source, Format::Regex),
                (None, _) => CompiledGrammar::new(&w.source, Format::JsonSchema),
            }
            .map_err(|e| e.to_string())?;
            let constraint = TokenConstraint::new(&grammar, &index);
            let vocab_len = index.vocabulary().len();
            Ok(Box::new(TrellisCompiled { constraint, vocab_len }) as Box<dyn Compiled>)
        }),
    }
}

// llguidance -----------------------------------------------------------------

struct LlgCompiled {
    matcher: LlgMatcher,
    eos: u32,
}

impl Compiled for LlgCompiled {
    fn run_doc(&self, tokens: &[u32], times: &mut Vec<u64>) -> Result<(), String> {
        // A shallow clone shares the lexer (and its lazily built DFA) with
        // the compiled template, as a server reusing a grammar would.
        let mut matcher = self.matcher.clone();
        for (i, &t) in tokens.iter().enumerate() {
            let start = Instant::now();
            let mask = matcher.compute_mask_or_eos();
            times.push(start.elapsed().as_nanos() as u64);
            let mask = mask.map_err(|e| format!("mask #{i}: {e}"))?;
            if !mask.is_allowed(t) {
                return Err(format!("token #{i} ({t}) not in mask"));
            }
            matcher.consume_token(t).map_err(|e| format!("commit #{i}: {e}"))?;
        }
        let start = Instant::now();
        let mask = matcher.compute_mask_or_eos();
        times.push(start.elapsed().as_nanos() as u64);
        let mask = mask.map_err(|e| format!("final mask: {e}"))?;
        if !mask.is_allowed(self.eos) {
            return Err("EOS not in final mask".into());
        }
        Ok(())
    }
}

fn llg_variant(factory: &Arc<ParserFactory>, eos: u32, input: &str, make: fn(&Workload) -> TopLevelGrammar) -> Variant {
    let factory = factory.clone();
    Variant {
        engine: "llguidance",
        input: input.into(),
        all_or_nothing: None,
        compile: Box::new(move |w: &Workload| {
            let parser = factory.create_parser(make(w)).map_err(|e| e.to_string())?;
            let matcher = LlgMatcher::new(Ok(parser));
            if let Some(e) = matcher.get_error() {
                return Err(e);
            }
            Ok(Box::new(LlgCompiled { matcher, eos }) as Box<dyn Compiled>)
        }),
    }
}

// outlines-core ----------------------------------------------------------------

struct OcCompiled {
    index: OcIndex,
    vocab_len: usize,
    eos: u32,
}

impl Compiled for OcCompiled {
    fn run_doc(&self, tokens: &[u32], times: &mut Vec<u64>) -> Result<(), String> {
        // The mask is a bitset of 32-bit words, filled from the state's
        // allowed tokens, as outlines-core's own `write_mask_into` does.
        let mut mask = vec![0u32; self.vocab_len.div_ceil(32)];
        let mut state = self.index.initial_state();
        let fill = |mask: &mut Vec<u32>, state: u32| {
            mask.fill(0);
            if let Some(tokens) = self.index.allowed_tokens_iter(&state) {
                for &t in tokens {
                    mask[(t / 32) as usize] |= 1 << (t % 32);
                }
            }
        };
        let has = |mask: &[u32], t: u32| mask[(t / 32) as usize] & (1 << (t % 32)) != 0;
        for (i, &t) in tokens.iter().enumerate() {
            let start = Instant::now();
            fill(&mut mask, state);
            times.push(start.elapsed().as_nanos() as u64);
            if !has(&mask, t) {
                return Err(format!("token #{i} ({t}) not in mask"));
            }
            state = self.index.next_state(&state, &t).ok_or_else(|| format!("no transition for token #{i}"))?;
        }
        let start = Instant::now();
        fill(&mut mask, state);
        times.push(start.elapsed().as_nanos() as u64);
        if !has(&mask, self.eos) {
            return Err("EOS not in final mask".into());
        }
        Ok(())
    }
}

fn oc_vocabulary(tokenizer: &Tokenizer) -> OcVocabulary {
    let vocabulary = tokenizer.vocabulary();
    let eos = vocabulary.eos_tokens()[0];
    let mut v = OcVocabulary::new(eos);
    for (id, bytes, kind) in vocabulary.iter() {
        // Only text tokens: outlines-core has no notion of special tokens,
        // whose literal text would otherwise match grammar text.
        if id != eos && kind.is_text() {
            v.try_insert(bytes.to_vec(), id).expect("outlines-core vocabulary insert");
        }
    }
    v
}

/// The number of DFA states bytes can reach from the anchored start of
/// `regex`, counted on regex-automata's lazy DFA (the same determinization
/// as the dense DFA outlines-core builds, without building it), up to
/// `limit` (then `None`). `Index::new` walks the whole vocabulary once from
/// each state it reaches through tokens, so this bounds its cost: about
/// 3.5 ms per state on o200k (measured on the schema-`{}` regex).
fn oc_dfa_states(regex: &str, limit: usize) -> Result<Option<usize>, String> {
    use regex_automata::hybrid::dfa::DFA;
    use regex_automata::{Anchored, Input};
    let dfa = DFA::builder()
        .configure(DFA::config().cache_capacity(1 << 30).skip_cache_capacity_check(true))
        .build(regex)
        .map_err(|e| e.to_string())?;
    let mut cache = dfa.create_cache();
    let start =
        dfa.start_state_forward(&mut cache, &Input::new("").anchored(Anchored::Yes)).map_err(|e| e.to_string())?;
    let mut seen = std::collections::HashSet::from([start]);
    let mut stack = vec![start];
    while let Some(state) = stack.pop() {
        for byte in 0..=255u8 {
            let next = dfa.next_state(&mut cache, state, byte).map_err(|e| e.to_string())?;
            if !next.is_dead() && !next.is_quit() && seen.insert(next) {
                if seen.len() > limit {
                    return Ok(None);
                }
                stack.push(next);
            }
        }
    }
    Ok(Some(seen.len()))
}

fn oc_variant(
    vocab: &Arc<OcVocabulary>,
    vocab_len: usize,
    max_states: usize,
    input: &str,
    regex: fn(&Workload) -> Result<String, String>,
) -> Variant {
    let vocab = vocab.clone();
    Variant {
        engine: "outlines-core",
        input: input.into(),
        all_or_nothing: None,
        compile: Box::new(move |w: &Workload| {
            let rx = regex(w)?;
            let states = oc_dfa_states(&rx, max_states)?;
            eprintln!(
                "[peers]   outlines-core DFA states: {}",
                states.map_or(format!("> {max_states}"), |n| n.to_string())
            );
            if states.is_none() {
                return Err(format!(
                    "skipped: its DFA has more than {max_states} states (--oc-max-states); Index::new walks \
                     the whole vocabulary from each one, ~3.5 ms a state on o200k"
                ));
            }
            let index = OcIndex::new(&rx, &vocab).map_err(|e| e.to_string())?;
            Ok(Box::new(OcCompiled { index, vocab_len, eos: vocab.eos_token_id() }) as Box<dyn Compiled>)
        }),
    }
}

fn oc_schema_regex(schema: &str) -> Result<String, String> {
    outlines_core::json_schema::regex_from_str(schema, None, None).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// Running and reporting.

#[derive(Default)]
struct Stats {
    constraints: usize,
    failed_compile: Vec<String>,
    /// Median compile time of each constraint that compiled.
    compile_ms: Vec<f64>,
    /// The same, by workload file (the JSON documents' group has none: its
    /// engines compile different inputs).
    compile_by_constraint: Vec<(String, f64)>,
    docs: usize,
    docs_ok: usize,
    failures: Vec<String>,
    cold: Vec<u64>,
    warm: Vec<u64>,
    heap_bytes: isize,
}

/// Past this much time compiling one constraint, no more repeats (an
/// outlines-core index can take minutes).
const COMPILE_REPEAT_BUDGET: Duration = Duration::from_secs(1);

fn run_variant(variant: &Variant, workloads: &[Workload], compile_runs: usize) -> Stats {
    let mut stats = Stats { constraints: workloads.len(), ..Stats::default() };
    let heap_before = live_heap();
    let mut compiled = Vec::new();
    for w in workloads {
        // The median of several compiles: one compile of a millisecond is
        // at the mercy of the machine's noise. The last one is kept.
        let mut times = Vec::new();
        let mut result = Err(String::new());
        let mut spent = Duration::ZERO;
        while times.len() < compile_runs.max(1) && spent < COMPILE_REPEAT_BUDGET {
            // The previous compile is dropped before the next one starts.
            drop(std::mem::replace(&mut result, Err(String::new())));
            let start = Instant::now();
            result = (variant.compile)(w);
            let elapsed = start.elapsed();
            spent += elapsed;
            times.push(elapsed.as_secs_f64() * 1000.0);
            if result.is_err() {
                break;
            }
        }
        times.sort_by(f64::total_cmp);
        let ms = times[times.len() / 2];
        let label = w.path.as_deref().unwrap_or(&variant.input);
        eprintln!(
            "[peers]   {label}: {} in {ms:.2} ms (median of {})",
            if result.is_ok() { "compiled" } else { "failed" },
            times.len()
        );
        match result {
            Ok(c) => {
                stats.compile_ms.push(ms);
                if let Some(path) = &w.path {
                    stats.compile_by_constraint.push((path.clone(), ms));
                }
                compiled.push((w, c));
            }
            Err(e) => {
                let label = w.path.clone().unwrap_or_else(|| variant.input.clone());
                stats.failed_compile.push(format!("{label}: {}", first_line(&e)));
            }
        }
    }
    for (pass, times) in [(0, &mut stats.cold), (1, &mut stats.warm)] {
        if pass == 1 {
            compiled.iter().for_each(|(_, c)| c.before_timed_pass());
        }
        for (w, c) in &compiled {
            for (d, doc) in w.docs.iter().enumerate() {
                let mut t = Vec::with_capacity(doc.len() + 1);
                let result = c.run_doc(doc, &mut t);
                times.extend_from_slice(&t);
                if pass == 1 {
                    stats.docs += 1;
                    match result {
                        Ok(()) => stats.docs_ok += 1,
                        Err(e) => {
                            let label = w.path.clone().unwrap_or_else(|| variant.input.clone());
                            stats.failures.push(format!("{label} doc {d}: {e}"));
                        }
                    }
                }
            }
        }
    }
    stats.heap_bytes = live_heap() as isize - heap_before as isize;
    drop(compiled);
    stats.cold.sort_unstable();
    stats.warm.sort_unstable();
    stats
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    match line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

struct Row {
    group: Group,
    engine: &'static str,
    input: String,
    stats: Option<Stats>,
    na: Option<String>,
}

fn print_table(rows: &[Row], detail: bool) {
    let header = [
        "workload",
        "engine",
        "input",
        "ok docs",
        "tokens",
        "compile ms (sum)",
        "compile ms (max)",
        "mask p50 µs",
        "p99 µs",
        "max µs",
        "cold p50 µs",
        "cold p99 µs",
        "cold max µs",
        "heap MB",
        "trellis/peer: p50, p99, compile",
    ];
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut notes = Vec::new();
    for row in rows {
        let mut cells = vec![row.group.name().to_string(), row.engine.to_string(), row.input.clone()];
        match (&row.stats, &row.na) {
            (Some(s), None) if !s.compile_ms.is_empty() => {
                let sum: f64 = s.compile_ms.iter().sum();
                let max = s.compile_ms.iter().cloned().fold(0.0, f64::max);
                cells.push(format!("{}/{}", s.docs_ok, s.docs));
                cells.push(format!("{}", s.warm.len()));
                cells.push(format!("{sum:.1}"));
                cells.push(format!("{max:.1}"));
                cells.push(fmt_us(percentile(&s.warm, 0.5)));
                cells.push(fmt_us(percentile(&s.warm, 0.99)));
                cells.push(fmt_us(percentile(&s.warm, 1.0)));
                cells.push(fmt_us(percentile(&s.cold, 0.5)));
                cells.push(fmt_us(percentile(&s.cold, 0.99)));
                cells.push(fmt_us(percentile(&s.cold, 1.0)));
                cells.push(format!("{:.2}", mb(s.heap_bytes)));
                cells.push(ratio_cell(row, rows));
                if !s.failed_compile.is_empty() {
                    notes.push(format!(
                        "{} / {} ({}): {} of {} constraints did not compile: {}",
                        row.group.name(),
                        row.engine,
                        row.input,
                        s.failed_compile.len(),
                        s.constraints,
                        s.failed_compile.join("; ")
                    ));
                }
                if !s.failures.is_empty() {
                    let shown: Vec<_> =
                        if detail { s.failures.clone() } else { s.failures.iter().take(3).cloned().collect() };
                    notes.push(format!(
                        "{} / {} ({}): {} documents rejected: {}{}",
                        row.group.name(),
                        row.engine,
                        row.input,
                        s.failures.len(),
                        shown.join("; "),
                        if shown.len() < s.failures.len() { "; …" } else { "" }
                    ));
                }
            }
            (stats, na) => {
                let reason = match (stats, na) {
                    (_, Some(r)) => r.clone(),
                    (Some(s), None) => format!("nothing compiled: {}", s.failed_compile.join("; ")),
                    (None, None) => "not run".into(),
                };
                cells.push("n/a".into());
                cells.extend(std::iter::repeat_n("-".to_string(), header.len() - cells.len()));
                notes.push(format!("{} / {} ({}): n/a — {reason}", row.group.name(), row.engine, row.input));
            }
        }
        lines.push(cells);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| lines.iter().map(|l| l[i].chars().count()).chain([header[i].chars().count()]).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    let fmt_line = |cells: &[String], out: &mut String| {
        out.push('|');
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i < 3 {
                let _ = write!(out, " {c}{} |", " ".repeat(pad));
            } else {
                let _ = write!(out, " {}{c} |", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    fmt_line(&header.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &mut out);
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        out.push_str(&if i < 3 { format!(":{}|", "-".repeat(w + 1)) } else { format!("{}:|", "-".repeat(w + 1)) });
    }
    out.push('\n');
    for l in &lines {
        fmt_line(l, &mut out);
    }
    print!("{out}");
    if !notes.is_empty() {
        println!();
        for n in notes {
            println!("- {n}");
        }
    }
}

/// Per constraint file, each engine's median compile time beside
/// Trellis's (its first row of the workload), where both compiled it.
fn print_compile_detail(rows: &[Row]) {
    fn compiled(row: &Row) -> Option<&Vec<(String, f64)>> {
        row.stats.as_ref().filter(|_| row.na.is_none()).map(|s| &s.compile_by_constraint)
    }
    for group_rows in rows.chunk_by(|a, b| a.group == b.group) {
        let Some(trellis) = group_rows.iter().find(|r| r.engine == "trellis").and_then(compiled) else { continue };
        let peers: Vec<&Row> =
            group_rows.iter().filter(|r| r.engine != "trellis" && compiled(r).is_some_and(|c| !c.is_empty())).collect();
        if peers.is_empty() {
            continue;
        }
        println!();
        let mut header = format!("| {} constraint | trellis ms |", group_rows[0].group.name());
        for peer in &peers {
            let _ = write!(header, " {} ({}) ms | trellis/peer |", peer.engine, peer.input);
        }
        println!("{header}");
        println!("|:--|--:|{}", "--:|--:|".repeat(peers.len()));
        for (label, ms) in trellis {
            let mut line = format!("| {label} | {ms:.2} |");
            for peer in &peers {
                match compiled(peer).and_then(|c| c.iter().find(|(l, _)| l == label)) {
                    Some((_, peer_ms)) => {
                        let _ = write!(line, " {peer_ms:.2} | {:.2}× |", ms / peer_ms);
                    }
                    None => line.push_str(" - | - |"),
                }
            }
            println!("{line}");
        }
    }
}

/// Trellis's figures over this peer's (same workload, Trellis's first row):
/// below 1 means Trellis is faster.
fn ratio_cell(row: &Row, rows: &[Row]) -> String {
    if row.engine == "trellis" {
        return String::new();
    }
    let Some(trellis) = rows
        .iter()
        .find(|r| r.group == row.group && r.engine == "trellis" && r.na.is_none())
        .and_then(|r| r.stats.as_ref())
        .filter(|s| !s.compile_ms.is_empty())
    else {
        return "n/a".into();
    };
    let Some(peer) = &row.stats else { return "n/a".into() };
    let ratio = |a: f64, b: f64| if b > 0.0 { format!("{:.2}×", a / b) } else { "-".into() };
    let sum = |s: &Stats| s.compile_ms.iter().sum::<f64>();
    let subset = if peer.docs != trellis.docs { " (peer on fewer docs)" } else { "" };
    format!(
        "{}, {}, {}{subset}",
        ratio(percentile(&trellis.warm, 0.5), percentile(&peer.warm, 0.5)),
        ratio(percentile(&trellis.warm, 0.99), percentile(&peer.warm, 0.99)),
        ratio(sum(trellis), sum(peer)),
    )
}

fn main() {
    let mut vocab_name = "o200k_base".to_string();
    let mut dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/workloads"));
    let mut groups = Vec::new();
    let mut skip: Vec<String> = Vec::new();
    let mut detail = false;
    let mut oc_max_states = 20_000;
    let mut compile_runs = 5;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--vocab" => vocab_name = args.next().expect("--vocab NAME"),
            "--workloads" => dir = PathBuf::from(args.next().expect("--workloads DIR")),
            "--only" => {
                groups.push(Group::parse(&args.next().expect("--only GROUP")).expect("--only json|regex|schema"))
            }
            "--skip" => skip.push(args.next().expect("--skip ENGINE")),
            "--detail" => detail = true,
            "--oc-max-states" => oc_max_states = args.next().and_then(|n| n.parse().ok()).expect("--oc-max-states N"),
            "--compile-runs" => compile_runs = args.next().and_then(|n| n.parse().ok()).expect("--compile-runs N"),
            _ => {
                eprintln!(
                    "usage: peers [--vocab o200k_base|cl100k_base|r50k_base] [--workloads DIR] \
                     [--only json|regex|schema]... [--skip trellis|llguidance|outlines-core]... [--detail] [--oc-max-states N] \
                     [--compile-runs N]"
                );
                std::process::exit(2);
            }
        }
    }
    if groups.is_empty() {
        groups = vec![Group::Json, Group::Regex, Group::Schema];
    }
    let library = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../grammars/library"));

    let tokenizer = Arc::new(Tokenizer::tiktoken(&vocab_name).expect("tiktoken vocabulary"));
    let vocabulary = tokenizer.vocabulary().clone();
    let vocab_len = vocabulary.len();
    let eos = vocabulary.eos_tokens()[0];

    // Per-vocabulary setup, once, shared by every constraint.
    let mut setup = Vec::new();
    let (h, t) = (live_heap(), Instant::now());
    let index = TokenIndex::new(vocabulary.clone());
    setup.push(("trellis", "TokenIndex::new (token trie)", t.elapsed(), live_heap() as isize - h as isize));
    let (h, t) = (live_heap(), Instant::now());
    let env = llg_env(&tokenizer);
    let mut factory = ParserFactory::new_simple(&env).expect("llguidance ParserFactory");
    factory.quiet();
    let factory = Arc::new(factory);
    setup.push((
        "llguidance",
        "TokTrie::from + ParserFactory::new_simple",
        t.elapsed(),
        live_heap() as isize - h as isize,
    ));
    let (h, t) = (live_heap(), Instant::now());
    let oc_vocab = Arc::new(oc_vocabulary(&tokenizer));
    setup.push(("outlines-core", "Vocabulary (try_insert per token)", t.elapsed(), live_heap() as isize - h as isize));

    println!(
        "# Peers side by side — vocabulary tiktoken:{vocab_name} ({vocab_len} ids, EOS {eos}), workloads {}",
        dir.display()
    );
    println!();
    println!("Per-vocabulary setup (once, shared by all constraints):");
    println!();
    println!("| engine | what | ms | heap MB |");
    println!("|:--|:--|--:|--:|");
    for (engine, what, d, bytes) in &setup {
        println!("| {engine} | {what} | {:.1} | {:.1} |", d.as_secs_f64() * 1000.0, mb(*bytes));
    }
    println!();

    let mut rows = Vec::new();
    for group in groups {
        let workloads = load_group(group, &dir, &tokenizer);
        let mut variants: Vec<Result<Variant, (&'static str, String, String)>> = Vec::new();
        match group {
            Group::Json => {
                variants.push(Ok(trellis_variant(&index, group, Some(library.join("json.lark")))));
                variants.push(Ok(trellis_variant(&index, group, Some(library.join("json.gbnf")))));
                variants.push(Ok(llg_variant(&factory, eos, "json.lark (lark)", |_| {
                    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../grammars/library/json.lark");
                    TopLevelGrammar::from_lark(std::fs::read_to_string(path).expect("json.lark"))
                })));
                variants.push(Ok(llg_variant(&factory, eos, "JSON Schema {}", |_| {
                    TopLevelGrammar::from_json_schema(serde_json::json!({}))
                })));
                // Whitespace as JSON allows it (the default, `[ ]?`, rejects
                // the pretty-printed documents at their first newline).
                let mut oc = oc_variant(&oc_vocab, vocab_len, oc_max_states, "regex of JSON Schema {}", |_| {
                    outlines_core::json_schema::regex_from_str("{}", Some(r"[ \t\n\r]*"), None)
                        .map_err(|e| e.to_string())
                });
                oc.all_or_nothing = Some(
                    "the regex outlines-core derives from schema {} bounds the nesting depth of objects and arrays \
                     (it cannot express arbitrary-depth JSON), and rejects documents that nest deeper",
                );
                variants.push(Ok(oc));
            }
            Group::Regex => {
                variants.push(Ok(trellis_variant(&index, group, None)));
                variants.push(Ok(llg_variant(&factory, eos, "regex (TopLevelGrammar::from_regex)", |w| {
                    TopLevelGrammar::from_regex(&w.source)
                })));
                variants.push(Ok(oc_variant(&oc_vocab, vocab_len, oc_max_states, "regex", |w| Ok(w.source.clone()))));
            }
            Group::Schema => {
                variants.push(Ok(trellis_variant(&index, group, None)));
                variants.push(Ok(llg_variant(&factory, eos, "JSON Schema", |w| {
                    TopLevelGrammar::from_json_schema(serde_json::from_str(&w.source).expect("schema JSON"))
                })));
                variants.push(Ok(oc_variant(&oc_vocab, vocab_len, oc_max_states, "regex of JSON Schema", |w| {
                    oc_schema_regex(&w.source)
                })));
            }
        }
        for v in variants {
            match v {
                Ok(v) if skip.iter().any(|s| s == v.engine) => {
                    rows.push(Row { group, engine: v.engine, input: v.input, stats: None, na: Some("skipped".into()) })
                }
                Ok(v) => {
                    eprintln!("[peers] {} / {} ({}) …", group.name(), v.engine, v.input);
                    let stats = run_variant(&v, &workloads, compile_runs);
                    let na = match v.all_or_nothing {
                        Some(why) if stats.docs_ok < stats.docs => Some(format!(
                            "{why}: {} of {} documents rejected ({}). Partial figures on the accepted ones: \
                             compile {:.0} ms, mask p50 {} µs, p99 {} µs, max {} µs, heap {:.0} MB",
                            stats.docs - stats.docs_ok,
                            stats.docs,
                            stats.failures.join("; "),
                            stats.compile_ms.iter().sum::<f64>(),
                            fmt_us(percentile(&stats.warm, 0.5)),
                            fmt_us(percentile(&stats.warm, 0.99)),
                            fmt_us(percentile(&stats.warm, 1.0)),
                            mb(stats.heap_bytes),
                        )),
                        _ => None,
                    };
                    rows.push(Row { group, engine: v.engine, input: v.input, stats: Some(stats), na });
                }
                Err((engine, input, why)) => rows.push(Row { group, engine, input, stats: None, na: Some(why) }),
            }
        }
    }
    print_table(&rows, detail);
    if detail {
        print_compile_detail(&rows);
    }
    println!();
    println!(
        "Mask times: per token, the full mask before the token plus one final mask (must allow EOS). \
         Warm = second pass over the same documents after an untimed-for-the-table first pass (cold). \
         heap MB = live heap held by the compiled constraints after both passes (counting allocator). \
         Ratios are Trellis (first row of the workload) over the peer: below 1 means Trellis is faster/smaller."
    );
}
