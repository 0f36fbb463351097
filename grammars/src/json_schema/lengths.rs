//! `minLength`/`maxLength` beside a `pattern`: the strings of a regular
//! language whose length (in characters) lies in a range.
//!
//! Regular languages are closed under intersection, but a `regex-syntax`
//! [`Hir`] has no intersection node, and the lexer compiles `Hir`s. So the
//! length range is pushed down the expression instead, exactly, where the
//! shape allows it:
//!
//! * a part whose every string has a length inside the range is kept;
//! * an alternation bounds each branch;
//! * a repetition of a part of fixed length `k` (a class: `k = 1`) repeated
//!   `a..b` times has the lengths `k·a..k·b`, so its count becomes
//!   `max(a, ⌈lo/k⌉)..min(b, ⌊hi/k⌋)`;
//! * `x?` is the empty string (if the range holds 0) or `x` bounded;
//! * a concatenation with one part of variable length gives that part the
//!   range less the fixed parts' length; with several (`.*p.*`, which every
//!   unanchored pattern becomes), the first variable part is split by its
//!   exact length `l` (`x{l}`) and the rest gets the range less `l`. That
//!   costs a copy of the rest per length, so it is bounded by a budget of
//!   [`MAX_SPLITS`] lengths in all; past it the combination is refused as
//!   before (with the keyword's JSON pointer).
//!
//! Every step keeps exactly the strings of the language with a length in
//! the range (tested against the `regex` crate in `tests`), so the grammar
//! stays exact: nothing outside the range is accepted, nothing inside it is
//! lost.

use regex_syntax::hir::{Hir, HirKind, Repetition};

/// Most exact lengths a concatenation may be split into (over the whole
/// expression): each is a copy of the rest of the concatenation. The dev
/// set's `.*[0-9a-f]+.*` with `maxLength: 32` takes 561.
const MAX_SPLITS: usize = 4096;

/// The length range of a language in characters: `(min, max)`, `None` for
/// no bound.
fn char_lengths(hir: &Hir) -> (usize, Option<usize>) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => (0, Some(0)),
        HirKind::Literal(literal) => {
            let count = String::from_utf8_lossy(&literal.0).chars().count();
            (count, Some(count))
        }
        HirKind::Class(_) => (1, Some(1)),
        HirKind::Repetition(repetition) => {
            let (low, high) = char_lengths(&repetition.sub);
            let min = low.saturating_mul(repetition.min as usize);
            let max = match (high, repetition.max) {
                (Some(0), _) => Some(0),
                (Some(high), Some(count)) => high.checked_mul(count as usize),
                _ => None,
            };
            (min, max)
        }
        HirKind::Capture(capture) => char_lengths(&capture.sub),
        HirKind::Concat(items) => items
            .iter()
            .map(char_lengths)
            .fold((0, Some(0)), |(a, b), (c, d)| (a.saturating_add(c), b.zip(d).and_then(|(b, d)| b.checked_add(d)))),
        HirKind::Alternation(items) => {
            let lengths: Vec<_> = items.iter().map(char_lengths).collect();
            let min = lengths.iter().map(|l| l.0).min().unwrap_or(0);
            let max = lengths.iter().map(|l| l.1).try_fold(0, |max, high| high.map(|high| high.max(max)));
            (min, max)
        }
    }
}

fn within(lengths: (usize, Option<usize>), low: usize, high: Option<usize>) -> bool {
    lengths.0 >= low && high.is_none_or(|high| lengths.1.is_some_and(|max| max <= high))
}

fn disjoint(lengths: (usize, Option<usize>), low: usize, high: Option<usize>) -> bool {
    high.is_some_and(|high| lengths.0 > high) || lengths.1.is_some_and(|max| max < low)
}

/// The strings of `hir` (a language over characters, assertions only at
/// its ends) whose length is in `low..=high`, or `None` when the shape is
/// beyond this construction or its budget.
pub(super) fn bounded(hir: &Hir, low: usize, high: Option<usize>) -> Option<Hir> {
    let mut budget = MAX_SPLITS;
    bound(hir, low, high, &mut budget)
}

