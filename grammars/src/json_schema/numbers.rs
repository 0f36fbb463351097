//! Numbers as regular expressions over their JSON text: exact ranges of
//! integers and of decimal numbers.
//!
//! A bound is a [`Decimal`]: the exact decimal value of the schema's
//! number as serde_json holds it (an integer exactly; any other number as
//! the shortest decimal that reads back as the same double, which is the
//! decimal written whenever it has at most 15 significant digits). Ranges
//! are exact for every finite bound, however large or small, because the
//! regex compares decimal digits, never doubles.
//!
//! **Integers** are split by digit count and then digit by digit, the
//! classic construction behind "regex for a numeric range": every integer in
//! `[lo, hi]` is accepted in its canonical form (no leading zeros, no `+`,
//! no `-0`), and nothing else is.
//!
//! **Numbers** are a sign and a magnitude `x = N.f`. Against a bound
//! `B = P.Q`, `x >= B` iff `N > P`, or `N = P` and `0.f >= 0.Q`; so a range
//! of magnitudes is an integer range for `N` with any fraction, plus at each
//! end the integer part of the bound with a set of fraction digit strings.
//! That set is built digit by digit from the bounds' fraction digits (a
//! digit above the lower bound's frees the rest, one equal to it leaves the
//! rest bounded by the bound's remaining digits), so it is exact and its
//! size is linear in the digits of the bounds. A negative number `-x` is in
//! `[a, b]` iff `x` is in `[-b, -a]`; `-0` is zero.
//!
//! **Exponents** are not produced under a bound: `1e2` is left out where
//! `100` is accepted, so every value in range can still be written, in
//! plain decimal. Checking `m·10^e` against a bound exactly needs one
//! mantissa range per exponent (199 of them for exponents of at most two
//! digits, each as long as the bound shifted by `e` digits), which would
//! multiply the lexer DFA for a notation models rarely choose for bounded
//! values. Unbounded numbers keep their exponent ([`any_number`]).

use std::cmp::Ordering;
use std::fmt;

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir};
use serde_json::Number;

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

/// A finite decimal number, exactly: its sign and its digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Decimal {
    /// Never set for zero.
    negative: bool,
    /// The integer part's ASCII digits, without leading zeros (`0` for
    /// none).
    integer: Vec<u8>,
    /// The fraction's ASCII digits, without trailing zeros.
    fraction: Vec<u8>,
}

impl Decimal {
    /// The value of a JSON number (see the module docs for doubles).
    pub(super) fn from_number(number: &Number) -> Option<Decimal> {
        let text = match (number.as_u64(), number.as_i64()) {
            (Some(value), _) => value.to_string(),
            (None, Some(value)) => value.to_string(),
            // Rust writes a double as the shortest decimal that reads back
            // as it, never with an exponent.
            (None, None) => format!("{}", number.as_f64()?),
        };
        Decimal::parse(&text)
    }

    /// A plain decimal: `-`, digits, and optionally `.` and digits.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (integer, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if integer.is_empty() || !all_digits(integer) || !all_digits(fraction) {
            return None;
        }
        let integer = integer.trim_start_matches('0').as_bytes().to_vec();
        Some(Decimal::new(negative, integer, fraction.trim_end_matches('0').as_bytes().to_vec()))
    }

    /// Normalises the parts: `0` for an empty integer part, no `-0`.
    fn new(negative: bool, integer: Vec<u8>, fraction: Vec<u8>) -> Decimal {
        let integer = if integer.is_empty() { b"0".to_vec() } else { integer };
        let zero = integer == b"0" && fraction.is_empty();
        Decimal { negative: negative && !zero, integer, fraction }
    }

    pub(super) fn is_integer(&self) -> bool {
        self.fraction.is_empty()
    }

    fn is_zero(&self) -> bool {
        self.integer == b"0" && self.fraction.is_empty()
    }

    fn negated(&self) -> Decimal {
        Decimal::new(!self.negative, self.integer.clone(), self.fraction.clone())
    }

    /// The integer `self + 1` (for integers).
    fn plus_one(&self) -> Decimal {
        if self.negative {
            Decimal::new(true, decrement(&self.integer), Vec::new())
        } else {
            Decimal::new(false, increment(&self.integer), Vec::new())
        }
    }

    /// The integer `self - 1` (for integers).
    fn minus_one(&self) -> Decimal {
        self.negated().plus_one().negated()
    }

    /// The integer part, rounded towards zero.
    fn truncated(&self) -> Decimal {
        Decimal::new(self.negative, self.integer.clone(), Vec::new())
    }

    /// The value as an `i128`, for an integer that fits.
    pub(super) fn to_i128(&self) -> Option<i128> {
        let digits = std::str::from_utf8(&self.integer).ok()?;
        let magnitude: i128 = digits.parse().ok()?;
        self.is_integer().then_some(if self.negative { -magnitude } else { magnitude })
    }

    fn magnitude_cmp(&self, other: &Decimal) -> Ordering {
        digits_cmp(&self.integer, &other.integer).then_with(|| self.fraction.cmp(&other.fraction))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.magnitude_cmp(other),
            (true, true) => other.magnitude_cmp(self),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |digits: &[u8]| String::from_utf8_lossy(digits).into_owned();
        let sign = if self.negative { "-" } else { "" };
        match self.fraction.is_empty() {
            true => write!(f, "{sign}{}", text(&self.integer)),
            false => write!(f, "{sign}{}.{}", text(&self.integer), text(&self.fraction)),
        }
    }
}

