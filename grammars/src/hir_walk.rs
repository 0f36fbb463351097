//! Walks over regex-syntax [`Hir`]s with an explicit stack.
//!
//! A written regex is shallow (regex-syntax's parser refuses nesting past
//! 250 levels), but lowering inlines every regular rule of a GBNF grammar
//! into the regexes that use it, so a terminal is as deep as the longest
//! chain of rules: `r0 ::= "w0" r1 | "z0"`, `r1 ::= "w1" r2 | "z1"`, ...
//! makes a regex two levels deeper per rule, 10,000 levels for 5,000 rules.
//! regex-syntax's own `Drop` and `Display` for [`Hir`] keep their stack on
//! the heap, but its derived `Clone` and `PartialEq` recurse, and so would
//! any walker written the obvious way; in a debug build on a 2 MiB test
//! thread, recursion ran out of stack after a few hundred levels. Every walk
//! over a terminal's regex in this crate therefore goes through here (or,
//! for the NFA compiler, keeps its own explicit stack).
//!
//! [`copies`] is here too: what a counted repetition costs the lexer, which
//! the NFA compiler spends and lowering blames (see `lower::Costliest`).

use regex_syntax::hir::{Capture, Hir, HirKind, Repetition};

/// How many copies of its body the lexer's NFA holds for `sub{min,max}`:
/// the `min` required ones and the optional ones up to `max`, or one more
/// that loops when unbounded.
pub(crate) fn copies(min: u32, max: Option<u32>) -> u32 {
    match max {
        None => min.saturating_add(1),
        Some(max) => max.max(min),
    }
}

/// The direct sub-expressions of `hir`.
pub(crate) fn children(hir: &Hir) -> &[Hir] {
    match hir.kind() {
        HirKind::Repetition(repetition) => std::slice::from_ref(&*repetition.sub),
        HirKind::Capture(capture) => std::slice::from_ref(&*capture.sub),
        HirKind::Concat(items) | HirKind::Alternation(items) => items,
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => &[],
    }
}

/// Computes a value bottom-up: `combine(node, values of its children)`,
/// children before parents, with the stack on the heap.
pub(crate) fn fold<T>(hir: &Hir, mut combine: impl FnMut(&Hir, Vec<T>) -> T) -> T {
    // (node, whether its children are done), and the values of finished
    // nodes in post-order.
    let mut work: Vec<(&Hir, bool)> = vec![(hir, false)];
    let mut values: Vec<T> = Vec::new();
    while let Some((node, expanded)) = work.pop() {
        let subs = children(node);
        if expanded || subs.is_empty() {
            let inputs = values.split_off(values.len() - subs.len());
            values.push(combine(node, inputs));
        } else {
            work.push((node, true));
            work.extend(subs.iter().rev().map(|sub| (sub, false)));
        }
    }
    // The root's value is the only one left.
    values.pop().unwrap_or_else(|| unreachable!("fold always produces the root's value"))
}

/// A copy of `hir`, as `Clone` would make it, without recursion. Nodes are
/// rebuilt with regex-syntax's constructors, which leave a node they built
/// as it is.
pub(crate) fn deep_clone(hir: &Hir) -> Hir {
    fold(hir, |node, mut subs| match node.kind() {
        HirKind::Repetition(repetition) => Hir::repetition(Repetition {
            min: repetition.min,
            max: repetition.max,
            greedy: repetition.greedy,
            sub: Box::new(subs.pop().unwrap_or_else(Hir::empty)),
        }),
        HirKind::Capture(capture) => Hir::capture(Capture {
            index: capture.index,
            name: capture.name.clone(),
            sub: Box::new(subs.pop().unwrap_or_else(Hir::empty)),
        }),
        HirKind::Concat(_) => Hir::concat(subs),
        HirKind::Alternation(_) => Hir::alternation(subs),
        // Leaves hold no sub-expression: their own clone is shallow.
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => node.clone(),
    })
}

/// Whether two regexes are the same tree (`==`), without recursion.
pub(crate) fn equal(a: &Hir, b: &Hir) -> bool {
    let mut pairs: Vec<(&Hir, &Hir)> = vec![(a, b)];
    while let Some((a, b)) = pairs.pop() {
        let same_node = match (a.kind(), b.kind()) {
            (HirKind::Empty, HirKind::Empty) => true,
            (HirKind::Literal(x), HirKind::Literal(y)) => x == y,
            (HirKind::Class(x), HirKind::Class(y)) => x == y,
            (HirKind::Look(x), HirKind::Look(y)) => x == y,
            (HirKind::Repetition(x), HirKind::Repetition(y)) => (x.min, x.max, x.greedy) == (y.min, y.max, y.greedy),
            (HirKind::Capture(x), HirKind::Capture(y)) => x.index == y.index && x.name == y.name,
            (HirKind::Concat(x), HirKind::Concat(y)) | (HirKind::Alternation(x), HirKind::Alternation(y)) => {
                x.len() == y.len()
            }
            _ => false,
        };
        if !same_node {
            return false;
        }
        pairs.extend(children(a).iter().zip(children(b)));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(w0(w1(...)|z1)|z0)`, `depth` alternations deep: what inlining a
    /// chain of rules makes.
    fn chain(depth: usize) -> Hir {
        let mut hir = Hir::literal(*b"end");
        for i in (0..depth).rev() {
            let w = Hir::literal(format!("w{i}").into_bytes());
            let z = Hir::literal(format!("z{i}").into_bytes());
            hir = Hir::alternation(vec![Hir::concat(vec![w, hir]), z]);
        }
        hir
    }

    /// Deep enough to overflow a 2 MiB test thread with recursion.
    #[test]
    fn walks_do_not_recurse() {
        let deep = chain(20_000);
        let depth = fold(&deep, |_, subs: Vec<usize>| 1 + subs.into_iter().max().unwrap_or(0));
        assert!(depth > 20_000, "{depth}");
        let copy = deep_clone(&deep);
        assert!(equal(&copy, &deep));
        assert_eq!(copy.to_string(), deep.to_string());
        assert!(!equal(&copy, &chain(19_999)));
    }

    #[test]
    fn clones_are_equal_to_the_original() {
        for pattern in ["a(b|c)*d{2,5}", "(?i)straße|[α-ω]+", "(?<name>x)(y)?", "^a$|\\b", "", "[a&&b]"] {
            let hir = regex_syntax::parse(pattern).expect("parses");
            let copy = deep_clone(&hir);
            assert_eq!(copy, hir, "{pattern}");
            assert!(equal(&copy, &hir), "{pattern}");
        }
        let a = regex_syntax::parse("a{2}").expect("parses");
        let b = regex_syntax::parse("a{3}").expect("parses");
        assert!(!equal(&a, &b));
    }
}
