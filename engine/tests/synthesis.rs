//! The synthesis loop (`trellis_engine::synthesis`) on a tiny table model
//! and stub checkers: every candidate is in the grammar, whatever the
//! sampler; repair stops at the first pass; a crashing or hanging test or
//! run is that candidate's failure, never the loop's; and clusters are
//! exactly the groups of candidates whose outputs agree.

mod sampler_support;

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use trellis_engine::command::CommandLimits;
use trellis_engine::model::TableModel;
use trellis_engine::sampler::{
    Decoding, Finish, MaskedDecoder, RejectionConfig, RejectionSampler, Sampler, Smc, SmcConfig,
};
use trellis_engine::synthesis::{
    CommandChecker, CommandRunner, Observation, Problem, Synthesis, SynthesisConfig, Synthesizer, Verdict,
};
use trellis_grammars::{CompiledGrammar, Format};
use trellis_token_index::{TokenConstraint, TokenId, TokenIndex};

/// Sums of 1, 2 and 3, with tokens that cross the grammar's boundaries
/// ("+1", "2+") and some it never allows ("x", "(").
const GRAMMAR: &str = r#"root ::= [1-3] ("+" [1-3])*"#;

struct Setup {
    model: TableModel,
    grammar: CompiledGrammar,
    constraint: TokenConstraint,
}

fn setup(seed: u64) -> Setup {
    let vocabulary = sampler_support::vocabulary(&["1", "2", "3", "+", "+1", "2+", "x", "("]);
    let model = TableModel::random(vocabulary.clone(), 1, seed).expect("a small table");
    let grammar = CompiledGrammar::new(GRAMMAR, Format::Gbnf).expect("the grammar");
    let constraint = TokenConstraint::new(&grammar, &TokenIndex::new(vocabulary));
    Setup { model, grammar, constraint }
}

fn sum(text: &[u8]) -> u32 {
    text.iter().filter(|b| b.is_ascii_digit()).map(|b| u32::from(b - b'0')).sum()
}

fn masked() -> Sampler<'static> {
    Sampler::Masked(MaskedDecoder::new(Decoding::default()).expect("valid decoding"))
}

/// Every text the checker sees, and every candidate, is in the language —
/// for masked decoding, rejection sampling and SMC alike.
#[test]
fn every_candidate_is_in_the_grammar_whatever_the_sampler() {
    let samplers = [
        masked(),
        Sampler::Rejection(RejectionSampler::new(RejectionConfig { max_tries: 200, batch: 1 }).expect("valid")),
        Sampler::Smc(Smc::new(SmcConfig { particles: 4, ..SmcConfig::default() }).expect("valid")),
    ];
    for (which, sampler) in samplers.into_iter().enumerate() {
        let mut s = setup(11 + which as u64);
        let seen = RefCell::new(Vec::new());
        let mut checker = |text: &[u8]| {
            seen.borrow_mut().push(text.to_vec());
            match sum(text) % 2 {
                0 => Verdict::Pass,
                _ => Verdict::fail("odd"),
            }
        };
        let mut encode = |_: &str| Ok(vec![1]);
        let mut problem = Problem::new("sum", &mut encode, &mut checker, 6).with_constraint(&s.constraint);
        let config = SynthesisConfig { candidates: 24, repair_rounds: 1, ..SynthesisConfig::default() };
        let synthesis = Synthesizer::new(sampler, config)
            .expect("valid")
            .run(&mut s.model, &mut problem, &mut StdRng::seed_from_u64(3))
            .expect("a synthesis");
        let seen = seen.into_inner();
        assert!(!seen.is_empty(), "sampler {which}: nothing reached the checker");
        for text in &seen {
            assert!(
                s.grammar.accepts(text),
                "sampler {which}: {:?} is not in the grammar",
                String::from_utf8_lossy(text)
            );
        }
        for attempt in synthesis.candidates.iter().flat_map(|c| &c.attempts) {
            assert_eq!(attempt.verdict.is_some(), attempt.finish == Finish::Eos, "{attempt:?}");
            if attempt.finish == Finish::Eos {
                assert!(s.grammar.accepts(&attempt.text), "{attempt:?}");
            }
        }
        assert_eq!(
            synthesis.stats.valid,
            synthesis.candidates.iter().flat_map(|c| &c.attempts).filter(|a| a.verdict.is_some()).count()
        );
    }
}

