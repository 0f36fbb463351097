//! Numbers as regular expressions over their JSON text: exact integer
//! ranges, and number ranges that are sound (every accepted number is in
//! bounds).
//!
//! Integer ranges are split by digit count and then digit by digit, the
//! classic construction behind "regex for a numeric range": every integer in
//! `[lo, hi]` is accepted in its canonical form (no leading zeros, no `+`,
//! no `-0`), and nothing else is.
//!
//! Number bounds are reduced to integer bounds on the integer part `N` of the
//! magnitude `x = N.f` plus a condition on the fraction `f` (any, all zeros,
//! or not all zeros), so that the regex stays small and exact for integral
//! bounds. A bound that is not an integer is rounded *inward* (a minimum of
//! 0.5 becomes 1): sound, but numbers between the bound and the rounded
//! bound cannot be produced. Bounded numbers have no exponent.

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir};

/// The largest bound magnitude handled (10^15): every integer up to it is
/// exact as an IEEE double, so consumers that parse numbers as doubles
/// compare them with the bounds exactly.
pub(super) const MAX_BOUND: i128 = 1_000_000_000_000_000;

pub(super) fn digit_range(low: u8, high: u8) -> Hir {
    Hir::class(Class::Unicode(ClassUnicode::new([ClassUnicodeRange::new(char::from(low), char::from(high))])))
}

fn any_digits(count: u32) -> Hir {
    Hir::repetition(regex_syntax::hir::Repetition {
        min: count,
        max: Some(count),
        greedy: true,
        sub: Box::new(digit_range(b'0', b'9')),
    })
}

fn repeat(sub: Hir, min: u32, max: Option<u32>) -> Hir {
    Hir::repetition(regex_syntax::hir::Repetition { min, max, greedy: true, sub: Box::new(sub) })
}

/// Digit strings of equal length `a..=b` (compared as numbers; leading
/// zeros are part of the strings here).
fn same_length_range(a: &[u8], b: &[u8]) -> Hir {
    if a.is_empty() {
        return Hir::empty();
    }
    let rest = a.len() as u32 - 1;
    if a[0] == b[0] {
        return Hir::concat(vec![Hir::literal(vec![a[0]]), same_length_range(&a[1..], &b[1..])]);
    }
    let low_tail_free = a[1..].iter().all(|&d| d == b'0');
    let high_tail_free = b[1..].iter().all(|&d| d == b'9');
    let mut alternatives = Vec::new();
    // The first digit of `a` with the tail at least `a`'s tail, unless that
    // tail is all zeros (then it joins the middle block).
    let middle_low = if low_tail_free {
        a[0]
    } else {
        let nines = vec![b'9'; a.len() - 1];
        alternatives.push(Hir::concat(vec![Hir::literal(vec![a[0]]), same_length_range(&a[1..], &nines)]));
        a[0] + 1
    };
    let middle_high = if high_tail_free { b[0] } else { b[0] - 1 };
    if middle_low <= middle_high {
        alternatives.push(Hir::concat(vec![digit_range(middle_low, middle_high), any_digits(rest)]));
    }
    if !high_tail_free {
        let zeros = vec![b'0'; b.len() - 1];
        alternatives.push(Hir::concat(vec![Hir::literal(vec![b[0]]), same_length_range(&zeros, &b[1..])]));
    }
    super::hir_alt(alternatives)
}

/// Canonical decimal strings of the non-negative integers in
/// `[low, high]` (`high = None`: unbounded). Empty when `low > high`.
pub(super) fn unsigned_range(low: u128, high: Option<u128>) -> Hir {
    if high.is_some_and(|high| low > high) {
        return Hir::fail();
    }
    let low_digits = low.to_string().len() as u32;
    let top_digits = match high {
        Some(high) => high.to_string().len() as u32,
        None => low_digits,
    };
    let mut alternatives = Vec::new();
    for digits in low_digits..=top_digits {
        let block_low = if digits == 1 { 0 } else { 10u128.pow(digits - 1) };
        let block_high = 10u128.pow(digits) - 1;
        let from = low.max(block_low);
        let to = high.map_or(block_high, |high| high.min(block_high));
        if from <= to {
            let (from, to) = (from.to_string(), to.to_string());
            alternatives.push(same_length_range(from.as_bytes(), to.as_bytes()));
        }
    }
    if high.is_none() {
        // Every number with more digits than `low` is above it.
        alternatives
            .push(Hir::concat(vec![digit_range(b'1', b'9'), repeat(digit_range(b'0', b'9'), top_digits, None)]));
    }
    super::hir_alt(alternatives)
}

