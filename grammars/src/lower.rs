//! Lowering: from the surface-neutral [`Ebnf`] to the BNF [`ir::Grammar`].
//!
//! Names are resolved here (undefined rules and terminals are reported with
//! their span), EBNF operators become helper nonterminals, and leaves become
//! terminals. The two lexing modes lower differently:
//!
//! * **[`Lexing::Greedy`]** (Lark): terminals are what the grammar says they
//!   are — named terminal definitions (inlined into one regex each) and the
//!   anonymous literals and patterns written in rules (equal ones shared).
//! * **[`Lexing::AnySplit`]** (GBNF, regex): there is no lexer in the
//!   format, so Trellis makes one. Every rule that is not recursive is
//!   regular and becomes a regex, inlined where it is used; inside recursive
//!   rules, each maximal run of regular pieces (adjacent literals, classes,
//!   references to regular rules, and alternatives made only of those)
//!   becomes one terminal. The parser then sees only the recursive skeleton
//!   of the grammar, and the DFA does the rest. Because the matcher lets a
//!   lexeme end at any position where its terminal matches (any split), the
//!   language is exactly the one the GBNF rules define.
//!
//! Regular rules are inlined in dependency order (every rule after the
//! rules it uses), each regex built once and moved into its one user or
//! copied for several ([`Inlined`]), so nothing recurses along a chain of
//! rules and a chain costs time and memory in proportion to its length: a
//! 5,000-rule chain `r0 ::= "w0" r1 | "z0"`, ... compiles in 0.03 s (it
//! overflowed the stack before; 3,000 rules took 19 s and 3 GB; release
//! build, `cargo run --release -p trellis-grammars --example scaling
//! chain`). The inlined regex nests as deep as the chain; every walk over
//! it keeps its stack on the heap (see [`crate::hir_walk`]), so the
//! nesting limit of the written text (GBNF's 256 levels) is all the
//! recursion lowering needs.
//!
//! Terminals never match the empty string (see [`crate::ir`]): where a
//! regular piece can be empty, lowering uses a nonterminal `T?` with
//! productions `T` and `ε` instead.
//!
//! Finally, nonterminals that can never derive a finite string and rules
//! that the start rule never reaches are removed (this does not change the
//! language), and a grammar whose start rule derives nothing is refused.

use hashbrown::HashMap;
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Repetition};

use crate::ebnf::{Ebnf, Expr, ExprKind, Lexing};
use crate::error::{ErrorKind, GrammarError};
use crate::hir_walk;
use crate::ir::{
    Grammar, Nonterminal, NonterminalId, Production, Symbol, Terminal, TerminalId, Usefulness, usefulness,
};
use crate::span::Span;

/// Limits that keep lowering from blowing up on adversarial grammars.
#[derive(Clone, Copy, Debug)]
pub struct LowerLimits {
    /// A regular rule whose inlined regex would exceed this many regex nodes
    /// is kept as a nonterminal instead of being inlined (AnySplit mode).
    pub max_inline_nodes: usize,
    /// Maximum number of productions the lowered grammar may have.
    pub max_productions: usize,
}

impl Default for LowerLimits {
    fn default() -> LowerLimits {
        LowerLimits { max_inline_nodes: 20_000, max_productions: 200_000 }
    }
}

/// Lowers `ebnf` into the BNF IR.
pub fn lower_with(ebnf: &Ebnf, limits: &LowerLimits) -> Result<Grammar, GrammarError> {
    let mut lowerer = Lowerer::new(ebnf, *limits)?;
    lowerer.run()?;
    lowerer.finish()
}

/// What a rule or terminal name refers to.
#[derive(Clone, Copy, Debug)]
enum Name {
    Rule(usize),
    Terminal(usize),
}

/// A piece of a sequence while lowering in AnySplit mode: either a regular
/// chunk, not yet turned into a terminal (so that neighbours can merge into
/// it), or a finished symbol.
#[derive(Clone, Debug)]
enum Piece {
    Regular(Regex),
    Symbol(Symbol),
}

/// The result of lowering an expression in AnySplit mode.
enum Lowered {
    /// The expression is regular: one regex.
    Regular(Regex),
    /// The expression needs the parser: alternatives, each a sequence of
    /// pieces.
    Alternatives(Vec<Vec<Piece>>),
}

/// A regex under construction (AnySplit), with its costliest part.
#[derive(Clone, Debug)]
struct Regex {
    hir: Hir,
    costliest: Costliest,
}

impl Regex {
    fn plain(hir: Hir) -> Regex {
        Regex { hir, costliest: Costliest::default() }
    }

    /// `make` (a concatenation or an alternation) of `parts`.
    fn combine(parts: Vec<Regex>, make: fn(Vec<Hir>) -> Hir) -> Regex {
        let costliest = parts.iter().fold(Costliest::default(), |best, part| best.max(part.costliest));
        Regex { hir: make(parts.into_iter().map(|part| part.hir).collect()), costliest }
    }

    /// `self{min,max}`, written at `span`.
    fn repeated(self, min: u32, max: Option<u32>, span: Span) -> Regex {
        let inside = self.costliest.copies();
        let costliest =
            Costliest::at(u64::from(hir_walk::copies(min, max)).saturating_mul(inside), span).max(self.costliest);
        Regex { hir: repetition(self.hir, min, max), costliest }
    }
}

/// The part of a regex that makes its terminal largest, as far as the
/// source can say: the counted repetition with the most copies of its body
/// (nested ones multiplied), and where it is written. The lexer's NFA
/// holds a copy per count, so this is what an error about a terminal too
/// large to compile points at (a JSON Schema's `maxLength`, a GBNF `{n}`).
#[derive(Clone, Copy, Debug, Default)]
struct Costliest(Option<(u64, Span)>);

impl Costliest {
    /// `copies` copies at `span`, if that is more than one and the span
    /// says where (JSON Schema expressions mostly have no span).
    fn at(copies: u64, span: Span) -> Costliest {
        Costliest((copies > 1 && span.start < span.end).then_some((copies, span)))
    }

    /// Of a literal or written pattern at `span`: the copies of its
    /// costliest repetition.
    fn of_pattern(hir: &Hir, span: Span) -> Costliest {
        let most = hir_walk::fold(hir, |node, inside: Vec<u64>| {
            let inside = inside.into_iter().max().unwrap_or(1);
            match node.kind() {
                HirKind::Repetition(repetition) => {
                    u64::from(hir_walk::copies(repetition.min, repetition.max)).saturating_mul(inside)
                }
                _ => inside,
            }
        });
        Costliest::at(most, span)
    }

    fn copies(self) -> u64 {
        self.0.map_or(1, |(copies, _)| copies)
    }

    fn span(self) -> Option<Span> {
        self.0.map(|(_, span)| span)
    }

    fn max(self, other: Costliest) -> Costliest {
        if other.copies() > self.copies() { other } else { self }
    }
}

struct Lowerer<'a> {
    ebnf: &'a Ebnf,
    limits: LowerLimits,
    names: HashMap<&'a str, Name>,
    // Output under construction.
    terminals: Vec<Terminal>,
    /// Terminals by the text of their regex, to share equal ones.
    terminal_lookup: HashMap<String, Vec<TerminalId>>,
    nonterminals: Vec<Nonterminal>,
    productions: Vec<Production>,
    /// Productions that mention a terminal with an empty language; they can
    /// never be used and are dropped by the productivity pass.
    rule_nonterminal: Vec<Option<NonterminalId>>,
    /// `T?` helper per terminal (AnySplit mode).
    optional_terminal: HashMap<TerminalId, NonterminalId>,
    /// Per rule, the regex it stands for when it is regular (AnySplit),
    /// handed out by [`Lowerer::rule_regex`].
    rule_regex: Inlined,
    /// Per rule, whether it stays a nonterminal (AnySplit): recursive, too
    /// large to inline, or using such a rule.
    keep_rule: Vec<bool>,
    /// Per named terminal, its inlined regex (Greedy), filled on demand.
    terminal_regex: Inlined,
    /// Terminals made so far per base name, for [`Lowerer::piece_name`].
    piece_counter: HashMap<String, u32>,
    /// Per named terminal, its id in the output once used by a rule.
    terminal_output: Vec<Option<TerminalId>>,
    helper_counter: HashMap<NonterminalId, u32>,
    ignore: Vec<TerminalId>,
    start: Option<NonterminalId>,
}