/// Each repair starts from the last rejected attempt and its message, and
/// the rounds stop at the first pass or after the budget.
#[test]
fn repair_rounds_stop_at_the_first_pass() {
    let mut s = setup(5);
    let prompts = RefCell::new(Vec::new());
    let mut encode = |text: &str| {
        prompts.borrow_mut().push(text.to_string());
        Ok(vec![1])
    };
    let mut checker = |text: &[u8]| match sum(text) {
        4 => Verdict::Pass,
        other => Verdict::fail(format!("the sum is {other}")),
    };
    let rounds = 3;
    let mut problem = Problem::new("make 4", &mut encode, &mut checker, 6).with_constraint(&s.constraint);
    let config = SynthesisConfig { candidates: 40, repair_rounds: rounds, ..SynthesisConfig::default() };
    let synthesis = Synthesizer::new(masked(), config)
        .expect("valid")
        .run(&mut s.model, &mut problem, &mut StdRng::seed_from_u64(8))
        .expect("a synthesis");
    let prompts = prompts.into_inner();
    let stats = &synthesis.stats;
    // The test has power only if some repairs succeed and some do not.
    assert!(stats.repairs_succeeded > 0 && stats.repairs_tried > stats.repairs_succeeded, "{stats:?}");
    assert_eq!(prompts.len(), 1 + stats.repairs_tried);
    assert_eq!(stats.sampled, 40 + stats.repairs_tried);
    assert_eq!(stats.passed, stats.passed_first + stats.repairs_succeeded);

    let mut repair_prompts = prompts[1..].iter();
    for candidate in &synthesis.candidates {
        let attempts = &candidate.attempts;
        assert!(attempts.len() <= rounds + 1);
        let passes: Vec<bool> = attempts.iter().map(|a| a.verdict.as_ref().is_some_and(Verdict::passed)).collect();
        // Only the last attempt may pass.
        assert!(passes[..passes.len() - 1].iter().all(|&p| !p), "{attempts:?}");
        assert_eq!(candidate.passed(), passes[passes.len() - 1]);
        // A rejected first sample uses the whole budget; an invalid one is
        // never repaired.
        match (&attempts[0].verdict, candidate.passed()) {
            (None, _) => assert_eq!(attempts.len(), 1),
            (Some(_), false) => assert_eq!(attempts.len(), rounds + 1, "{attempts:?}"),
            (Some(_), true) => {}
        }
        // Each repair prompt holds the last rejected attempt and its error.
        let mut last_rejected: Option<(String, &String)> = None;
        for attempt in attempts {
            if let Some((text, message)) = &last_rejected {
                let prompt = repair_prompts.next().expect("a prompt per repair");
                assert!(prompt.starts_with("make 4\n"), "{prompt}");
                assert!(prompt.contains(&format!("was:\n{text}\n")) && prompt.contains(message.as_str()), "{prompt}");
            }
            if let Some(Verdict::Fail { message }) = &attempt.verdict {
                last_rejected = Some((String::from_utf8_lossy(&attempt.text).into_owned(), message));
            }
        }
    }
    assert!(repair_prompts.next().is_none());
}

/// A test that hangs or crashes on some candidates, and a run that hangs
/// or floods, are failures of those candidates; the loop finishes.
#[test]
fn a_crashing_or_hanging_command_fails_only_that_candidate() {
    let mut s = setup(2);
    let limits = CommandLimits { timeout: Duration::from_millis(200), max_stdout: 64, ..CommandLimits::default() };
    // By first digit: 1 hangs, 2 crashes, 3 passes.
    let mut checker = CommandChecker::with_limits(
        r#"case "$(cat)" in 1*) sleep 30 ;; 2*) kill -SEGV $$ ;; *) exit 0 ;; esac"#,
        limits,
    );
    // Sums ending in 1 hang, in 2 flood stdout, others print the input.
    let mut runner = CommandRunner::with_limits(
        r#"case "$(cat "$TRELLIS_CANDIDATE")" in *1) sleep 30 ;; *2) yes ;; *) cat ;; esac"#,
        limits,
    );
    let inputs = [b"a".to_vec()];
    let mut encode = |_: &str| Ok(vec![1]);
    let mut problem = Problem::new("p", &mut encode, &mut checker, 3)
        .with_constraint(&s.constraint)
        .with_inputs(&mut runner, &inputs);
    let config = SynthesisConfig { candidates: 8, ..SynthesisConfig::default() };
    let synthesis = Synthesizer::new(masked(), config)
        .expect("valid")
        .run(&mut s.model, &mut problem, &mut StdRng::seed_from_u64(1))
        .expect("the loop survives its commands");
    let mut kinds = HashMap::new();
    for attempt in synthesis.candidates.iter().flat_map(|c| &c.attempts) {
        let Some(verdict) = &attempt.verdict else { continue };
        let expected = match attempt.text.first() {
            Some(b'1') => Some("timed out after 0.2 s (killed)"),
            Some(b'2') => Some("killed by signal 11"),
            _ => None,
        };
        assert_eq!(verdict.message(), expected, "{attempt:?}");
        *kinds.entry(attempt.text[0]).or_insert(0) += 1;
    }
    assert!(kinds.len() == 3, "the seed should meet all three kinds of candidate: {kinds:?}");
    for cluster in &synthesis.clusters {
        let text = synthesis.candidates[cluster.members[0]].text();
        let expected = match text.last() {
            Some(b'1') => Observation::Failure("timed out after 0.2 s (killed)".into()),
            Some(b'2') => Observation::Failure("wrote more than 64 bytes (killed)".into()),
            _ => Observation::Output(b"a".to_vec()),
        };
        assert_eq!(cluster.behaviour, vec![expected], "{:?}", String::from_utf8_lossy(text));
    }
}

