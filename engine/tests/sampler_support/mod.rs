//! Shared by the sampler tests: tiny vocabularies, exact enumeration of the
//! target, and the goodness-of-fit statistics (chi-square, Hotelling's T²,
//! KL) that judge samples against it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use trellis_engine::model::TableModel;
use trellis_engine::sampler::Sample;
use trellis_token_index::{TokenConstraint, TokenId, TokenKind, TokenMatcher, Vocabulary};

/// A 0/1 verdict on a finished text.
pub type VerifierFn = dyn Fn(&[u8]) -> bool;
/// `ln φ` of a finished text.
pub type LogFinalFn = dyn Fn(&[u8]) -> f64;

/// A vocabulary whose token 0 is EOS (special) and the rest are `texts`.
pub fn vocabulary(texts: &[&str]) -> Arc<Vocabulary> {
    let mut tokens = vec![(b"<eos>".to_vec(), TokenKind::Special)];
    tokens.extend(texts.iter().map(|t| (t.as_bytes().to_vec(), TokenKind::Normal)));
    Arc::new(Vocabulary::from_tokens(tokens, vec![0], None).expect("a valid vocabulary"))
}

/// A complete output as the tests key it: its tokens and then its EOS.
pub fn key(sample: &Sample) -> Vec<TokenId> {
    let mut key = sample.tokens.clone();
    key.extend(sample.eos);
    key
}

/// Every output `y` (≤ `max_tokens` tokens, then EOS) of the target with its
/// unnormalised mass `a(y)·b(y)·φ(y)`, by depth-first enumeration: the
/// definition the samplers document (engine::sampler, "The target").
pub fn enumerate(
    model: &TableModel,
    prompt: &[TokenId],
    constraint: &TokenConstraint,
    max_tokens: usize,
    verifier: Option<&VerifierFn>,
    log_final: Option<&LogFinalFn>,
) -> Vec<(Vec<TokenId>, f64)> {
    let mut out = Vec::new();
    let mut history = prompt.to_vec();
    let mut text = Vec::new();
    walk(
        model,
        constraint.matcher(),
        &mut history,
        prompt.len(),
        &mut text,
        0.0,
        max_tokens,
        verifier,
        log_final,
        &mut out,
    );
    out
}

#[allow(clippy::too_many_arguments)]
fn walk(
    model: &TableModel,
    matcher: TokenMatcher,
    history: &mut Vec<TokenId>,
    prompt_len: usize,
    text: &mut Vec<u8>,
    log_prefix: f64,
    max_tokens: usize,
    verifier: Option<&VerifierFn>,
    log_final: Option<&LogFinalFn>,
    out: &mut Vec<(Vec<TokenId>, f64)>,
) {
    let logprobs = model.next_logprobs(history).expect("tokens in range").to_vec();
    let vocabulary = model_vocabulary(model);
    for (token, &lp) in logprobs.iter().enumerate() {
        let token = token as TokenId;
        if lp == f32::NEG_INFINITY || !matcher.is_allowed(token).expect("a known token") {
            continue;
        }
        let log_mass = log_prefix + f64::from(lp);
        if vocabulary.is_eos(token) {
            if verifier.is_some_and(|v| !v(text)) {
                continue;
            }
            let phi = log_final.map_or(0.0, |f| f(text));
            let mut key = history[prompt_len..].to_vec();
            key.push(token);
            out.push((key, (log_mass + phi).exp()));
        } else if history.len() - prompt_len < max_tokens {
            let mut next = matcher.clone();
            next.commit(token).expect("an allowed token");
            let len = text.len();
            text.extend_from_slice(vocabulary.token_bytes(token).unwrap_or_default());
            history.push(token);
            walk(model, next, history, prompt_len, text, log_mass, max_tokens, verifier, log_final, out);
            history.pop();
            text.truncate(len);
        }
    }
}

fn model_vocabulary(model: &TableModel) -> Arc<Vocabulary> {
    use trellis_engine::model::LanguageModel;
    Arc::clone(model.vocabulary())
}