/// Canonical digit strings (no leading zeros) compared as numbers.
fn digits_cmp(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A canonical digit string plus one.
fn increment(digits: &[u8]) -> Vec<u8> {
    let mut out = digits.to_vec();
    for digit in out.iter_mut().rev() {
        if *digit == b'9' {
            *digit = b'0';
        } else {
            *digit += 1;
            return out;
        }
    }
    out.insert(0, b'1');
    out
}

/// A canonical digit string of a positive number, minus one.
fn decrement(digits: &[u8]) -> Vec<u8> {
    let mut out = digits.to_vec();
    for digit in out.iter_mut().rev() {
        if *digit == b'0' {
            *digit = b'9';
        } else {
            *digit -= 1;
            break;
        }
    }
    let zeros = out.iter().take_while(|&&d| d == b'0').count().min(out.len() - 1);
    out.drain(..zeros);
    out
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
/// `[low, high]`, given as canonical digit strings (`high = None`:
/// unbounded). Empty when `low > high`.
fn unsigned_range(low: &[u8], high: Option<&[u8]>) -> Hir {
    if high.is_some_and(|high| digits_cmp(low, high) == Ordering::Greater) {
        return Hir::fail();
    }
    let top_digits = high.map_or(low.len(), <[u8]>::len);
    let mut alternatives = Vec::new();
    for digits in low.len()..=top_digits {
        let block_low = if digits == 1 { b"0".to_vec() } else { [&b"1"[..], &vec![b'0'; digits - 1]].concat() };
        let block_high = vec![b'9'; digits];
        let from = if digits == low.len() { low.to_vec() } else { block_low };
        let to = match high {
            Some(high) if digits == high.len() => high.to_vec(),
            _ => block_high,
        };
        if digits_cmp(&from, &to) != Ordering::Greater {
            alternatives.push(same_length_range(&from, &to));
        }
    }
    if high.is_none() {
        // Every number with more digits than `low` is above it.
        let longer = u32::try_from(top_digits).unwrap_or(u32::MAX);
        alternatives.push(Hir::concat(vec![digit_range(b'1', b'9'), repeat(digit_range(b'0', b'9'), longer, None)]));
    }
    super::hir_alt(alternatives)
}

/// Canonical JSON integers in `[min, max]` (inclusive, both integers;
/// `None` is unbounded).
pub(super) fn integer_range(min: Option<&Decimal>, max: Option<&Decimal>) -> Hir {
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        return Hir::fail();
    }
    let mut alternatives = Vec::new();
    // Non-negative part: [max(min, 0), max].
    if max.is_none_or(|max| !max.negative) {
        let low: &[u8] = match min {
            Some(min) if !min.negative => &min.integer,
            _ => b"0",
        };
        alternatives.push(unsigned_range(low, max.map(|max| &max.integer[..])));
    }
    // Negative part: magnitudes [max(-max, 1), -min].
    if min.is_none_or(|min| min.negative) {
        let low: &[u8] = match max {
            Some(max) if max.negative => &max.integer,
            _ => b"1",
        };
        let high = min.map(|min| &min.integer[..]);
        if high.is_none_or(|high| digits_cmp(high, low) != Ordering::Less) {
            alternatives.push(Hir::concat(vec![Hir::literal(*b"-"), unsigned_range(low, high)]));
        }
    }
    super::hir_alt(alternatives)
}

/// A bound of a number schema: the value and whether it is exclusive.
#[derive(Clone, Debug)]
pub(super) struct Bound {
    pub value: Decimal,
    pub exclusive: bool,
}

impl Bound {
    /// The smallest integer a lower bound allows, for integer schemas.
    pub(super) fn least_integer(&self) -> Decimal {
        match (self.value.is_integer(), self.value.negative) {
            (true, _) if self.exclusive => self.value.plus_one(),
            (true, _) => self.value.clone(),
            // Rounded up: towards zero below it, away from zero above.
            (false, true) => self.value.truncated(),
            (false, false) => self.value.truncated().plus_one(),
        }
    }

    /// The largest integer an upper bound allows, for integer schemas.
    pub(super) fn greatest_integer(&self) -> Decimal {
        match (self.value.is_integer(), self.value.negative) {
            (true, _) if self.exclusive => self.value.minus_one(),
            (true, _) => self.value.clone(),
            (false, true) => self.value.truncated().minus_one(),
            (false, false) => self.value.truncated(),
        }
    }
}

/// A bound on the fraction digits `f` of a magnitude whose integer part is
/// fixed: `0.f >= 0.digits` (lower) or `0.f <= 0.digits` (upper), strictly
/// if `exclusive`. `digits` has no trailing zeros.
type FractionBound<'a> = Option<(&'a [u8], bool)>;