impl<'a> Lowerer<'a> {
    fn new(ebnf: &'a Ebnf, limits: LowerLimits) -> Result<Lowerer<'a>, GrammarError> {
        let mut names: HashMap<&str, Name> = HashMap::new();
        let mut first_span: HashMap<&str, Span> = HashMap::new();
        for (index, rule) in ebnf.rules.iter().enumerate() {
            if let Some(previous) = first_span.insert(&rule.name, rule.name_span) {
                return Err(duplicate(&rule.name, rule.name_span, previous));
            }
            names.insert(&rule.name, Name::Rule(index));
        }
        for (index, terminal) in ebnf.terminals.iter().enumerate() {
            if let Some(previous) = first_span.insert(&terminal.name, terminal.name_span) {
                return Err(duplicate(&terminal.name, terminal.name_span, previous));
            }
            names.insert(&terminal.name, Name::Terminal(index));
        }
        let (rule_uses, terminal_uses) = reference_counts(ebnf, &names);
        Ok(Lowerer {
            ebnf,
            limits,
            names,
            terminals: Vec::new(),
            terminal_lookup: HashMap::new(),
            nonterminals: Vec::new(),
            productions: Vec::new(),
            rule_nonterminal: vec![None; ebnf.rules.len()],
            optional_terminal: HashMap::new(),
            rule_regex: Inlined::new(rule_uses),
            keep_rule: vec![true; ebnf.rules.len()],
            terminal_regex: Inlined::new(terminal_uses),
            piece_counter: HashMap::new(),
            terminal_output: vec![None; ebnf.terminals.len()],
            helper_counter: HashMap::new(),
            ignore: Vec::new(),
            start: None,
        })
    }

    fn run(&mut self) -> Result<(), GrammarError> {
        self.check_references()?;
        let start_rule = match self.names.get(self.ebnf.start.as_str()) {
            Some(Name::Rule(index)) => *index,
            _ => {
                let help = match self.ebnf.lexing {
                    Lexing::AnySplit => "GBNF grammars start at the rule named `root`",
                    Lexing::Greedy => "Lark grammars start at the rule named `start`",
                };
                return Err(GrammarError::new(
                    ErrorKind::Undefined,
                    format!("the grammar has no `{}` rule to start from", self.ebnf.start),
                )
                .with_span(Span::new(0, 0))
                .with_help(help));
            }
        };
        match self.ebnf.lexing {
            Lexing::Greedy => self.run_greedy(start_rule)?,
            Lexing::AnySplit => self.run_any_split(start_rule)?,
        }
        if self.productions.len() > self.limits.max_productions {
            return Err(GrammarError::new(
                ErrorKind::TooLarge,
                format!(
                    "the grammar expands to {} productions, more than the limit of {}",
                    self.productions.len(),
                    self.limits.max_productions
                ),
            )
            .with_help("large bounded repetitions of recursive rules expand into many productions; use `*`/`+` or a smaller bound"));
        }
        Ok(())
    }

    /// Every reference must name a rule (or, with a lexer, a terminal), and
    /// terminal definitions may only refer to terminals.
    fn check_references(&self) -> Result<(), GrammarError> {
        for rule in &self.ebnf.rules {
            self.check_expr(&rule.body, false)?;
        }
        for terminal in &self.ebnf.terminals {
            self.check_expr(&terminal.body, true)?;
        }
        for ignored in &self.ebnf.ignore {
            self.check_expr(ignored, true)?;
        }
        Ok(())
    }

    fn check_expr(&self, expr: &Expr, in_terminal: bool) -> Result<(), GrammarError> {
        match &expr.kind {
            ExprKind::Ref(name) => match self.names.get(name.as_str()) {
                None => Err(self.undefined(name, expr.span)),
                Some(Name::Rule(_)) if in_terminal => Err(GrammarError::at(
                    ErrorKind::Unsupported,
                    expr.span,
                    format!("a terminal cannot refer to the rule `{name}`"),
                )
                .with_help("terminals are regular and may only use literals, patterns and other terminals")),
                Some(_) => Ok(()),
            },
            ExprKind::Seq(items) | ExprKind::Alt(items) => {
                items.iter().try_for_each(|item| self.check_expr(item, in_terminal))
            }
            ExprKind::Repeat { expr: inner, min, max } => {
                if let Some(max) = max
                    && max < min
                {
                    return Err(GrammarError::at(
                        ErrorKind::Syntax,
                        expr.span,
                        format!("repetition range {min}..{max} is empty: the maximum is below the minimum"),
                    ));
                }
                self.check_expr(inner, in_terminal)
            }
            ExprKind::Empty | ExprKind::Literal { .. } | ExprKind::Pattern(_) => Ok(()),
        }
    }

    fn undefined(&self, name: &str, span: Span) -> GrammarError {
        let what = match self.ebnf.lexing {
            Lexing::Greedy if name.trim_start_matches('_').starts_with(|c: char| c.is_uppercase()) => "terminal",
            _ => "rule",
        };
        let mut error =
            GrammarError::at(ErrorKind::Undefined, span, format!("{what} `{name}` is used but never defined"));
        if let Some(close) = closest_name(name, self.names.keys().copied()) {
            error = error.with_help(format!("did you mean `{close}`?"));
        }
        error
    }

    // ----- Greedy (Lark) -------------------------------------------------

    fn run_greedy(&mut self, start_rule: usize) -> Result<(), GrammarError> {
        for index in 0..self.ebnf.rules.len() {
            let nt = self.rule_nt(index);
            let body = &self.ebnf.rules[index].body;
            for alternative in self.greedy_alternatives(nt, body)? {
                self.productions.push(Production { lhs: nt, rhs: alternative });
            }
        }
        self.start = Some(self.rule_nt(start_rule));
        for ignored in &self.ebnf.ignore {
            let symbols = self.greedy_sequence(self.start.unwrap_or(NonterminalId(0)), ignored)?;
            match symbols.as_slice() {
                [Symbol::Terminal(t)] => {
                    if !self.ignore.contains(t) {
                        self.ignore.push(*t);
                    }
                }
                _ => {
                    return Err(GrammarError::at(
                        ErrorKind::Unsupported,
                        ignored.span,
                        "`%ignore` takes a single terminal, literal or pattern",
                    ));
                }
            }
        }
        Ok(())
    }

    fn greedy_alternatives(&mut self, owner: NonterminalId, expr: &Expr) -> Result<Vec<Vec<Symbol>>, GrammarError> {
        match &expr.kind {
            ExprKind::Alt(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.greedy_alternatives(owner, item)?);
                }
                Ok(out)
            }
            _ => Ok(vec![self.greedy_sequence(owner, expr)?]),
        }
    }

    fn greedy_sequence(&mut self, owner: NonterminalId, expr: &Expr) -> Result<Vec<Symbol>, GrammarError> {
        match &expr.kind {
            ExprKind::Empty => Ok(Vec::new()),
            ExprKind::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.greedy_sequence(owner, item)?);
                }
                Ok(out)
            }
            ExprKind::Ref(name) => match self.names.get(name.as_str()).copied() {
                Some(Name::Rule(index)) => Ok(vec![Symbol::Nonterminal(self.rule_nt(index))]),
                Some(Name::Terminal(index)) => Ok(vec![Symbol::Terminal(self.named_terminal(index)?)]),
                None => Err(self.undefined(name, expr.span)),
            },
            ExprKind::Literal { value, .. } if value.is_empty() => Ok(Vec::new()),
            ExprKind::Literal { .. } | ExprKind::Pattern(_) => {
                let hir = self.leaf_regex(expr);
                let literal = matches!(expr.kind, ExprKind::Literal { .. });
                let name = anonymous_name(expr);
                Ok(vec![Symbol::Terminal(self.greedy_terminal(name, hir, 0, literal, expr.span, true)?)])
            }
            ExprKind::Alt(_) => {
                let alternatives = self.greedy_alternatives(owner, expr)?;
                Ok(vec![Symbol::Nonterminal(self.helper(owner, alternatives))])
            }
            ExprKind::Repeat { expr: inner, min, max } => {
                let item = match &inner.kind {
                    ExprKind::Alt(_) => {
                        let alternatives = self.greedy_alternatives(owner, inner)?;
                        vec![Symbol::Nonterminal(self.helper(owner, alternatives))]
                    }
                    _ => self.greedy_sequence(owner, inner)?,
                };
                Ok(self.repeat_symbols(owner, item, *min, *max))
            }
        }
    }

    /// The output terminal for the named terminal definition `index`,
    /// creating it (and its inlined regex) on first use.
    fn named_terminal(&mut self, index: usize) -> Result<TerminalId, GrammarError> {
        if let Some(id) = self.terminal_output[index] {
            return Ok(id);
        }
        self.build_terminal_definition(index)?;
        let hir = self.terminal_regex.take(index)?.hir;
        let definition = &self.ebnf.terminals[index];
        let literal = matches!(definition.body.kind, ExprKind::Literal { .. });
        let id = self.greedy_terminal(
            definition.name.clone(),
            hir,
            definition.priority,
            literal,
            definition.name_span,
            false,
        )?;
        self.terminal_output[index] = Some(id);
        Ok(id)
    }

    /// Adds a terminal for the Greedy mode. Anonymous terminals are shared
    /// with any existing terminal of the same regex (as Lark does); named
    /// ones are always distinct.
    fn greedy_terminal(
        &mut self,
        name: String,
        hir: Hir,
        priority: i32,
        literal: bool,
        span: Span,
        anonymous: bool,
    ) -> Result<TerminalId, GrammarError> {
        if hir.properties().minimum_len() == Some(0) {
            return Err(GrammarError::at(
                ErrorKind::Unsupported,
                span,
                format!("terminal {name} matches the empty string"),
            )
            .with_help("a terminal must match at least one character; make the terminal non-empty and the rule optional instead"));
        }
        if !hir.properties().look_set().is_empty() {
            return Err(GrammarError::at(
                ErrorKind::Regex,
                span,
                format!("terminal {name} uses an anchor or word boundary"),
            )
            .with_help(
                "lexemes are matched on their own, so `^`, `$`, `\\b` and `\\B` have no meaning inside a terminal",
            ));
        }
        let key = hir.to_string();
        if anonymous
            && let Some(existing) = self.terminal_lookup.get(&key)
            && let Some(&id) = existing.iter().find(|&&id| hir_walk::equal(&self.terminals[id.index()].hir, &hir))
        {
            return Ok(id);
        }
        let id = TerminalId(self.terminals.len() as u32);
        self.terminals.push(Terminal { name, hir, priority, literal, span: Some(span) });
        self.terminal_lookup.entry(key).or_default().push(id);
        Ok(id)
    }

    /// Builds the regex of named terminal `index` with references to other
    /// terminals inlined, and first those of the terminals it refers to,
    /// depth first with an explicit stack (terminals may refer to each other
    /// in chains as long as the grammar).
    fn build_terminal_definition(&mut self, index: usize) -> Result<(), GrammarError> {
        let mut on_path = vec![false; self.ebnf.terminals.len()];
        // (terminal, whether the terminals it refers to are built).
        let mut stack = vec![(index, false)];
        while let Some((terminal, ready)) = stack.pop() {
            if self.terminal_regex.is_built(terminal) {
                continue;
            }
            let body = &self.ebnf.terminals[terminal].body;
            if ready {
                let hir = self.terminal_expr_regex(body)?;
                self.terminal_regex.store(terminal, Regex::plain(hir));
                on_path[terminal] = false;
                continue;
            }
            on_path[terminal] = true;
            stack.push((terminal, true));
            let mut used = Vec::new();
            collect_refs(body, &self.names, &mut used, |name| match name {
                Name::Terminal(index) => Some(index),
                Name::Rule(_) => None,
            });
            for used in used {
                if on_path[used] {
                    let definition = &self.ebnf.terminals[used];
                    return Err(GrammarError::at(
                        ErrorKind::Unsupported,
                        definition.name_span,
                        format!("terminal `{}` refers to itself", definition.name),
                    )
                    .with_help("terminals must be regular; use a rule for recursive structure"));
                }
                if !self.terminal_regex.is_built(used) {
                    stack.push((used, false));
                }
            }
        }
        Ok(())
    }

    /// The regex of a terminal definition's expression; the terminals it
    /// refers to are built.
    fn terminal_expr_regex(&mut self, expr: &Expr) -> Result<Hir, GrammarError> {
        Ok(match &expr.kind {
            ExprKind::Empty => Hir::empty(),
            ExprKind::Literal { .. } | ExprKind::Pattern(_) => self.leaf_regex(expr),
            ExprKind::Ref(name) => match self.names.get(name.as_str()).copied() {
                Some(Name::Terminal(index)) => self.terminal_regex.take(index)?.hir,
                Some(Name::Rule(_)) => {
                    return Err(GrammarError::at(
                        ErrorKind::Unsupported,
                        expr.span,
                        format!("a terminal cannot refer to the rule `{name}`"),
                    ));
                }
                None => return Err(self.undefined(name, expr.span)),
            },
            ExprKind::Seq(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    parts.push(self.terminal_expr_regex(item)?);
                }
                Hir::concat(parts)
            }
            ExprKind::Alt(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    parts.push(self.terminal_expr_regex(item)?);
                }
                Hir::alternation(parts)
            }
            ExprKind::Repeat { expr: inner, min, max } => repetition(self.terminal_expr_regex(inner)?, *min, *max),
        })
    }

    // ----- AnySplit (GBNF, regex) ----------------------------------------

    fn run_any_split(&mut self, start_rule: usize) -> Result<(), GrammarError> {
        let Dependencies { edges, recursive, order } = self.rule_dependencies();
        // A rule stays a nonterminal when it is recursive, when its inlined
        // regex would be too large, or when it uses such a rule; the rest
        // are regular and become regexes.
        let sizes = self.inline_sizes(&recursive, &order);
        let mut keep: Vec<bool> = (0..self.ebnf.rules.len())
            .map(|index| recursive[index] || sizes[index] > self.limits.max_inline_nodes)
            .collect();
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); keep.len()];
        for (user, used) in edges.iter().enumerate() {
            used.iter().for_each(|&used| users[used].push(user));
        }
        let mut spreading: Vec<usize> = (0..keep.len()).filter(|&index| keep[index]).collect();
        while let Some(index) = spreading.pop() {
            for &user in &users[index] {
                if !keep[user] {
                    keep[user] = true;
                    spreading.push(user);
                }
            }
        }
        self.keep_rule = keep;
        // In dependency order, so that every rule a regex refers to is
        // built before it: no recursion through chains of rules.
        for &index in &order {
            if !self.keep_rule[index] {
                let regex = self.regular_expr_regex(&self.ebnf.rules[index].body)?;
                self.rule_regex.store(index, regex);
            }
        }

        let start_nt = self.rule_nt(start_rule);
        self.start = Some(start_nt);
        if !self.keep_rule[start_rule] {
            let regex = self.rule_regex.take(start_rule)?;
            let pieces = vec![Piece::Regular(regex)];
            if let Some(rhs) = self.finish_pieces(start_nt, pieces, true)? {
                self.productions.push(Production { lhs: start_nt, rhs });
            }
            return Ok(());
        }
        for index in 0..self.keep_rule.len() {
            if !self.keep_rule[index] {
                continue;
            }
            let nt = self.rule_nt(index);
            let body = &self.ebnf.rules[index].body;
            let alternatives = match self.lower_any(nt, body)? {
                Lowered::Regular(regex) => vec![vec![Piece::Regular(regex)]],
                Lowered::Alternatives(alternatives) => alternatives,
            };
            for pieces in alternatives {
                if let Some(rhs) = self.finish_pieces(nt, pieces, false)? {
                    self.productions.push(Production { lhs: nt, rhs });
                }
            }
        }
        Ok(())
    }

    /// Which rules each rule refers to, which take part in a reference
    /// cycle (strongly connected components with a cycle, by Tarjan's
    /// algorithm), and every rule after the rules it refers to (outside its
    /// own cycle).
    fn rule_dependencies(&self) -> Dependencies {
        let count = self.ebnf.rules.len();
        let edges: Vec<Vec<usize>> = self
            .ebnf
            .rules
            .iter()
            .map(|rule| {
                let mut out = Vec::new();
                collect_rule_refs(&rule.body, &self.names, &mut out);
                out
            })
            .collect();
        let mut recursive = vec![false; count];
        let mut order = Vec::with_capacity(count);
        // Tarjan's algorithm finishes a component after every component it
        // reaches: dependencies first.
        for component in strongly_connected_components(&edges) {
            if component.len() > 1 || edges[component[0]].contains(&component[0]) {
                for &index in &component {
                    recursive[index] = true;
                }
            }
            order.extend(component);
        }
        Dependencies { edges, recursive, order }
    }

    /// For each rule, the number of regex nodes its body would have once
    /// references to non-recursive rules are inlined (saturating), computed
    /// in dependency `order`.
    fn inline_sizes(&self, recursive: &[bool], order: &[usize]) -> Vec<usize> {
        fn expr_size(expr: &Expr, lowerer: &Lowerer<'_>, sizes: &[usize]) -> usize {
            match &expr.kind {
                ExprKind::Ref(name) => match lowerer.names.get(name.as_str()) {
                    Some(Name::Rule(index)) => sizes[*index],
                    _ => 1,
                },
                ExprKind::Seq(items) | ExprKind::Alt(items) => {
                    items.iter().fold(1usize, |acc, item| acc.saturating_add(expr_size(item, lowerer, sizes)))
                }
                ExprKind::Repeat { expr, .. } => expr_size(expr, lowerer, sizes).saturating_add(1),
                ExprKind::Empty | ExprKind::Literal { .. } | ExprKind::Pattern(_) => 1,
            }
        }
        // Recursive rules count as one node (a nonterminal), and so does a
        // rule of the same cycle not sized yet.
        let mut sizes = vec![1; self.ebnf.rules.len()];
        for &index in order {
            if !recursive[index] {
                sizes[index] = expr_size(&self.ebnf.rules[index].body, self, &sizes);
            }
        }
        sizes
    }

    /// The regex of an expression that only refers to regular rules, whose
    /// regexes are built already.
    fn regular_expr_regex(&mut self, expr: &Expr) -> Result<Regex, GrammarError> {
        Ok(match &expr.kind {
            ExprKind::Empty => Regex::plain(Hir::empty()),
            ExprKind::Literal { .. } | ExprKind::Pattern(_) => self.leaf(expr),
            ExprKind::Ref(name) => match self.names.get(name.as_str()).copied() {
                Some(Name::Rule(index)) => self.rule_regex.take(index)?,
                _ => return Err(self.undefined(name, expr.span)),
            },
            ExprKind::Seq(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    parts.push(self.regular_expr_regex(item)?);
                }
                Regex::combine(parts, Hir::concat)
            }
            ExprKind::Alt(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    parts.push(self.regular_expr_regex(item)?);
                }
                Regex::combine(parts, Hir::alternation)
            }
            ExprKind::Repeat { expr: inner, min, max } => {
                self.regular_expr_regex(inner)?.repeated(*min, *max, expr.span)
            }
        })
    }

    /// Lowers an expression of a recursive rule, keeping regular parts as
    /// regexes so that neighbours merge into one terminal.
    fn lower_any(&mut self, owner: NonterminalId, expr: &Expr) -> Result<Lowered, GrammarError> {
        Ok(match &expr.kind {
            ExprKind::Empty => Lowered::Regular(Regex::plain(Hir::empty())),
            ExprKind::Literal { .. } | ExprKind::Pattern(_) => Lowered::Regular(self.leaf(expr)),
            ExprKind::Ref(name) => match self.names.get(name.as_str()).copied() {
                Some(Name::Rule(index)) if !self.keep_rule[index] => Lowered::Regular(self.rule_regex.take(index)?),
                Some(Name::Rule(index)) => {
                    Lowered::Alternatives(vec![vec![Piece::Symbol(Symbol::Nonterminal(self.rule_nt(index)))]])
                }
                _ => return Err(self.undefined(name, expr.span)),
            },
            ExprKind::Seq(items) => {
                let mut pieces: Vec<Piece> = Vec::new();
                for item in items {
                    match self.lower_any(owner, item)? {
                        Lowered::Regular(regex) => push_piece(&mut pieces, Piece::Regular(regex)),
                        Lowered::Alternatives(mut alternatives) => {
                            if alternatives.len() == 1 {
                                for piece in alternatives.pop().unwrap_or_default() {
                                    push_piece(&mut pieces, piece);
                                }
                            } else {
                                let helper = self.helper_from_pieces(owner, alternatives)?;
                                push_piece(&mut pieces, Piece::Symbol(Symbol::Nonterminal(helper)));
                            }
                        }
                    }
                }
                match pieces.as_mut_slice() {
                    [] => Lowered::Regular(Regex::plain(Hir::empty())),
                    [Piece::Regular(regex)] => Lowered::Regular(std::mem::replace(regex, Regex::plain(Hir::empty()))),
                    _ => Lowered::Alternatives(vec![pieces]),
                }
            }
            ExprKind::Alt(items) => {
                let mut regular = Vec::new();
                let mut alternatives = Vec::new();
                for item in items {
                    match self.lower_any(owner, item)? {
                        Lowered::Regular(regex) => regular.push(regex),
                        Lowered::Alternatives(more) => alternatives.extend(more),
                    }
                }
                if alternatives.is_empty() {
                    Lowered::Regular(Regex::combine(regular, Hir::alternation))
                } else {
                    if !regular.is_empty() {
                        alternatives.insert(0, vec![Piece::Regular(Regex::combine(regular, Hir::alternation))]);
                    }
                    Lowered::Alternatives(alternatives)
                }
            }
            ExprKind::Repeat { expr: inner, min, max } => match self.lower_any(owner, inner)? {
                Lowered::Regular(regex) => Lowered::Regular(regex.repeated(*min, *max, expr.span)),
                Lowered::Alternatives(alternatives) => {
                    let item = if let [single] = alternatives.as_slice()
                        && let [Piece::Symbol(symbol)] = single.as_slice()
                    {
                        vec![*symbol]
                    } else {
                        vec![Symbol::Nonterminal(self.helper_from_pieces(owner, alternatives)?)]
                    };
                    let symbols = self.repeat_symbols(owner, item, *min, *max);
                    Lowered::Alternatives(vec![symbols.into_iter().map(Piece::Symbol).collect()])
                }
            },
        })
    }

    /// A helper nonterminal whose productions are the given alternatives.
    fn helper_from_pieces(
        &mut self,
        owner: NonterminalId,
        alternatives: Vec<Vec<Piece>>,
    ) -> Result<NonterminalId, GrammarError> {
        let helper = self.new_helper(owner);
        for pieces in alternatives {
            if let Some(rhs) = self.finish_pieces(helper, pieces, false)? {
                self.productions.push(Production { lhs: helper, rhs });
            }
        }
        Ok(helper)
    }

    /// Turns the regular pieces of a sequence into terminals. Returns `None`
    /// when a piece can never match (the production is useless).
    fn finish_pieces(
        &mut self,
        owner: NonterminalId,
        pieces: Vec<Piece>,
        whole_input: bool,
    ) -> Result<Option<Vec<Symbol>>, GrammarError> {
        let mut rhs = Vec::with_capacity(pieces.len());
        for piece in pieces {
            match piece {
                Piece::Symbol(symbol) => rhs.push(symbol),
                Piece::Regular(regex) => {
                    let hir = &regex.hir;
                    let properties = hir.properties();
                    if matches_nothing(hir) {
                        return Ok(None);
                    }
                    let nullable = matches_empty(hir);
                    if properties.maximum_len() == Some(0) {
                        if nullable {
                            continue;
                        }
                        return Ok(None);
                    }
                    if !whole_input && !properties.look_set().is_empty() {
                        return Err(GrammarError::new(
                            ErrorKind::Regex,
                            "anchors and word boundaries are only supported in a regex constraint, not inside a grammar",
                        ));
                    }
                    let terminal = self.any_split_terminal(owner, regex);
                    if nullable {
                        rhs.push(Symbol::Nonterminal(self.optional(terminal)));
                    } else {
                        rhs.push(Symbol::Terminal(terminal));
                    }
                }
            }
        }
        Ok(Some(rhs))
    }

    /// The terminal of a regular piece of `owner`'s productions (an equal
    /// one if there is one). Errors about it point at the piece's costliest
    /// part, if it has one (see [`Costliest`]), else at `owner`.
    fn any_split_terminal(&mut self, owner: NonterminalId, regex: Regex) -> TerminalId {
        let Regex { hir, costliest } = regex;
        let key = hir.to_string();
        if let Some(existing) = self.terminal_lookup.get(&key)
            && let Some(&id) = existing.iter().find(|&&id| hir_walk::equal(&self.terminals[id.index()].hir, &hir))
        {
            return id;
        }
        let name = match hir.kind() {
            HirKind::Literal(literal) => match std::str::from_utf8(&literal.0) {
                Ok(text) => format!("{text:?}"),
                Err(_) => self.piece_name(owner),
            },
            _ => self.piece_name(owner),
        };
        let literal = matches!(hir.kind(), HirKind::Literal(_));
        let id = TerminalId(self.terminals.len() as u32);
        let span = costliest.span().or(self.nonterminals[owner.index()].span);
        self.terminals.push(Terminal { name, hir, priority: 0, literal, span });
        self.terminal_lookup.entry(key).or_default().push(id);
        id
    }

    /// `rule#k` for the `k`-th terminal made from the regular parts of
    /// `rule` (or of its helpers).
    fn piece_name(&mut self, owner: NonterminalId) -> String {
        let name = &self.nonterminals[owner.index()].name;
        let base = name.split('#').next().unwrap_or(name).to_string();
        let counter = self.piece_counter.entry(base.clone()).or_insert(0);
        *counter += 1;
        format!("{base}#{counter}")
    }

    /// The nonterminal `T?` → `T` | ε, shared per terminal.
    fn optional(&mut self, terminal: TerminalId) -> NonterminalId {
        if let Some(&nt) = self.optional_terminal.get(&terminal) {
            return nt;
        }
        let name = format!("{}?", self.terminals[terminal.index()].name);
        let span = self.terminals[terminal.index()].span;
        let nt = self.add_nonterminal(name, span);
        self.productions.push(Production { lhs: nt, rhs: vec![Symbol::Terminal(terminal)] });
        self.productions.push(Production { lhs: nt, rhs: Vec::new() });
        self.optional_terminal.insert(terminal, nt);
        nt
    }

    // ----- shared ----------------------------------------------------------

    fn rule_nt(&mut self, index: usize) -> NonterminalId {
        if let Some(nt) = self.rule_nonterminal[index] {
            return nt;
        }
        let rule = &self.ebnf.rules[index];
        let nt = self.add_nonterminal(rule.name.clone(), Some(rule.name_span));
        self.rule_nonterminal[index] = Some(nt);
        nt
    }

    fn add_nonterminal(&mut self, name: String, span: Option<Span>) -> NonterminalId {
        let id = NonterminalId(self.nonterminals.len() as u32);
        self.nonterminals.push(Nonterminal { name, span });
        id
    }

    fn new_helper(&mut self, owner: NonterminalId) -> NonterminalId {
        let counter = self.helper_counter.entry(owner).or_insert(0);
        *counter += 1;
        let number = *counter;
        let owner_name = self.nonterminals[owner.index()].name.clone();
        let span = self.nonterminals[owner.index()].span;
        self.add_nonterminal(format!("{owner_name}#{number}"), span)
    }

    /// A helper nonterminal with the given productions.
    fn helper(&mut self, owner: NonterminalId, alternatives: Vec<Vec<Symbol>>) -> NonterminalId {
        let helper = self.new_helper(owner);
        for rhs in alternatives {
            self.productions.push(Production { lhs: helper, rhs });
        }
        helper
    }

    /// `item{min,max}` as a symbol sequence: `min` copies of the item, then
    /// a left-recursive star helper (`S → S item | ε`, constant parser stack)
    /// for an unbounded maximum, or a chain of optional helpers
    /// (`O₁ → item | ε`, `Oₖ → item Oₖ₋₁ | ε`) for a bounded one.
    fn repeat_symbols(&mut self, owner: NonterminalId, item: Vec<Symbol>, min: u32, max: Option<u32>) -> Vec<Symbol> {
        let mut out = Vec::new();
        for _ in 0..min {
            out.extend(item.iter().copied());
        }
        if item.is_empty() {
            return out;
        }
        match max {
            None => {
                let star = self.new_helper(owner);
                let mut rhs = vec![Symbol::Nonterminal(star)];
                rhs.extend(item.iter().copied());
                self.productions.push(Production { lhs: star, rhs });
                self.productions.push(Production { lhs: star, rhs: Vec::new() });
                out.push(Symbol::Nonterminal(star));
            }
            Some(max) if max > min => {
                let mut previous: Option<NonterminalId> = None;
                for _ in 0..(max - min) {
                    let optional = self.new_helper(owner);
                    let mut rhs = item.clone();
                    if let Some(previous) = previous {
                        rhs.push(Symbol::Nonterminal(previous));
                    }
                    self.productions.push(Production { lhs: optional, rhs });
                    self.productions.push(Production { lhs: optional, rhs: Vec::new() });
                    previous = Some(optional);
                }
                if let Some(last) = previous {
                    out.push(Symbol::Nonterminal(last));
                }
            }
            Some(_) => {}
        }
        out
    }

    /// A literal or pattern of an AnySplit rule, with its costliest part.
    fn leaf(&self, expr: &Expr) -> Regex {
        let hir = self.leaf_regex(expr);
        let costliest = Costliest::of_pattern(&hir, expr.span);
        Regex { hir, costliest }
    }

    fn leaf_regex(&self, expr: &Expr) -> Hir {
        match &expr.kind {
            ExprKind::Literal { value, case_insensitive: false } => Hir::literal(value.as_bytes()),
            ExprKind::Literal { value, case_insensitive: true } => case_insensitive_literal(value),
            ExprKind::Pattern(hir) => hir.clone(),
            _ => Hir::fail(),
        }
    }

    /// Prunes useless symbols, checks the language is not empty, and
    /// renumbers everything densely.
    fn finish(self) -> Result<Grammar, GrammarError> {
        let Some(start) = self.start else {
            return Err(GrammarError::new(ErrorKind::Undefined, "the grammar has no start rule"));
        };
        let nt_count = self.nonterminals.len();
        let terminal_ok: Vec<bool> = self.terminals.iter().map(|t| !matches_nothing(&t.hir)).collect();
        let Usefulness { productive, reachable, mut terminal_used } =
            usefulness(nt_count, &self.productions, start, &terminal_ok, &self.nonterminals)?;
        let useful_production = |production: &Production| {
            productive[production.lhs.index()]
                && production.rhs.iter().all(|symbol| match symbol {
                    Symbol::Terminal(t) => terminal_ok[t.index()],
                    Symbol::Nonterminal(n) => productive[n.index()],
                })
        };
        for &ignored in &self.ignore {
            terminal_used[ignored.index()] = true;
        }
        // Renumber.
        let mut terminal_map = vec![None; self.terminals.len()];
        let mut terminals = Vec::new();
        for (index, terminal) in self.terminals.into_iter().enumerate() {
            if terminal_used[index] {
                terminal_map[index] = Some(TerminalId(terminals.len() as u32));
                terminals.push(terminal);
            }
        }
        let mut nonterminal_map = vec![None; nt_count];
        let mut nonterminals = Vec::new();
        for (index, nonterminal) in self.nonterminals.into_iter().enumerate() {
            if reachable[index] {
                nonterminal_map[index] = Some(NonterminalId(nonterminals.len() as u32));
                nonterminals.push(nonterminal);
            }
        }
        let map_symbol = |symbol: &Symbol| -> Option<Symbol> {
            Some(match symbol {
                Symbol::Terminal(t) => Symbol::Terminal(terminal_map[t.index()]?),
                Symbol::Nonterminal(n) => Symbol::Nonterminal(nonterminal_map[n.index()]?),
            })
        };
        let mut productions = Vec::new();
        let mut seen = hashbrown::HashSet::new();
        for production in &self.productions {
            if !reachable[production.lhs.index()] || !useful_production(production) {
                continue;
            }
            let Some(lhs) = nonterminal_map[production.lhs.index()] else { continue };
            let rhs: Option<Vec<Symbol>> = production.rhs.iter().map(map_symbol).collect();
            let Some(rhs) = rhs else { continue };
            let production = Production { lhs, rhs };
            if seen.insert(production.clone()) {
                productions.push(production);
            }
        }
        let ignore = self.ignore.iter().filter_map(|t| terminal_map[t.index()]).collect();
        let start = nonterminal_map[start.index()].unwrap_or(NonterminalId(0));
        Ok(Grammar { lexing: self.ebnf.lexing, terminals, nonterminals, productions, start, ignore })
    }
}