/// The result of comparing samples with the exact target.
#[derive(Debug)]
pub struct Fit {
    pub statistic: f64,
    pub dof: usize,
    pub p_value: f64,
    /// KL(g ‖ ĝ) over the merged cells, in nats.
    pub kl: f64,
    /// Samples outside the target's support (must be 0).
    pub impossible: u64,
}

/// The cells of a test: outputs with probability ≥ `min_probability` each
/// get a cell; the rest share one. Returns the cell of each output and the
/// cells' probabilities.
pub fn cells(target: &[(Vec<TokenId>, f64)], min_probability: f64) -> (HashMap<Vec<TokenId>, usize>, Vec<f64>) {
    let z: f64 = target.iter().map(|(_, m)| m).sum();
    let mut index = HashMap::new();
    let mut probabilities = Vec::new();
    let mut rest = 0.0;
    let mut rare = Vec::new();
    for (key, mass) in target {
        let p = mass / z;
        if p >= min_probability {
            index.insert(key.clone(), probabilities.len());
            probabilities.push(p);
        } else {
            rest += p;
            rare.push(key.clone());
        }
    }
    if !rare.is_empty() {
        for key in rare {
            index.insert(key, probabilities.len());
        }
        probabilities.push(rest);
    }
    (index, probabilities)
}

/// Pearson's chi-square test of `samples` against the normalised target,
/// with cells of expected count below 5 merged.
pub fn chi_square(target: &[(Vec<TokenId>, f64)], samples: &HashMap<Vec<TokenId>, u64>) -> Fit {
    let n: u64 = samples.values().sum();
    let (index, probabilities) = cells(target, 5.0 / n as f64);
    let mut observed = vec![0u64; probabilities.len()];
    let mut impossible = 0;
    for (key, &count) in samples {
        match index.get(key) {
            Some(&cell) => observed[cell] += count,
            None => impossible += count,
        }
    }
    let statistic: f64 = observed
        .iter()
        .zip(&probabilities)
        .map(|(&o, &p)| {
            let e = p * n as f64;
            (o as f64 - e).powi(2) / e
        })
        .sum();
    let dof = probabilities.len() - 1;
    let kl = kl_divergence(&probabilities, &observed.iter().map(|&o| o as f64 / n as f64).collect::<Vec<_>>());
    let p_value = if impossible > 0 { 0.0 } else { chi_square_upper_tail(statistic, dof as f64) };
    Fit { statistic, dof, p_value, kl, impossible }
}

/// KL(p ‖ q) in nats (∞ when q misses mass p has).
pub fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .filter(|(p, _)| **p > 0.0)
        .map(|(&p, &q)| if q > 0.0 { p * (p / q).ln() } else { f64::INFINITY })
        .sum()
}

/// Accumulates per-run vectors `V_r` (one entry per cell) for Hotelling's
/// T² test of `E[V] = μ`: used for properly weighted SMC output, where each
/// run contributes `Ẑ_r Σ_i w̄_{r,i} δ(x_{r,i})` (design.md §4), whose mean
/// is `Z·g` for any number of particles.
pub struct WeightedRuns {
    pub index: HashMap<Vec<TokenId>, usize>,
    pub cells: usize,
    pub runs: u64,
    pub sum: Vec<f64>,
    pub sum_outer: Vec<f64>,
    pub impossible: f64,
    scratch: Vec<(usize, f64)>,
}

impl WeightedRuns {
    pub fn new(index: HashMap<Vec<TokenId>, usize>, cells: usize) -> WeightedRuns {
        WeightedRuns {
            index,
            cells,
            runs: 0,
            sum: vec![0.0; cells],
            sum_outer: vec![0.0; cells * cells],
            impossible: 0.0,
            scratch: Vec::new(),
        }
    }

