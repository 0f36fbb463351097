//! How compile and check times grow on the inputs of issue 15, in a release
//! build: `cargo run --release -p trellis-grammars --example scaling`.
//!
//! * a chain of non-recursive GBNF rules with `|` (each rule inlined into the
//!   one above it): compile time and the check of `w0z1`;
//! * `x ::= x x | "a"`, the most ambiguous grammar: checking `a` repeated;
//! * counted repetitions: the regex `a{n}` and JSON Schema `maxLength: n`.
//!
//! Give a section name (`chain`, `lark`, `catalan`, `catalan-unbounded`,
//! `counted`) to run only that one.

use std::time::Instant;

use trellis_grammars::{CompiledGrammar, Config, Format, MatcherLimits};

fn chain(n: usize) -> String {
    let mut text = String::from("root ::= r0\n");
    for i in 0..n {
        text.push_str(&format!("r{i} ::= \"w{i}\" r{} | \"z{i}\"\n", i + 1));
    }
    text.push_str(&format!("r{n} ::= \"end\"\n"));
    text
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    println!("{what}: {:.3} s", start.elapsed().as_secs_f64());
    value
}

fn main() {
    let only = std::env::args().nth(1);
    let run = |section: &str| only.as_deref().is_none_or(|only| only == section);
    if run("chain") {
        for n in [1_000, 3_000, 5_000, 20_000] {
            let text = chain(n);
            let grammar = timed(&format!("chain of {n} rules: compile"), || CompiledGrammar::new(&text, Format::Gbnf));
            match grammar {
                Ok(grammar) => println!("  check w0z1: {:?}", grammar.check(b"w0z1")),
                Err(error) => println!("  error: {error}"),
            }
        }
    }
    if run("lark") {
        for n in [300, 1_000, 3_000] {
            let mut text = String::from("start: T0\n");
            for i in 0..n {
                text.push_str(&format!("T{i}: \"w{i}\" T{} | \"z{i}\"\n", i + 1));
            }
            text.push_str(&format!("T{n}: \"end\"\n"));
            let ebnf = timed(&format!("lark chain of {n} terminals: parse"), || trellis_grammars::lark::parse(&text));
            let ebnf = ebnf.expect("parses");
            let grammar = timed("  compile", || CompiledGrammar::from_ebnf(&ebnf, &Default::default()));
            match grammar {
                Ok(grammar) => println!("  check w0z1: {:?}", grammar.check(b"w0z1")),
                Err(error) => println!("  error: {error}"),
            }
        }
    }
    if run("catalan") {
        let grammar = CompiledGrammar::new("root ::= x\nx ::= x x | \"a\"", Format::Gbnf).expect("compiles");
        for n in [100, 200, 400, 1_000, 3_000] {
            let verdict = timed(&format!("x ::= x x | \"a\" on {n} bytes"), || grammar.check(&vec![b'a'; n]));
            println!("  {verdict:?}");
        }
    }
    if run("catalan-unbounded") {
        let config = Config {
            matcher: MatcherLimits { max_glr_steps: usize::MAX, ..MatcherLimits::default() },
            ..Config::default()
        };
        let grammar =
            CompiledGrammar::with_config("root ::= x\nx ::= x x | \"a\"", Format::Gbnf, &config).expect("compiles");
        for n in [100, 200, 400, 800] {
            let verdict =
                timed(&format!("x ::= x x | \"a\" on {n} bytes, no GLR limit"), || grammar.check(&vec![b'a'; n]));
            println!("  {verdict:?}");
        }
    }
    if run("counted") {
        for n in [10_000, 100_000, 1_000_000] {
            let grammar = timed(&format!("regex a{{{n}}}: compile"), || {
                CompiledGrammar::new(&format!("a{{{n}}}"), Format::Regex)
            });
            match grammar {
                Ok(grammar) => {
                    let verdict = timed("  check", || grammar.check(&vec![b'a'; n]));
                    println!("  {verdict:?}");
                }
                Err(error) => println!("  error: {error}"),
            }
        }
        for n in [1_000, 10_000, 100_000, 200_000] {
            let schema = format!(
                r#"{{"type": "object", "properties": {{"text": {{"type": "string", "maxLength": {n}}}}}, "required": ["text"]}}"#
            );
            let grammar =
                timed(&format!("schema maxLength {n}: compile"), || CompiledGrammar::new(&schema, Format::JsonSchema));
            match grammar {
                Ok(grammar) => {
                    let document = format!(r#"{{"text": "{}"}}"#, "é".repeat(n));
                    let verdict = timed("  check", || grammar.check(document.as_bytes()));
                    println!("  {verdict:?}");
                }
                Err(error) => println!("  error: {error}"),
            }
        }
    }
}