fn duplicate(name: &str, span: Span, previous: Span) -> GrammarError {
    GrammarError::at(ErrorKind::Duplicate, span, format!("`{name}` is defined twice"))
        .with_help(format!("the first definition starts at byte {}; rename or merge them", previous.start))
}

/// Appends a piece, merging adjacent regular pieces into one regex.
fn push_piece(pieces: &mut Vec<Piece>, piece: Piece) {
    match (piece, pieces.last_mut()) {
        (Piece::Regular(next), Some(Piece::Regular(previous))) => {
            // Moved, not cloned: a long run of regular pieces would copy
            // the growing regex once per piece.
            let taken = std::mem::replace(previous, Regex::plain(Hir::empty()));
            *previous = Regex::combine(vec![taken, next], Hir::concat);
        }
        (piece, _) => pieces.push(piece),
    }
}

/// Whether a regex matches no string at all: every match would have to pass
/// an empty class. Not `minimum_len().is_none()`: regex-syntax also says
/// `None` for an alternation with one such branch, which still matches what
/// its other branches do. Assertions count as satisfiable here; a terminal
/// that only they make unmatchable is found when the lexer is built.
pub(crate) fn matches_nothing(hir: &Hir) -> bool {
    use regex_syntax::hir::Class;
    hir_walk::fold(hir, |node, subs: Vec<bool>| match node.kind() {
        HirKind::Empty | HirKind::Literal(_) | HirKind::Look(_) => false,
        HirKind::Class(Class::Unicode(class)) => class.ranges().is_empty(),
        HirKind::Class(Class::Bytes(class)) => class.ranges().is_empty(),
        HirKind::Repetition(repetition) => repetition.min > 0 && subs.iter().all(|&nothing| nothing),
        HirKind::Capture(_) => subs.iter().all(|&nothing| nothing),
        HirKind::Concat(_) => subs.iter().any(|&nothing| nothing),
        HirKind::Alternation(_) => subs.iter().all(|&nothing| nothing),
    })
}