fn bound(hir: &Hir, low: usize, high: Option<usize>, budget: &mut usize) -> Option<Hir> {
    if high.is_some_and(|high| high < low) {
        return Some(Hir::fail());
    }
    let lengths = char_lengths(hir);
    if within(lengths, low, high) {
        return Some(hir.clone());
    }
    if disjoint(lengths, low, high) {
        return Some(Hir::fail());
    }
    match hir.kind() {
        HirKind::Capture(capture) => bound(&capture.sub, low, high, budget),
        HirKind::Alternation(items) => {
            let bounded: Option<Vec<Hir>> = items.iter().map(|item| bound(item, low, high, budget)).collect();
            Some(super::hir_alt(bounded?))
        }
        HirKind::Repetition(repetition) => {
            let sub = char_lengths(&repetition.sub);
            match sub {
                (k, Some(fixed)) if k == fixed && k > 0 => {
                    let min = (repetition.min as usize).max(low.div_ceil(k));
                    let max = match (repetition.max, high) {
                        (Some(count), Some(high)) => Some((count as usize).min(high / k)),
                        (Some(count), None) => Some(count as usize),
                        (None, Some(high)) => Some(high / k),
                        (None, None) => None,
                    };
                    if max.is_some_and(|max| max < min) {
                        return Some(Hir::fail());
                    }
                    let min = u32::try_from(min).ok()?;
                    let max = max.map(u32::try_from).transpose().ok()?;
                    Some(Hir::repetition(Repetition { min, max, greedy: true, sub: repetition.sub.clone() }))
                }
                _ if repetition.min == 0 && repetition.max == Some(1) => {
                    let inner = bound(&repetition.sub, low, high, budget)?;
                    let empty = if low == 0 { Hir::empty() } else { Hir::fail() };
                    Some(super::hir_alt(vec![empty, inner]))
                }
                _ => None,
            }
        }
        HirKind::Concat(items) => bound_concat(&flatten(items), low, high, budget),
        // Literals, classes and the empty string have fixed lengths, which
        // `within`/`disjoint` decided.
        _ => None,
    }
}

fn flatten(items: &[Hir]) -> Vec<Hir> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item.kind() {
            HirKind::Concat(inner) => out.extend(flatten(inner)),
            _ => out.push(item.clone()),
        }
    }
    out
}

/// Whether `hir` is `[\0-\u{10FFFF}]*`, the unanchored side of a searched
/// pattern.
fn is_any_string(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Repetition(Repetition { min: 0, max: None, sub, .. }) => match sub.kind() {
            HirKind::Class(regex_syntax::hir::Class::Unicode(class)) => {
                let ranges = class.ranges();
                ranges.len() == 1 && ranges[0].start() == '\0' && ranges[0].end() == char::MAX
            }
            _ => false,
        },
        _ => false,
    }
}

/// `.* x{n,} …` as `.* x{n} …`, and `… x{n,} .*` as `… x{n} .*`: the
/// copies beyond `n` can be read by the `.*` instead (exact both ways), and
/// the fixed count costs no split. A searched `[0-9a-f]+` becomes
/// `.*[0-9a-f].*`.
fn absorb_into_any(items: &[Hir]) -> Vec<Hir> {
    let mut items = items.to_vec();
    let fix = |item: &Hir| match item.kind() {
        HirKind::Repetition(repetition) if repetition.max.is_none() && !is_any_string(item) => {
            Some(Hir::repetition(Repetition { max: Some(repetition.min), ..repetition.clone() }))
        }
        _ => None,
    };
    if items.len() >= 2
        && is_any_string(&items[0])
        && let Some(fixed) = fix(&items[1])
    {
        items[1] = fixed;
    }
    let n = items.len();
    if n >= 2
        && is_any_string(&items[n - 1])
        && let Some(fixed) = fix(&items[n - 2])
    {
        items[n - 2] = fixed;
    }
    items
}

fn is_fixed(lengths: (usize, Option<usize>)) -> bool {
    lengths.1 == Some(lengths.0)
}