/// The behaviour a runner gives a sum on input n: the sum mod n.
fn behaviour(text: &[u8], inputs: &[Vec<u8>]) -> Vec<Observation> {
    inputs
        .iter()
        .map(|input| {
            let n: u32 = String::from_utf8_lossy(input).parse().expect("a number");
            Observation::Output((sum(text) % n).to_string().into_bytes())
        })
        .collect()
}

fn cluster(seed: u64, inputs: Option<&[Vec<u8>]>) -> Synthesis {
    let mut s = setup(seed);
    let mut checker = |_: &[u8]| Verdict::Pass;
    let mut runner = |text: &[u8], input: &[u8]| behaviour(text, &[input.to_vec()]).remove(0);
    let mut encode = |_: &str| Ok::<Vec<TokenId>, String>(vec![1]);
    let mut problem = Problem::new("p", &mut encode, &mut checker, 6).with_constraint(&s.constraint);
    if let Some(inputs) = inputs {
        problem = problem.with_inputs(&mut runner, inputs);
    }
    let config = SynthesisConfig { candidates: 60, ..SynthesisConfig::default() };
    Synthesizer::new(masked(), config)
        .expect("valid")
        .run(&mut s.model, &mut problem, &mut StdRng::seed_from_u64(seed))
        .expect("a synthesis")
}

#[test]
fn clusters_are_exactly_the_candidates_whose_outputs_agree() {
    let inputs = [b"2".to_vec(), b"3".to_vec()];
    let synthesis = cluster(4, Some(&inputs));
    let passing: Vec<usize> = (0..synthesis.candidates.len()).filter(|&i| synthesis.candidates[i].passed()).collect();
    let of = |i: usize| behaviour(synthesis.candidates[i].text(), &inputs);
    let mut cluster_of = HashMap::new();
    for (number, cluster) in synthesis.clusters.iter().enumerate() {
        assert!(!cluster.members.is_empty());
        for &member in &cluster.members {
            assert!(cluster_of.insert(member, number).is_none(), "{member} is in two clusters");
            assert_eq!(of(member), cluster.behaviour);
        }
    }
    assert_eq!(cluster_of.len(), passing.len());
    // Same cluster iff same outputs, over every pair.
    for &a in &passing {
        for &b in &passing {
            assert_eq!(cluster_of[&a] == cluster_of[&b], of(a) == of(b), "{a} and {b}");
        }
    }
    let sizes: Vec<usize> = synthesis.clusters.iter().map(|c| c.members.len()).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first: {sizes:?}");
    // Mod 2 and mod 3 give at most 6 behaviours; there are more texts.
    let texts: std::collections::HashSet<&[u8]> = passing.iter().map(|&i| synthesis.candidates[i].text()).collect();
    assert!(sizes.len() > 1 && texts.len() > sizes.len(), "{} texts, clusters {sizes:?}", texts.len());

    // Without inputs, candidates group by text.
    let by_text = cluster(4, None);
    assert_eq!(by_text.clusters.len(), texts.len());
    for c in &by_text.clusters {
        assert!(c.members.iter().all(|&m| by_text.candidates[m].text() == by_text.candidates[c.members[0]].text()));
        assert!(c.behaviour.is_empty());
    }
}