/// Whether a regex matches the empty input. Unlike `minimum_len() ==
/// Some(0)`, this evaluates assertions: on empty input `^`, `$` and `\B`
/// hold, `\b` does not.
pub(crate) fn matches_empty(hir: &Hir) -> bool {
    use regex_syntax::hir::Look;
    hir_walk::fold(hir, |node, subs: Vec<bool>| match node.kind() {
        HirKind::Empty => true,
        HirKind::Literal(literal) => literal.0.is_empty(),
        HirKind::Class(_) => false,
        HirKind::Look(look) => !matches!(
            look,
            Look::WordAscii
                | Look::WordUnicode
                | Look::WordStartAscii
                | Look::WordEndAscii
                | Look::WordStartUnicode
                | Look::WordEndUnicode
        ),
        HirKind::Repetition(repetition) => repetition.min == 0 || subs.iter().all(|&empty| empty),
        HirKind::Capture(_) | HirKind::Concat(_) => subs.iter().all(|&empty| empty),
        HirKind::Alternation(_) => subs.iter().any(|&empty| empty),
    })
}

/// Regexes of regular rules (or of named terminals) waiting to be inlined
/// where they are used. Each is handed out once per use, as counted before
/// lowering starts: a copy for every use but the last, which takes it.
///
/// Keeping every rule's regex and copying it into each user made a chain
/// of rules quadratic: with `r0 ::= "w0" r1 | "z0"`, `r1 ::= "w1" r2 |
/// "z1"`, ..., rule `rᵢ` holds all of the rules below it, so 3,000 rules
/// took 18 s and 3 GB. Taking the regex instead builds each node once.
struct Inlined {
    regexes: Vec<Option<Regex>>,
    uses_left: Vec<usize>,
}

