//! Terminals → one Thompson NFA, built directly on regex-automata's
//! [`Builder`].
//!
//! regex-automata's own compiler is general (captures, unanchored search,
//! reverse NFAs, UTF-8 empty-match rules) and spends most of its time
//! there; lexers need none of it. Its cost shows on bounded repetitions:
//! a JSON Schema `"maxLength": 80` string repeats the JSON character — a
//! Unicode class, escapes, surrogate pairs — 80 times, and the general
//! compiler re-derives the class's UTF-8 automaton for every copy. Here a
//! class's UTF-8 sequences are derived once per compile, and each copy only
//! emits states.
//!
//! Only the anchors `^`/`\A` and `$`/`\z` are compiled; on any other
//! assertion [`compile`] answers `None`, and the caller uses
//! regex-automata's compiler, which supports them all.

use std::rc::Rc;

use hashbrown::HashMap;
use regex_automata::nfa::thompson::{BuildError, Builder, NFA, Transition};
use regex_automata::util::look::Look;
use regex_automata::util::primitives::StateID;
use regex_syntax::hir::{self, Class, Hir, HirKind};
use regex_syntax::utf8::Utf8Sequences;

/// The NFA of `terminals` (pattern `i` matches terminal `i`, anchored at
/// the start), or `None` when a terminal uses an assertion this compiler
/// does not handle. `Err` when the NFA would exceed `size_limit` bytes.
pub(crate) fn compile(terminals: &[Hir], size_limit: usize) -> Option<Result<NFA, BuildError>> {
    let mut compiler = Compiler { builder: Builder::new(), classes: HashMap::new() };
    compiler.builder.set_size_limit(Some(size_limit)).ok()?;
    match compiler.compile(terminals) {
        Ok(nfa) => Some(Ok(nfa)),
        Err(Failure::Build(error)) => Some(Err(*error)),
        Err(Failure::Unsupported) => None,
    }
}

/// Why [`Compiler`] stopped.
enum Failure {
    /// Over the size limit, or regex-automata refused the NFA.
    Build(Box<BuildError>),
    /// Something this compiler leaves to regex-automata's.
    Unsupported,
}

impl From<BuildError> for Failure {
    fn from(error: BuildError) -> Failure {
        Failure::Build(Box::new(error))
    }
}

/// A compiled piece: enter at `start`; `end` is still to be patched to
/// what follows.
#[derive(Clone, Copy)]
struct Fragment {
    start: StateID,
    end: StateID,
}

/// A class's UTF-8 encodings as a DAG of byte-range states, derived once
/// and emitted for every copy: a trie of the byte sequences with equal
/// suffixes merged (most sequences end in the same continuation-byte
/// ranges). `nodes` lists children before parents.
struct Utf8Class {
    nodes: Vec<Vec<(u8, u8, Target)>>,
    root: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Target {
    /// The class's end.
    End,
    Node(usize),
}

struct Compiler {
    builder: Builder,
    /// By the address of the class in the HIR being compiled (which
    /// outlives the compiler): every copy of a repeated class shares one
    /// derivation.
    classes: HashMap<usize, Rc<Utf8Class>>,
}

impl Compiler {
    fn compile(&mut self, terminals: &[Hir]) -> Result<NFA, Failure> {
        let mut starts = Vec::with_capacity(terminals.len());
        for terminal in terminals {
            self.builder.start_pattern()?;
            let fragment = self.c(terminal)?;
            let matched = self.builder.add_match()?;
            self.builder.patch(fragment.end, matched)?;
            self.builder.finish_pattern(fragment.start)?;
            starts.push(fragment.start);
        }
        let start = match starts.as_slice() {
            [only] => *only,
            _ => self.builder.add_union(starts)?,
        };
        Ok(self.builder.build(start, start)?)
    }