    /// Adds one run: `(output, Ẑ·w̄)` pairs.
    pub fn add(&mut self, weighted: impl IntoIterator<Item = (Vec<TokenId>, f64)>) {
        self.runs += 1;
        let mut vector: Vec<(usize, f64)> = std::mem::take(&mut self.scratch);
        vector.clear();
        for (key, weight) in weighted {
            match self.index.get(&key) {
                Some(&cell) => match vector.iter_mut().find(|(c, _)| *c == cell) {
                    Some(entry) => entry.1 += weight,
                    None => vector.push((cell, weight)),
                },
                None => self.impossible += weight,
            }
        }
        for &(i, vi) in &vector {
            self.sum[i] += vi;
            for &(j, vj) in &vector {
                self.sum_outer[i * self.cells + j] += vi * vj;
            }
        }
        self.scratch = vector;
    }

    /// Hotelling's T² of the mean against `expected` (≈ χ² with `cells`
    /// degrees of freedom for many runs), its p-value, and KL(g ‖ ĝ) with ĝ
    /// the normalised mean.
    pub fn test(&self, expected: &[f64]) -> Fit {
        let k = self.cells;
        let r = self.runs as f64;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / r).collect();
        let mut covariance = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..k {
                covariance[i * k + j] = (self.sum_outer[i * k + j] - r * mean[i] * mean[j]) / (r - 1.0);
            }
        }
        let difference: Vec<f64> = mean.iter().zip(expected).map(|(m, e)| m - e).collect();
        let solved = cholesky_solve(&covariance, k, &difference);
        let statistic = r * difference.iter().zip(&solved).map(|(d, s)| d * s).sum::<f64>();
        let total: f64 = mean.iter().sum();
        let estimate: Vec<f64> = mean.iter().map(|m| m / total).collect();
        let z: f64 = expected.iter().sum();
        let target: Vec<f64> = expected.iter().map(|e| e / z).collect();
        let p_value = if self.impossible > 0.0 { 0.0 } else { chi_square_upper_tail(statistic, k as f64) };
        Fit { statistic, dof: k, p_value, kl: kl_divergence(&target, &estimate), impossible: self.impossible as u64 }
    }
}

/// Solves `A x = b` for a symmetric positive definite `A` (k × k, row-major).
fn cholesky_solve(a: &[f64], k: usize, b: &[f64]) -> Vec<f64> {
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let mut s = a[i * k + j];
            for m in 0..j {
                s -= l[i * k + m] * l[j * k + m];
            }
            if i == j {
                // A cell that never varies (it cannot be visited) would make
                // the matrix singular; a tiny ridge keeps the solve finite.
                l[i * k + i] = s.max(1e-300).sqrt();
            } else {
                l[i * k + j] = s / l[j * k + j];
            }
        }
    }
    let mut y = vec![0.0; k];
    for i in 0..k {
        let s: f64 = (0..i).map(|m| l[i * k + m] * y[m]).sum();
        y[i] = (b[i] - s) / l[i * k + i];
    }
    let mut x = vec![0.0; k];
    for i in (0..k).rev() {
        let s: f64 = (i + 1..k).map(|m| l[m * k + i] * x[m]).sum();
        x[i] = (y[i] - s) / l[i * k + i];
    }
    x
}

/// `P(χ²_dof ≥ statistic)`: the regularised upper incomplete gamma function
/// `Q(dof/2, statistic/2)` (Numerical Recipes §6.2: the series below
/// `a + 1`, the continued fraction above).
pub fn chi_square_upper_tail(statistic: f64, dof: f64) -> f64 {
    let a = dof / 2.0;
    let x = statistic / 2.0;
    if x <= 0.0 {
        return 1.0;
    }
    let log_prefactor = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let mut term = 1.0 / a;
        let mut sum = term;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * log_prefactor.exp()).max(0.0)
    } else {
        // Lentz's method for the continued fraction.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (log_prefactor.exp() * h).min(1.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; ~15 digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, c) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[test]
fn chi_square_tail_matches_tables() {
    // Critical values from standard tables.
    assert!((chi_square_upper_tail(3.841, 1.0) - 0.05).abs() < 1e-3);
    assert!((chi_square_upper_tail(18.307, 10.0) - 0.05).abs() < 1e-3);
    assert!((chi_square_upper_tail(29.588, 10.0) - 0.001).abs() < 1e-4);
    assert!((chi_square_upper_tail(124.342, 100.0) - 0.05).abs() < 1e-3);
    assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
}