impl Inlined {
    fn new(uses: Vec<usize>) -> Inlined {
        Inlined { regexes: (0..uses.len()).map(|_| None).collect(), uses_left: uses }
    }

    fn store(&mut self, index: usize, regex: Regex) {
        self.regexes[index] = Some(regex);
    }

    fn is_built(&self, index: usize) -> bool {
        self.regexes[index].is_some()
    }

    /// The regex for one use of `index`.
    fn take(&mut self, index: usize) -> Result<Regex, GrammarError> {
        let uses = &mut self.uses_left[index];
        let hir = if *uses > 1 {
            *uses -= 1;
            self.regexes[index]
                .as_ref()
                .map(|regex| Regex { hir: hir_walk::deep_clone(&regex.hir), costliest: regex.costliest })
        } else {
            *uses = 0;
            self.regexes[index].take()
        };
        // Only if the uses were miscounted.
        hir.ok_or_else(|| {
            GrammarError::new(ErrorKind::Unsupported, "internal error: a rule was inlined more often than it is used")
        })
    }
}

/// How the rules of a grammar refer to each other (AnySplit).
struct Dependencies {
    /// The rules each rule refers to.
    edges: Vec<Vec<usize>>,
    /// Whether a rule takes part in a reference cycle.
    recursive: Vec<bool>,
    /// Every rule, after the rules it refers to outside its own cycle.
    order: Vec<usize>,
}