/// A set of digit strings: whether it holds the empty string, and its
/// non-empty strings (`None`: none).
struct DigitStrings {
    empty: bool,
    nonempty: Option<Hir>,
}

impl DigitStrings {
    const NONE: DigitStrings = DigitStrings { empty: false, nonempty: None };

    /// The strings as one regex (one that matches nothing if there are
    /// none).
    fn hir(self) -> Hir {
        let empty = self.empty.then(Hir::empty);
        super::hir_alt(empty.into_iter().chain(self.nonempty).collect())
    }
}

/// What is left of a lower fraction bound after the digit `d` (the outer
/// `None`: `d` already fails it; the inner `None`: the rest is free).
fn after_lower(bound: FractionBound<'_>, d: u8) -> Option<FractionBound<'_>> {
    let Some((digits, exclusive)) = bound else { return Some(None) };
    let Some((&first, rest)) = digits.split_first() else {
        // `0.f > 0`: free after a non-zero digit.
        return Some((d == b'0').then_some((digits, exclusive)));
    };
    match d.cmp(&first) {
        Ordering::Greater => Some(None),
        Ordering::Less => None,
        // `rest` is empty and inclusive: `0.f >= 0` always holds.
        Ordering::Equal => Some((!rest.is_empty() || exclusive).then_some((rest, exclusive))),
    }
}

/// What is left of an upper fraction bound after the digit `d`.
fn after_upper(bound: FractionBound<'_>, d: u8) -> Option<FractionBound<'_>> {
    let Some((digits, exclusive)) = bound else { return Some(None) };
    let Some((&first, rest)) = digits.split_first() else {
        // `0.f <= 0`: only zeros; `0.f < 0`: nothing.
        return (d == b'0' && !exclusive).then_some(Some((digits, exclusive)));
    };
    match d.cmp(&first) {
        Ordering::Less => Some(None),
        Ordering::Greater => None,
        Ordering::Equal => Some(Some((rest, exclusive))),
    }
}

/// The digit strings `f` (the empty one included) with `0.f` within both
/// bounds; linear in the bounds' digits, since only a digit equal to a
/// bound's next one leaves the rest bounded.
fn fraction_digits(lower: FractionBound<'_>, upper: FractionBound<'_>) -> DigitStrings {
    // `0.f >= 0` holds for every `f`.
    let lower = lower.filter(|&(digits, exclusive)| !digits.is_empty() || exclusive);
    let digits = |min| repeat(digit_range(b'0', b'9'), min, None);
    let empty_lower = lower.is_none();
    let empty_upper = upper.is_none_or(|(digits, exclusive)| !digits.is_empty() || !exclusive);
    // The bounds that stay the same after a `0` would recurse forever:
    // their sets are written out.
    match (lower, upper) {
        (None, None) => return DigitStrings { empty: true, nonempty: Some(digits(1)) },
        (_, Some(([], true))) | (Some(([], true)), Some(([], false))) => return DigitStrings::NONE,
        (Some(([], true)), None) => {
            let nonzero = Hir::concat(vec![digits(0), digit_range(b'1', b'9'), digits(0)]);
            return DigitStrings { empty: false, nonempty: Some(nonzero) };
        }
        (None, Some(([], false))) => {
            return DigitStrings { empty: true, nonempty: Some(repeat(Hir::literal(*b"0"), 1, None)) };
        }
        _ => {}
    }
    let mut alternatives = Vec::new();
    let mut first = b'0';
    while first <= b'9' {
        let state = (after_lower(lower, first), after_upper(upper, first));
        let mut last = first;
        while last < b'9' && (after_lower(lower, last + 1), after_upper(upper, last + 1)) == state {
            last += 1;
        }
        if let (Some(lower), Some(upper)) = state {
            let rest = fraction_digits(lower, upper);
            if rest.empty || rest.nonempty.is_some() {
                alternatives.push(Hir::concat(vec![digit_range(first, last), rest.hir()]));
            }
        }
        first = last + 1;
    }
    let nonempty = (!alternatives.is_empty()).then(|| super::hir_alt(alternatives));
    DigitStrings { empty: empty_lower && empty_upper, nonempty }
}

/// The fraction part of a JSON number (nothing, or `.` and digits) whose
/// digits are within both bounds.
fn fraction(lower: FractionBound<'_>, upper: FractionBound<'_>) -> Hir {
    let DigitStrings { empty, nonempty } = fraction_digits(lower, upper);
    let dotted = nonempty.map(|digits| Hir::concat(vec![Hir::literal(*b"."), digits]));
    super::hir_alt(empty.then(Hir::empty).into_iter().chain(dotted).collect())
}

/// Magnitudes `x >= 0` (the digits after any sign) within the bounds,
/// which may be negative; `None` when there are none.
fn magnitudes(lower: Option<&Bound>, upper: Option<&Bound>) -> Option<Hir> {
    // A lower bound below zero, or zero inclusive, holds for every
    // magnitude; an upper bound below zero, or zero exclusive, for none.
    let lower = lower.filter(|bound| !bound.value.negative && (!bound.value.is_zero() || bound.exclusive));
    if upper.is_some_and(|bound| bound.value.negative || (bound.value.is_zero() && bound.exclusive)) {
        return None;
    }
    if let (Some(lower), Some(upper)) = (lower, upper) {
        match lower.value.cmp(&upper.value) {
            Ordering::Greater => return None,
            Ordering::Equal if lower.exclusive || upper.exclusive => return None,
            _ => {}
        }
    }
    let integer = |digits: &[u8]| Hir::literal(digits.to_vec());
    let (low, low_fraction): (&[u8], FractionBound<'_>) = match lower {
        // `x >= N` lets `N` itself take any fraction.
        Some(bound) if bound.value.is_integer() && !bound.exclusive => (&bound.value.integer, None),
        Some(bound) => (&bound.value.integer, Some((&bound.value.fraction, bound.exclusive))),
        None => (b"0", None),
    };
    let mut pieces = Vec::new();
    // `N` from here on takes any fraction.
    let free_from = match low_fraction {
        Some(_) => increment(low),
        None => low.to_vec(),
    };
    match upper {
        None => {
            if low_fraction.is_some() {
                pieces.push(Hir::concat(vec![integer(low), fraction(low_fraction, None)]));
            }
            pieces.push(Hir::concat(vec![unsigned_range(&free_from, None), fraction(None, None)]));
        }
        Some(upper) => {
            let (high, high_fraction) = (&upper.value.integer[..], Some((&upper.value.fraction[..], upper.exclusive)));
            if low == high {
                pieces.push(Hir::concat(vec![integer(low), fraction(low_fraction, high_fraction)]));
            } else {
                if low_fraction.is_some() {
                    pieces.push(Hir::concat(vec![integer(low), fraction(low_fraction, None)]));
                }
                // `low < high`, so `high >= 1`.
                let free_to = decrement(high);
                if digits_cmp(&free_from, &free_to) != Ordering::Greater {
                    pieces.push(Hir::concat(vec![unsigned_range(&free_from, Some(&free_to)), fraction(None, None)]));
                }
                pieces.push(Hir::concat(vec![integer(high), fraction(None, high_fraction)]));
            }
        }
    }
    let hir = super::hir_alt(pieces);
    hir.properties().minimum_len().is_some().then_some(hir)
}

/// JSON numbers `v` with `min <= v <= max` (or strict, per bound), written
/// without exponent; exact for every finite bound.
pub(super) fn number_range(min: Option<&Bound>, max: Option<&Bound>) -> Hir {
    let mut alternatives: Vec<Hir> = magnitudes(min, max).into_iter().collect();
    // v = -x: v >= a  <=>  x <= -a, and v <= b  <=>  x >= -b.
    let negated = |bound: &Bound| Bound { value: bound.value.negated(), exclusive: bound.exclusive };
    let (negated_lower, negated_upper) = (max.map(negated), min.map(negated));
    if let Some(negative) = magnitudes(negated_lower.as_ref(), negated_upper.as_ref()) {
        alternatives.push(Hir::concat(vec![Hir::literal(*b"-"), negative]));
    }
    super::hir_alt(alternatives)
}

/// JSON numbers with a nonzero fractional part, written without exponent
/// and with at most 15 digits: the non-integers (JSON Schema counts `1.0`
/// as an integer, draft 2020-12 validation §6.1.1). A decimal of at most 15
/// significant digits reads back from its IEEE double unchanged, so a
/// consumer that parses numbers as doubles sees a non-integer too; with more
/// digits it may not (`1e21 + 0.5` is an integer as a double).
pub(super) fn fraction_number() -> Hir {
    const DIGITS: u32 = 15;
    let digits = |min, max| repeat(digit_range(b'0', b'9'), min, Some(max));
    // (integer part, the fraction digits left): `0` counts no digit.
    let mut alternatives =
        vec![Hir::concat(vec![Hir::literal(*b"0."), digits(0, DIGITS - 1), digit_range(b'1', b'9')])];
    for integer in 1..DIGITS {
        alternatives.push(Hir::concat(vec![
            digit_range(b'1', b'9'),
            digits(integer - 1, integer - 1),
            Hir::literal(*b"."),
            digits(0, DIGITS - integer - 1),
            digit_range(b'1', b'9'),
        ]));
    }
    Hir::concat(vec![repeat(Hir::literal(*b"-"), 0, Some(1)), super::hir_alt(alternatives)])
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
            let (low, high) = (min.map(|n| decimal(&n.to_string())), max.map(|n| decimal(&n.to_string())));
            let regex = regex(&integer_range(low.as_ref(), high.as_ref()));
            for n in -1200i128..=70000 {
                let inside = min.is_none_or(|min| n >= min) && max.is_none_or(|max| n <= max);
                assert_eq!(regex.is_match(&n.to_string()), inside, "{n} in {min:?}..={max:?}");
            }
            assert!(!regex.is_match("-0"));
            assert!(!regex.is_match("007"));
        }
    }

    fn decimal(text: &str) -> Decimal {
        Decimal::parse(text).expect("a decimal")
    }

    /// A bound as the tests write it: the value as a double, and exclusive.
    #[derive(Clone, Copy, Debug)]
    struct TestBound {
        value: f64,
        exclusive: bool,
    }

    fn number_regex(min: Option<TestBound>, max: Option<TestBound>) -> Regex {
        let exact =
            |bound: TestBound| Bound { value: decimal(&format!("{}", bound.value)), exclusive: bound.exclusive };
        regex(&number_range(min.map(exact).as_ref(), max.map(exact).as_ref()))
    }

    #[test]
    fn number_ranges_are_sound_and_exact_for_integral_bounds() {
        let bound = |value, exclusive| Some(TestBound { value, exclusive });
        let cases = [
            (bound(0.0, false), bound(1.0, false)),
            (bound(0.0, true), None),
            (None, bound(-2.0, true)),
            (bound(-3.0, false), bound(5.0, true)),
            (bound(-1.5, false), bound(2.5, false)),
        ];
        for (min, max) in cases {
            let regex = number_regex(min, max);
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

    /// `text` times 10^4 as an integer, for texts with at most four
    /// fraction digits: exact decimal comparisons without doubles.
    fn scaled(text: &str) -> i64 {
        let value = decimal(text);
        let mut fraction = value.fraction.clone();
        fraction.resize(4, b'0');
        let digits = [&value.integer[..], &fraction[..]].concat();
        let magnitude: i64 = String::from_utf8(digits).expect("digits").parse().expect("fits");
        if value.negative { -magnitude } else { magnitude }
    }

    #[test]
    fn number_ranges_are_exact_for_decimal_bounds() {
        let bounds = ["0.1", "0.9", "-0.5", "1.25", "-1.205", "0.001", "2", "-0", "0.999", "-1.001"];
        let mut options: Vec<Option<(&str, bool)>> = vec![None];
        for bound in bounds {
            options.extend([Some((bound, false)), Some((bound, true))]);
        }
        let mut texts = Vec::new();
        for thousandths in -2100i32..=2100 {
            let value = f64::from(thousandths) / 1000.0;
            texts.extend([format!("{value}"), format!("{value:.4}")]);
        }
        texts.extend(["-0", "-0.0", "0.0000", "1.2500", "-1.2050"].map(String::from));
        for &min in &options {
            for &max in &options {
                let exact = |(text, exclusive): (&str, bool)| Bound { value: decimal(text), exclusive };
                let regex = regex(&number_range(min.map(exact).as_ref(), max.map(exact).as_ref()));
                for text in &texts {
                    let value = scaled(text);
                    let inside = min.is_none_or(
                        |(bound, exclusive)| {
                            if exclusive { value > scaled(bound) } else { value >= scaled(bound) }
                        },
                    ) && max.is_none_or(|(bound, exclusive)| {
                        if exclusive { value < scaled(bound) } else { value <= scaled(bound) }
                    });
                    assert_eq!(regex.is_match(text), inside, "{text} in {min:?}..{max:?}");
                }
                // Never an exponent, a leading zero, a `+` or a bare point.
                for text in ["1e0", "01", "+1", "1.", ".5", "00.5", "-"] {
                    assert!(!regex.is_match(text), "{text} in {min:?}..{max:?}");
                }
            }
        }
    }

    #[test]
    fn bounds_far_from_one_are_exact() {
        // 10^20 < x <= 123456789012345678901234567890.5
        let min = Bound { value: decimal("100000000000000000000"), exclusive: true };
        let max = Bound { value: decimal("123456789012345678901234567890.5"), exclusive: false };
        let big = regex(&number_range(Some(&min), Some(&max)));
        for (text, inside) in [
            ("100000000000000000000", false),
            ("100000000000000000000.0001", true),
            ("100000000000000000001", true),
            ("123456789012345678901234567890.5", true),
            ("123456789012345678901234567890.50001", false),
            ("123456789012345678901234567891", false),
            ("99999999999999999999.9", false),
        ] {
            assert_eq!(big.is_match(text), inside, "{text}");
        }
        // x > 5e-324, the smallest double: 323 zeros after the point.
        let tiny = format!("0.{}5", "0".repeat(323));
        let min = Bound {
            value: Decimal::from_number(&Number::from_f64(5e-324).expect("finite")).expect("a number"),
            exclusive: true,
        };
        assert_eq!(min.value, decimal(&tiny));
        let small = regex(&number_range(Some(&min), None));
        assert!(!small.is_match(&tiny) && small.is_match(&format!("{tiny}1")) && small.is_match("0.1"));
        assert!(!small.is_match(&format!("0.{}4999", "0".repeat(323))) && !small.is_match("0"));
    }

    #[test]
    fn integer_bounds_round_inward_exactly() {
        let bound = |text: &str, exclusive| Bound { value: decimal(text), exclusive };
        assert_eq!(bound("0.5", false).least_integer(), decimal("1"));
        assert_eq!(bound("-0.5", false).least_integer(), decimal("0"));
        assert_eq!(bound("-1.5", true).least_integer(), decimal("-1"));
        assert_eq!(bound("3", true).least_integer(), decimal("4"));
        assert_eq!(bound("-1", true).least_integer(), decimal("0"));
        assert_eq!(bound("0.5", false).greatest_integer(), decimal("0"));
        assert_eq!(bound("-0.5", true).greatest_integer(), decimal("-1"));
        assert_eq!(bound("0", true).greatest_integer(), decimal("-1"));
        assert_eq!(bound("100", true).greatest_integer(), decimal("99"));
        assert_eq!(bound("18446744073709551616", true).greatest_integer(), decimal("18446744073709551615"));
        assert!(decimal("-2") < decimal("-1.5") && decimal("-0") == decimal("0") && decimal("0.10") == decimal("0.1"));
        assert_eq!(decimal("1.5").to_string(), "1.5");
    }
}