/// A concatenation bounded: the fixed parts take their length off the
/// range; the first variable part is bounded alone when it is the only
/// one, or split by its exact length.
fn bound_concat(items: &[Hir], low: usize, high: Option<usize>, budget: &mut usize) -> Option<Hir> {
    let items = &absorb_into_any(items);
    let lengths: Vec<_> = items.iter().map(char_lengths).collect();
    let fixed: usize = lengths.iter().filter(|l| is_fixed(**l)).map(|l| l.0).sum();
    let variable: Vec<usize> = (0..items.len()).filter(|&i| !is_fixed(lengths[i])).collect();
    let (low, high) = (
        low.saturating_sub(fixed),
        match high {
            Some(high) if high < fixed => return Some(Hir::fail()),
            Some(high) => Some(high - fixed),
            None => None,
        },
    );
    match variable[..] {
        [] => Some(Hir::concat(items.to_vec())),
        [only] => {
            let mut out = items.to_vec();
            out[only] = bound(&items[only], low, high, budget)?;
            Some(Hir::concat(out))
        }
        [first, ..] => {
            // Lengths of the first variable part, and of all the others.
            let (first_min, first_max) = lengths[first];
            let others_min: usize = variable[1..].iter().map(|&i| lengths[i].0).sum();
            let others_max: Option<usize> = variable[1..].iter().map(|&i| lengths[i].1).sum();
            // The first part's lengths worth splitting: with an upper bound,
            // those leaving the others room; without, those below the
            // point where the others are free (`low` reached by the first
            // part alone), after which one unsplit tail covers the rest.
            let top = match high {
                Some(high) => high.checked_sub(others_min)?.min(first_max.unwrap_or(usize::MAX)),
                None => low.min(first_max.unwrap_or(usize::MAX)),
            };
            let mut alternatives = Vec::new();
            // The ranges below are of the variable parts; the tail holds
            // fixed parts too.
            let fixed_after: usize =
                (first + 1..items.len()).filter(|&i| is_fixed(lengths[i])).map(|i| lengths[i].0).sum();
            let rest_of =
                |out: &mut Vec<Hir>, part: Hir, rest_low: usize, rest_high: Option<usize>, budget: &mut usize| {
                    let mut rest: Vec<Hir> = items[..first].to_vec();
                    rest.push(part);
                    let tail: Vec<Hir> = items[first + 1..].to_vec();
                    let tail = bound(
                        &Hir::concat(tail),
                        rest_low + fixed_after,
                        rest_high.map(|high| high + fixed_after),
                        budget,
                    )?;
                    rest.push(tail);
                    out.push(Hir::concat(rest));
                    Some(())
                };
            for length in first_min..=top {
                if high.is_none() && length == low {
                    break;
                }
                if *budget == 0 {
                    return None;
                }
                *budget -= 1;
                let part = bound(&items[first], length, Some(length), budget)?;
                if matches!(part.kind(), HirKind::Class(class) if class.is_empty()) {
                    continue;
                }
                let rest_low = low.saturating_sub(length);
                let rest_high = high.map(|high| high - length);
                if others_max.is_some_and(|max| max < rest_low) {
                    continue;
                }
                rest_of(&mut alternatives, part, rest_low, rest_high, budget)?;
            }
            if high.is_none() && low >= first_min && first_max.is_none_or(|max| max >= low) {
                // The first part at least `low` long: the others are free.
                let part = bound(&items[first], low, None, budget)?;
                rest_of(&mut alternatives, part, 0, None, budget)?;
            }
            Some(super::hir_alt(alternatives))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex_of(hir: &Hir) -> regex::Regex {
        regex::Regex::new(&format!("^(?:{hir})$")).expect("the bounded Hir prints as a regex")
    }

    /// For patterns of every shape the construction handles (and some it
    /// refuses), the bounded language is exactly the pattern's strings
    /// with a length in range, over all strings of up to 5 characters of a
    /// small alphabet.
    #[test]
    fn bounded_languages_are_exact() {
        let patterns = [
            "[0-9a-f]+",
            "^[a-c]*$",
            "^(?:\\S+\\s+){0,3}\\S+$",
            "^(?:[ab]{2,}c?)?$",
            "a|bc|[ab]{3,5}",
            "^([a-c]{2})?$",
            "^(a[bc]*)?d$",
            "ab",
            "^a+b+c*$",
        ];
        let alphabet = ['a', 'b', 'c', 'd', ' ', '1', 'é'];
        let mut strings = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for s in &frontier {
                for &c in &alphabet {
                    next.push(format!("{s}{c}"));
                }
            }
            strings.extend(next.iter().cloned());
            frontier = next;
        }
        let mut handled = 0;
        for pattern in patterns {
            let hir = crate::json_schema::pattern::pattern_strings(pattern).expect("pattern");
            let whole = regex_of(&hir);
            for (low, high) in
                [(0, Some(0)), (1, Some(1)), (2, Some(3)), (3, None), (0, Some(4)), (4, Some(5)), (5, None)]
            {
                let Some(bounded) = bounded(&hir, low, high) else { continue };
                handled += 1;
                let bounded = regex_of(&bounded);
                for s in &strings {
                    let length = s.chars().count();
                    let expected = whole.is_match(s) && length >= low && high.is_none_or(|high| length <= high);
                    assert_eq!(bounded.is_match(s), expected, "{pattern} with lengths {low}..{high:?} on {s:?}");
                }
            }
        }
        assert!(handled >= 50, "{handled} cases handled");
    }
}