    fn c(&mut self, hir: &Hir) -> Result<Fragment, Failure> {
        match hir.kind() {
            HirKind::Empty => self.empty(),
            HirKind::Literal(hir::Literal(bytes)) => self.literal(bytes),
            HirKind::Class(Class::Bytes(class)) => {
                let ranges: Vec<(u8, u8)> = class.ranges().iter().map(|range| (range.start(), range.end())).collect();
                self.byte_ranges(&ranges)
            }
            HirKind::Class(Class::Unicode(class)) => self.unicode_class(class),
            HirKind::Look(look) => {
                let look = match look {
                    hir::Look::Start => Look::Start,
                    hir::Look::End => Look::End,
                    _ => return Err(Failure::Unsupported),
                };
                let state = self.builder.add_look(StateID::ZERO, look)?;
                Ok(Fragment { start: state, end: state })
            }
            HirKind::Repetition(repetition) => self.repetition(repetition.min, repetition.max, &repetition.sub),
            HirKind::Capture(capture) => self.c(&capture.sub),
            HirKind::Concat(parts) => {
                let Some((first, rest)) = parts.split_first() else { return self.empty() };
                let mut whole = self.c(first)?;
                for part in rest {
                    let next = self.c(part)?;
                    self.builder.patch(whole.end, next.start)?;
                    whole.end = next.end;
                }
                Ok(whole)
            }
            HirKind::Alternation(alternatives) => {
                let union = self.builder.add_union(Vec::with_capacity(alternatives.len()))?;
                let end = self.builder.add_empty()?;
                for alternative in alternatives {
                    let fragment = self.c(alternative)?;
                    self.builder.patch(union, fragment.start)?;
                    self.builder.patch(fragment.end, end)?;
                }
                Ok(Fragment { start: union, end })
            }
        }
    }

    fn empty(&mut self) -> Result<Fragment, Failure> {
        let state = self.builder.add_empty()?;
        Ok(Fragment { start: state, end: state })
    }

    fn literal(&mut self, bytes: &[u8]) -> Result<Fragment, Failure> {
        let Some((&first, rest)) = bytes.split_first() else { return self.empty() };
        let start = self.builder.add_range(Transition { start: first, end: first, next: StateID::ZERO })?;
        let mut end = start;
        for &byte in rest {
            let next = self.builder.add_range(Transition { start: byte, end: byte, next: StateID::ZERO })?;
            self.builder.patch(end, next)?;
            end = next;
        }
        Ok(Fragment { start, end })
    }

    /// Sorted, non-overlapping byte ranges: one state to a fresh end.
    fn byte_ranges(&mut self, ranges: &[(u8, u8)]) -> Result<Fragment, Failure> {
        if let [(start, end)] = *ranges {
            let state = self.builder.add_range(Transition { start, end, next: StateID::ZERO })?;
            return Ok(Fragment { start: state, end: state });
        }
        let end = self.builder.add_empty()?;
        let transitions = ranges.iter().map(|&(start, last)| Transition { start, end: last, next: end }).collect();
        // An empty sparse state never matches (the empty class).
        let start = self.builder.add_sparse(transitions)?;
        Ok(Fragment { start, end })
    }

    fn unicode_class(&mut self, class: &hir::ClassUnicode) -> Result<Fragment, Failure> {
        if class.ranges().last().is_none_or(|range| range.end().is_ascii()) {
            // ASCII only (the common case), or empty: one state.
            let ranges: Vec<(u8, u8)> =
                class.ranges().iter().map(|range| (range.start() as u8, range.end() as u8)).collect();
            return self.byte_ranges(&ranges);
        }
        let key = class as *const hir::ClassUnicode as usize;
        let utf8 = match self.classes.get(&key) {
            Some(utf8) => utf8.clone(),
            None => {
                let utf8 = Rc::new(utf8_class(class).ok_or(Failure::Unsupported)?);
                self.classes.insert(key, utf8.clone());
                utf8
            }
        };
        let end = self.builder.add_empty()?;
        let mut states: Vec<StateID> = Vec::with_capacity(utf8.nodes.len());
        for node in &utf8.nodes {
            let transition = |&(start, last, target): &(u8, u8, Target)| Transition {
                start,
                end: last,
                next: match target {
                    Target::End => end,
                    Target::Node(index) => states[index],
                },
            };
            // Most nodes are one continuation-byte range: no allocation.
            let state = match node.as_slice() {
                [only] => self.builder.add_range(transition(only))?,
                edges => self.builder.add_sparse(edges.iter().map(transition).collect())?,
            };
            states.push(state);
        }
        Ok(Fragment { start: states[utf8.root], end })
    }