/// How many times each rule and each named terminal is inlined: its
/// references in rule bodies (and for the start rule, one more: the
/// grammar itself), or in terminal definitions (and one more if rules or
/// `%ignore` use it: they share one output terminal).
fn reference_counts(ebnf: &Ebnf, names: &HashMap<&str, Name>) -> (Vec<usize>, Vec<usize>) {
    let mut rules = vec![0; ebnf.rules.len()];
    let mut terminals = vec![0; ebnf.terminals.len()];
    let mut used_by_rules = vec![false; ebnf.terminals.len()];
    for expr in ebnf.rules.iter().map(|rule| &rule.body).chain(&ebnf.ignore) {
        visit_refs(expr, names, &mut |name| match name {
            Name::Rule(index) => rules[index] += 1,
            Name::Terminal(index) => used_by_rules[index] = true,
        });
    }
    if let Some(Name::Rule(start)) = names.get(ebnf.start.as_str()) {
        rules[*start] += 1;
    }
    for terminal in &ebnf.terminals {
        visit_refs(&terminal.body, names, &mut |name| {
            if let Name::Terminal(index) = name {
                terminals[index] += 1;
            }
        });
    }
    for (uses, used) in terminals.iter_mut().zip(used_by_rules) {
        *uses += usize::from(used);
    }
    (rules, terminals)
}