/// Canonical JSON integers in `[min, max]` (inclusive; `None` is unbounded).
pub(super) fn integer_range(min: Option<i128>, max: Option<i128>) -> Hir {
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Hir::fail();
    }
    let mut alternatives = Vec::new();
    // Non-negative part: [max(min, 0), max].
    if max.is_none_or(|max| max >= 0) {
        let low = min.map_or(0, |min| min.max(0)) as u128;
        alternatives.push(unsigned_range(low, max.map(|max| max as u128)));
    }
    // Negative part: magnitudes [max(-max, 1), -min].
    if min.is_none_or(|min| min < 0) {
        let low = max.map_or(1, |max| (-max).max(1)) as u128;
        let high = min.map(|min| (-min) as u128);
        if high.is_none_or(|high| high >= low) {
            alternatives.push(Hir::concat(vec![Hir::literal(*b"-"), unsigned_range(low, high)]));
        }
    }
    super::hir_alt(alternatives)
}

/// A bound of a number schema: the value and whether it is exclusive.
#[derive(Clone, Copy, Debug)]
pub(super) struct Bound {
    pub value: f64,
    pub exclusive: bool,
}

/// The smallest integer allowed by a lower bound, for integer schemas.
pub(super) fn integer_lower(bound: Bound) -> f64 {
    if bound.value.fract() == 0.0 && bound.exclusive { bound.value + 1.0 } else { bound.value.ceil() }
}

/// The largest integer allowed by an upper bound, for integer schemas.
pub(super) fn integer_upper(bound: Bound) -> f64 {
    if bound.value.fract() == 0.0 && bound.exclusive { bound.value - 1.0 } else { bound.value.floor() }
}

/// What the fraction digits of a number may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fraction {
    /// No fraction, or any digits.
    Any,
    /// No fraction, or only zeros (the value is the integer part).
    Zero,
    /// A fraction with a non-zero digit (the value is above the integer part).
    NonZero,
}

impl Fraction {
    fn meet(self, other: Fraction) -> Option<Fraction> {
        match (self, other) {
            (Fraction::Any, x) | (x, Fraction::Any) => Some(x),
            (a, b) if a == b => Some(a),
            _ => None,
        }
    }

    fn hir(self) -> Hir {
        let fraction = |digits: Hir| Hir::concat(vec![Hir::literal(*b"."), digits]);
        match self {
            Fraction::Any => repeat(fraction(repeat(digit_range(b'0', b'9'), 1, None)), 0, Some(1)),
            Fraction::Zero => repeat(fraction(repeat(Hir::literal(*b"0"), 1, None)), 0, Some(1)),
            Fraction::NonZero => fraction(Hir::concat(vec![
                repeat(digit_range(b'0', b'9'), 0, None),
                digit_range(b'1', b'9'),
                repeat(digit_range(b'0', b'9'), 0, None),
            ])),
        }
    }
}

/// A set of magnitudes `x = N.f`: `N` in `[low, high]`, fraction as said.
type Piece = (u128, Option<u128>, Fraction);

/// Magnitudes `x >= 0` with `x > a` (exclusive) or `x >= a`.
fn above(bound: Option<(i128, bool)>) -> Vec<Piece> {
    match bound {
        None => vec![(0, None, Fraction::Any)],
        Some((a, exclusive)) if a < 0 || (a == 0 && !exclusive) => vec![(0, None, Fraction::Any)],
        Some((a, false)) => vec![(a as u128, None, Fraction::Any)],
        Some((a, true)) => vec![(a as u128 + 1, None, Fraction::Any), (a as u128, Some(a as u128), Fraction::NonZero)],
    }
}

/// Magnitudes `x >= 0` with `x < b` (exclusive) or `x <= b`.
fn below(bound: Option<(i128, bool)>) -> Vec<Piece> {
    match bound {
        None => vec![(0, None, Fraction::Any)],
        Some((b, exclusive)) if b < 0 || (b == 0 && exclusive) => Vec::new(),
        Some((b, exclusive)) => {
            let b = b as u128;
            let mut pieces = Vec::new();
            if b >= 1 {
                pieces.push((0, Some(b - 1), Fraction::Any));
            }
            if !exclusive {
                pieces.push((b, Some(b), Fraction::Zero));
            }
            pieces
        }
    }
}