    /// `sub{min,max}`: `min` copies, then `max - min` optional ones that
    /// may each skip to the end (or a loop when `max` is unbounded).
    fn repetition(&mut self, min: u32, max: Option<u32>, sub: &Hir) -> Result<Fragment, Failure> {
        let mut whole: Option<Fragment> = None;
        let mut append = |compiler: &mut Compiler, next: Fragment| -> Result<(), Failure> {
            match &mut whole {
                Some(fragment) => {
                    compiler.builder.patch(fragment.end, next.start)?;
                    fragment.end = next.end;
                }
                None => whole = Some(next),
            }
            Ok(())
        };
        for _ in 0..min {
            let copy = self.c(sub)?;
            append(self, copy)?;
        }
        match max {
            None => {
                // A union that loops back through one more copy; it is
                // also the way out (patching it later adds the exit).
                let copy = self.c(sub)?;
                let union = self.builder.add_union(vec![copy.start])?;
                self.builder.patch(copy.end, union)?;
                append(self, Fragment { start: union, end: union })?;
            }
            Some(max) if max > min => {
                let end = self.builder.add_empty()?;
                let mut optional: Option<Fragment> = None;
                for _ in min..max {
                    let copy = self.c(sub)?;
                    let union = self.builder.add_union(vec![copy.start, end])?;
                    match &mut optional {
                        Some(fragment) => {
                            self.builder.patch(fragment.end, union)?;
                            fragment.end = copy.end;
                        }
                        None => optional = Some(Fragment { start: union, end: copy.end }),
                    }
                }
                if let Some(fragment) = optional {
                    self.builder.patch(fragment.end, end)?;
                    append(self, Fragment { start: fragment.start, end })?;
                }
            }
            Some(_) => {}
        }
        match whole {
            Some(fragment) => Ok(fragment),
            None => self.empty(),
        }
    }
}

/// The UTF-8 encodings of a non-empty set of code point ranges, as a
/// [`Utf8Class`].
///
/// The byte sequences of distinct code point ranges are disjoint, and at
/// each depth two sequences' ranges are either equal (shared prefix) or
/// disjoint — UTF-8 ranges split on encoding boundaries — so a trie of
/// them has non-overlapping edges, as a sparse state needs. `None` if that
/// ever fails to hold (the caller then compiles with regex-automata).
fn utf8_class(class: &hir::ClassUnicode) -> Option<Utf8Class> {
    // The trie: node 0 is the root; `None` marks the end of a sequence.
    let mut trie: Vec<Vec<(u8, u8, Option<usize>)>> = vec![Vec::new()];
    for range in class.iter() {
        for sequence in Utf8Sequences::new(range.start(), range.end()) {
            let bytes = sequence.as_slice();
            let mut node = 0;
            for (depth, byte) in bytes.iter().enumerate() {
                let last = depth + 1 == bytes.len();
                let existing =
                    trie[node].iter().find(|&&(start, end, _)| start == byte.start && end == byte.end).map(|e| e.2);
                node = match (existing, last) {
                    (Some(Some(child)), false) => child,
                    (Some(None), true) => break,
                    _ => {
                        let child = (!last).then(|| {
                            trie.push(Vec::new());
                            trie.len() - 1
                        });
                        trie[node].push((byte.start, byte.end, child));
                        match child {
                            Some(child) => child,
                            None => break,
                        }
                    }
                };
            }
        }
    }
    // Merge equal subtries bottom-up (children have larger indices than
    // their parents, so a reverse sweep sees children first).
    let mut nodes: Vec<Vec<(u8, u8, Target)>> = Vec::new();
    let mut merged: HashMap<Vec<(u8, u8, Target)>, usize> = HashMap::new();
    let mut canonical = vec![0usize; trie.len()];
    for index in (0..trie.len()).rev() {
        let mut edges: Vec<(u8, u8, Target)> = trie[index]
            .iter()
            .map(|&(start, end, child)| (start, end, child.map_or(Target::End, |c| Target::Node(canonical[c]))))
            .collect();
        edges.sort_unstable_by_key(|edge| edge.0);
        canonical[index] = match merged.get(&edges) {
            Some(&existing) => existing,
            None => {
                nodes.push(edges.clone());
                merged.insert(edges, nodes.len() - 1);
                nodes.len() - 1
            }
        };
    }
    let overlapping = nodes.iter().any(|edges| edges.windows(2).any(|pair| pair[0].1 >= pair[1].0));
    (!overlapping).then_some(Utf8Class { nodes, root: canonical[0] })
}