fn repetition(hir: Hir, min: u32, max: Option<u32>) -> Hir {
    Hir::repetition(Repetition { min, max, greedy: true, sub: Box::new(hir) })
}

/// A literal matched without regard to case: each character with simple
/// case folding, as Lark's `"..."i` (Python's `re.IGNORECASE`) does.
fn case_insensitive_literal(value: &str) -> Hir {
    let parts = value
        .chars()
        .map(|c| {
            let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
            class.case_fold_simple();
            if class.ranges().len() == 1 && class.ranges()[0].start() == class.ranges()[0].end() {
                let mut buffer = [0u8; 4];
                Hir::literal(c.encode_utf8(&mut buffer).as_bytes())
            } else {
                Hir::class(Class::Unicode(class))
            }
        })
        .collect();
    Hir::concat(parts)
}

/// A display name for an anonymous terminal: the literal in quotes or the
/// pattern between slashes.
fn anonymous_name(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Literal { value, case_insensitive } => {
            format!("{value:?}{}", if *case_insensitive { "i" } else { "" })
        }
        ExprKind::Pattern(hir) => format!("/{hir}/"),
        _ => "<anonymous>".to_string(),
    }
}

/// The rules `expr` refers to, each once.
fn collect_rule_refs(expr: &Expr, names: &HashMap<&str, Name>, out: &mut Vec<usize>) {
    collect_refs(expr, names, out, |name| match name {
        Name::Rule(index) => Some(index),
        Name::Terminal(_) => None,
    })
}

/// The indices `pick` chooses among the names `expr` refers to, each once,
/// in ascending order.
fn collect_refs(expr: &Expr, names: &HashMap<&str, Name>, out: &mut Vec<usize>, pick: impl Fn(Name) -> Option<usize>) {
    visit_refs(expr, names, &mut |name| out.extend(pick(name)));
    // Sorted rather than searched on each push: a generated grammar's
    // root may list thousands of rules.
    out.sort_unstable();
    out.dedup();
}

/// Calls `visit` on every defined name `expr` refers to, once per
/// reference.
fn visit_refs(expr: &Expr, names: &HashMap<&str, Name>, visit: &mut impl FnMut(Name)) {
    match &expr.kind {
        ExprKind::Ref(name) => {
            if let Some(&name) = names.get(name.as_str()) {
                visit(name);
            }
        }
        ExprKind::Seq(items) | ExprKind::Alt(items) => items.iter().for_each(|item| visit_refs(item, names, visit)),
        ExprKind::Repeat { expr, .. } => visit_refs(expr, names, visit),
        ExprKind::Empty | ExprKind::Literal { .. } | ExprKind::Pattern(_) => {}
    }
}

/// Tarjan's strongly connected components, iteratively (grammars can be deep
/// enough to overflow a recursive version).
fn strongly_connected_components(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let count = edges.len();
    let mut index_of = vec![usize::MAX; count];
    let mut low = vec![0usize; count];
    let mut on_stack = vec![false; count];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut next_index = 0;
    for root in 0..count {
        if index_of[root] != usize::MAX {
            continue;
        }
        // (node, next edge position)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index_of[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut position)) = work.last_mut() {
            if *position < edges[node].len() {
                let next = edges[node][*position];
                *position += 1;
                if index_of[next] == usize::MAX {
                    index_of[next] = next_index;
                    low[next] = next_index;
                    next_index += 1;
                    stack.push(next);
                    on_stack[next] = true;
                    work.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index_of[next]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[node]);
                }
                if low[node] == index_of[node] {
                    let mut component = Vec::new();
                    while let Some(member) = stack.pop() {
                        on_stack[member] = false;
                        component.push(member);
                        if member == node {
                            break;
                        }
                    }
                    components.push(component);
                }
            }
        }
    }
    components
}