fn magnitudes(lower: Option<(i128, bool)>, upper: Option<(i128, bool)>) -> Vec<Hir> {
    let mut out = Vec::new();
    for (low_a, high_a, fraction_a) in above(lower) {
        for &(low_b, high_b, fraction_b) in &below(upper) {
            let low = low_a.max(low_b);
            let high = match (high_a, high_b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let Some(fraction) = fraction_a.meet(fraction_b) else { continue };
            if high.is_some_and(|high| high < low) {
                continue;
            }
            out.push(Hir::concat(vec![unsigned_range(low, high), fraction.hir()]));
        }
    }
    out
}

/// Rounds a bound inward to an integer bound (see the module docs).
fn integral(bound: Bound, lower: bool) -> (i128, bool) {
    if bound.value.fract() == 0.0 {
        (bound.value as i128, bound.exclusive)
    } else if lower {
        (bound.value.ceil() as i128, false)
    } else {
        (bound.value.floor() as i128, false)
    }
}

/// JSON numbers `v` with `min <= v <= max` (or strict, per bound), no
/// exponent. Callers check that the bounds are within [`MAX_BOUND`].
pub(super) fn number_range(min: Option<Bound>, max: Option<Bound>) -> Hir {
    let min = min.map(|bound| integral(bound, true));
    let max = max.map(|bound| integral(bound, false));
    let mut alternatives = magnitudes(min, max);
    // v = -x: v >= a  <=>  x <= -a, and v <= b  <=>  x >= -b.
    let negated_lower = max.map(|(b, exclusive)| (-b, exclusive));
    let negated_upper = min.map(|(a, exclusive)| (-a, exclusive));
    let negative = magnitudes(negated_lower, negated_upper);
    if !negative.is_empty() {
        alternatives.push(Hir::concat(vec![Hir::literal(*b"-"), super::hir_alt(negative)]));
    }
    super::hir_alt(alternatives)
}

/// Any JSON number, with an exponent of at most two digits (see the module
/// documentation of [`super`]).
pub(super) fn any_number() -> Hir {
    let digits = |min| repeat(digit_range(b'0', b'9'), min, None);
    let integer = super::hir_alt(vec![Hir::literal(*b"0"), Hir::concat(vec![digit_range(b'1', b'9'), digits(0)])]);
    let fraction = repeat(Hir::concat(vec![Hir::literal(*b"."), digits(1)]), 0, Some(1));
    let exponent = repeat(
        Hir::concat(vec![
            Hir::class(Class::Unicode(ClassUnicode::new([
                ClassUnicodeRange::new('E', 'E'),
                ClassUnicodeRange::new('e', 'e'),
            ]))),
            repeat(
                Hir::class(Class::Unicode(ClassUnicode::new([
                    ClassUnicodeRange::new('+', '+'),
                    ClassUnicodeRange::new('-', '-'),
                ]))),
                0,
                Some(1),
            ),
            repeat(digit_range(b'0', b'9'), 1, Some(2)),
        ]),
        0,
        Some(1),
    );
    Hir::concat(vec![repeat(Hir::literal(*b"-"), 0, Some(1)), integer, fraction, exponent])
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::meta::Regex;

    fn regex(hir: &Hir) -> Regex {
        Regex::builder()
            .syntax(regex_automata::util::syntax::Config::new())
            .build_from_hir(&Hir::concat(vec![
                Hir::look(regex_syntax::hir::Look::Start),
                hir.clone(),
                Hir::look(regex_syntax::hir::Look::End),
            ]))
            .expect("regex")
    }

    #[test]
    fn integer_ranges_are_exact() {
        let cases: [(Option<i128>, Option<i128>); 9] = [
            (Some(1), Some(65535)),
            (Some(0), None),
            (Some(-17), Some(203)),
            (None, Some(-3)),
            (Some(-250), Some(-7)),
            (Some(10), Some(10)),
            (Some(99), Some(1000)),
            (None, Some(42)),
            (Some(7), Some(3)),
        ];
        for (min, max) in cases {
            let regex = regex(&integer_range(min, max));
            for n in -1200i128..=70000 {
                let inside = min.is_none_or(|min| n >= min) && max.is_none_or(|max| n <= max);
                assert_eq!(regex.is_match(&n.to_string()), inside, "{n} in {min:?}..={max:?}");
            }
            assert!(!regex.is_match("-0"));
            assert!(!regex.is_match("007"));
        }
    }

    #[test]
    fn number_ranges_are_sound_and_exact_for_integral_bounds() {
        let bound = |value, exclusive| Some(Bound { value, exclusive });
        let cases = [
            (bound(0.0, false), bound(1.0, false)),
            (bound(0.0, true), None),
            (None, bound(-2.0, true)),
            (bound(-3.0, false), bound(5.0, true)),
            (bound(-1.5, false), bound(2.5, false)),
        ];
        for (min, max) in cases {
            let regex = regex(&number_range(min, max));
            for tenths in -80i32..=80 {
                for text in [format!("{}", f64::from(tenths) / 10.0), format!("{:.2}", f64::from(tenths) / 10.0)] {
                    let value: f64 = text.parse().expect("number");
                    let inside = min.is_none_or(|b| if b.exclusive { value > b.value } else { value >= b.value })
                        && max.is_none_or(|b| if b.exclusive { value < b.value } else { value <= b.value });
                    if regex.is_match(&text) {
                        assert!(inside, "{text} accepted for {min:?}..{max:?}");
                    } else if min.is_none_or(|b| b.value.fract() == 0.0) && max.is_none_or(|b| b.value.fract() == 0.0) {
                        assert!(!inside, "{text} rejected for {min:?}..{max:?}");
                    }
                }
            }
        }
    }
}