/// The defined name closest to `name` by edit distance, if any is close.
pub(crate) fn closest_name<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(name, candidate);
        let length = name.chars().count();
        let limit = if length <= 3 { 1 } else { (length / 3).max(2) };
        if distance <= limit && best.is_none_or(|(d, c)| (distance, candidate) < (d, c)) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebnf::RuleDef;

    fn lower(ebnf: &Ebnf) -> Result<Grammar, GrammarError> {
        lower_with(ebnf, &LowerLimits::default())
    }

    fn span() -> Span {
        Span::new(0, 0)
    }
    fn lit(text: &str) -> Expr {
        Expr::new(ExprKind::Literal { value: text.into(), case_insensitive: false }, span())
    }
    fn reference(name: &str) -> Expr {
        Expr::new(ExprKind::Ref(name.into()), span())
    }
    fn seq(items: Vec<Expr>) -> Expr {
        Expr::new(ExprKind::Seq(items), span())
    }
    fn alt(items: Vec<Expr>) -> Expr {
        Expr::new(ExprKind::Alt(items), span())
    }
    fn star(item: Expr) -> Expr {
        Expr::new(ExprKind::Repeat { expr: Box::new(item), min: 0, max: None }, span())
    }
    fn rule(name: &str, body: Expr) -> RuleDef {
        RuleDef { name: name.into(), name_span: span(), body }
    }
    fn gbnf(rules: Vec<RuleDef>) -> Ebnf {
        Ebnf { lexing: Lexing::AnySplit, rules, terminals: vec![], ignore: vec![], start: "root".into() }
    }

    /// regex-syntax gives an alternation with a branch that matches
    /// nothing no minimum length; the other branches still match.
    #[test]
    fn a_dead_branch_does_not_kill_its_alternation() {
        let grammar = crate::CompiledGrammar::new("(?:[a&&b]|c)d", crate::Format::Regex).expect("compiles");
        assert!(grammar.accepts(b"cd"));
        assert!(!grammar.accepts(b"d"));
        let dead = regex_syntax::parse("[a&&b]").expect("parses");
        assert!(matches_nothing(&dead));
        assert!(!matches_nothing(&regex_syntax::parse("[a&&b]*x|[a&&b]").expect("parses")));
        assert!(matches_nothing(&regex_syntax::parse("x[a&&b]+").expect("parses")));
    }

    #[test]
    fn regular_grammar_becomes_one_terminal() {
        let grammar = lower(&gbnf(vec![
            rule("root", seq(vec![reference("word"), lit(" "), reference("word")])),
            rule("word", star(lit("a"))),
        ]))
        .unwrap();
        assert_eq!(grammar.terminals.len(), 1);
        assert_eq!(grammar.productions.len(), 1);
        assert_eq!(grammar.productions[0].rhs, vec![Symbol::Terminal(TerminalId(0))]);
    }

    #[test]
    fn recursive_rule_keeps_regular_runs_together() {
        // root ::= "(" ws root ws ")" | "x"
        let grammar = lower(&gbnf(vec![
            rule(
                "root",
                alt(vec![seq(vec![lit("("), reference("ws"), reference("root"), reference("ws"), lit(")")]), lit("x")]),
            ),
            rule("ws", star(lit(" "))),
        ]))
        .unwrap();
        // Terminals: "x", "(" ws, ws ")"
        assert_eq!(grammar.terminals.len(), 3, "{grammar}");
        assert_eq!(grammar.productions.len(), 2, "{grammar}");
    }

    #[test]
    fn nullable_regular_piece_becomes_optional_nonterminal() {
        // root ::= ws root | "x"   (ws can be empty)
        let grammar = lower(&gbnf(vec![
            rule("root", alt(vec![seq(vec![reference("ws"), reference("root")]), lit("x")])),
            rule("ws", star(lit(" "))),
        ]))
        .unwrap();
        let text = grammar.to_string();
        assert!(text.contains("root#1? →"), "{text}");
        assert!(text.contains("root#1? → ε"), "{text}");
    }

    #[test]
    fn undefined_rule_suggests_a_close_name() {
        let error = lower(&gbnf(vec![rule("root", reference("valeu")), rule("value", lit("v"))])).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Undefined);
        assert_eq!(error.help.as_deref(), Some("did you mean `value`?"));
    }

    #[test]
    fn missing_root_is_reported() {
        let error = lower(&gbnf(vec![rule("main", lit("v"))])).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Undefined);
        assert!(error.message.contains("`root`"));
    }

    #[test]
    fn grammar_that_never_finishes_is_empty() {
        let error = lower(&gbnf(vec![rule("root", seq(vec![reference("root"), lit("a")]))])).unwrap_err();
        assert_eq!(error.kind, ErrorKind::EmptyLanguage);
    }

    #[test]
    fn useless_rules_are_pruned() {
        // root ::= "a" | loop ; loop ::= loop "b"   (loop never finishes)
        let grammar = lower(&gbnf(vec![
            rule("root", alt(vec![seq(vec![lit("a"), reference("root")]), lit("a"), reference("loop")])),
            rule("loop", seq(vec![reference("loop"), lit("b")])),
        ]))
        .unwrap();
        assert!(grammar.nonterminals.iter().all(|nt| nt.name != "loop"), "{grammar}");
    }

    #[test]
    fn greedy_mode_shares_equal_anonymous_terminals() {
        let ebnf = Ebnf {
            lexing: Lexing::Greedy,
            rules: vec![
                rule("start", seq(vec![lit(","), reference("item"), lit(",")])),
                rule("item", reference("COMMA")),
            ],
            terminals: vec![crate::ebnf::TerminalDef {
                name: "COMMA".into(),
                name_span: span(),
                priority: 0,
                body: lit(","),
            }],
            ignore: vec![],
            start: "start".into(),
        };
        let grammar = lower(&ebnf).unwrap();
        // The two anonymous "," share one terminal; the named COMMA is its own.
        assert_eq!(grammar.terminals.len(), 2, "{grammar}");
    }

    #[test]
    fn greedy_mode_refuses_empty_terminals() {
        let ebnf = Ebnf {
            lexing: Lexing::Greedy,
            rules: vec![rule("start", star(lit("a")))],
            terminals: vec![crate::ebnf::TerminalDef {
                name: "E".into(),
                name_span: span(),
                priority: 0,
                body: star(lit("x")),
            }],
            ignore: vec![reference("E")],
            start: "start".into(),
        };
        let error = lower(&ebnf).unwrap_err();
        assert!(error.message.contains("empty string"), "{error}");
    }

    /// `r0 ::= "w0" r1 | "z0"`, ..., `r{n} ::= "end"`: regular rules, each
    /// inlined into the one above, whose regex nests two levels per rule.
    fn chain(n: usize, root: &str) -> String {
        let mut text = format!("root ::= {root}\n");
        for i in 0..n {
            text.push_str(&format!("r{i} ::= \"w{i}\" r{} | \"z{i}\"\n", i + 1));
        }
        text.push_str(&format!("r{n} ::= \"end\"\n"));
        text
    }

    /// Issue 15: 5,000 such rules overflowed the stack (lowering recursed
    /// through the chain of rules, the NFA compiler and the regex walkers
    /// through the 10,000 levels of the inlined regex), after quadratic time
    /// and memory (every rule kept a copy of the rules below it). Now nothing
    /// recurses along the chain, in a debug build on a test thread's 2 MiB
    /// stack.
    #[test]
    fn a_long_chain_of_regular_rules_compiles() {
        let grammar = crate::CompiledGrammar::new(&chain(5000, "r0"), crate::Format::Gbnf).expect("compiles");
        assert_eq!(grammar.check(b"w0z1"), crate::Verdict::Complete);
        assert_eq!(grammar.check(b"w0w1w2w3z4"), crate::Verdict::Complete);
        assert_eq!(grammar.check(b"w0w1"), crate::Verdict::Prefix);
        assert_eq!(grammar.check(b"w0z2"), crate::Verdict::Rejected { offset: 3 });
        let mut deep: String = (0..5000).map(|i| format!("w{i}")).collect();
        deep.push_str("end");
        assert!(grammar.accepts(deep.as_bytes()));
    }

    /// The same deep regex used twice: copied, and compared with an equal
    /// terminal, without recursion; and inside a grammar with conflicts,
    /// whose GLR tables copy the terminals.
    #[test]
    fn a_deep_regex_used_twice_is_copied_and_shared() {
        let grammar = crate::CompiledGrammar::new(&chain(3000, "r0 root | r0"), crate::Format::Gbnf).expect("compiles");
        assert_eq!(grammar.grammar().terminals.len(), 1, "{}", grammar.grammar());
        assert!(grammar.accepts(b"z0w0z1z0"));
        let ambiguous =
            crate::CompiledGrammar::new(&chain(3000, "r0 | root root"), crate::Format::Gbnf).expect("compiles");
        assert!(ambiguous.stats().generalized);
        assert!(ambiguous.accepts(b"z0w0z1z0"));
        assert!(!ambiguous.accepts(b"z0w0z0"));
    }

    /// Lark terminals that refer to each other in a long chain are inlined
    /// the same way, and a cycle among them is still an error.
    #[test]
    fn a_long_chain_of_lark_terminals_compiles() {
        let mut text = String::from("start: T0\n");
        for i in 0..3000 {
            text.push_str(&format!("T{i}: \"w{i}\" T{} | \"z{i}\"\n", i + 1));
        }
        text.push_str("T3000: \"end\"\n");
        let grammar = crate::CompiledGrammar::new(&text, crate::Format::Lark).expect("compiles");
        assert!(grammar.accepts(b"w0w1z2"));
        assert!(!grammar.accepts(b"w0z2"));
        let error = crate::CompiledGrammar::new("start: A\nA: \"a\" B\nB: \"b\" A | \"b\"\n", crate::Format::Lark)
            .expect_err("recursive terminals");
        assert!(error.message.contains("refers to itself"), "{error}");
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
