#!/usr/bin/env python3
"""Checks the labels of Lark test cases against the real `lark` package.

Usage:
    python3 scripts/lark_oracle.py CASEFILE...

Needs `pip install lark regex` (lark 1.x; `regex` is the third-party module,
used for partial matching). Cases whose grammar is not Lark (a `grammar_file`
ending in `.gbnf`) are skipped. Disagreements are printed; the exit status is
1 if there is any.

Every case is judged two ways, and a label must agree with both:

1. lark itself: `Lark(grammar, parser="lalr", lexer="contextual")`; a string
   is in the language iff `parse` raises no error. The grammar must also be
   free of LALR conflicts (lark silently resolves shift/reduce conflicts as
   shifts; Trellis reports every conflict as an error, so a case grammar with
   one would test nothing).

2. A simulation of Trellis's documented lexing rule, driven by lark's own
   LALR tables through its interactive parser:
       a lexeme ends exactly where the next byte cannot continue any terminal
       acceptable in the current parser state or an ignored terminal; the
       lexeme must then match an acceptable (or ignored) terminal; ties go to
       the higher priority, then to a literal over a pattern.
   "Acceptable" is computed two ways: exactly (the terminals the parser can
   really shift next, after any reductions: lark's `accepts()`), and as
   lark's contextual lexer sees it (every terminal with an action in the
   current LALR state: `choices()`). A label that depends on which of the two
   is used is reported, since then it depends on the LR construction.

lark's lexer is not that rule: it tries terminals in a fixed order (priority,
then longest possible width, ...) and takes the first match, with Python
`re` backtracking inside a pattern and choosing the first alternative that
matches, not the longest. Strings where the two disagree go in a case's
`differs` list:

    [[case.differs]]
    input = "ab"
    expect = "fail"        # Trellis's verdict
    why = "..."

Here the oracle requires the simulation to give `expect` and lark to give the
opposite, so every entry documents a real, observed difference.

Terminals with lazy quantifiers (`*?`) mean "shortest match" to lark but have
no such meaning in a DFA; the simulation knows the two common.lark terminals
that use them (ESCAPED_STRING, C_COMMENT) and replaces them by equivalent
lazy-free expressions (the string ends at the first unescaped quote, the
comment at the first `*/`), and refuses any other.
"""

from __future__ import annotations

import logging
import sys
import tomllib
from pathlib import Path

import regex
from lark import Lark, Token, logger as lark_logger
from lark.exceptions import GrammarError, UnexpectedInput
from lark.lexer import PatternStr

CASE_KEYS = {"name", "grammar", "grammar_file", "pass", "fail", "differs", "error"}
DIFFERS_KEYS = {"input", "expect", "why"}

# Lazy-free replacements for the two common.lark terminals that use `*?`,
# keyed by lark's regexp text for them.
LAZY_FREE = {
    # ESCAPED_STRING: "\"" _STRING_ESC_INNER "\""
    r'".*?(?<!\\)(\\\\)*?"': r'"(?:[^"\\\n]|\\[^\n])*"',
    # C_COMMENT: "/*" /(.|\n)*?/ "*/"
    "/\\*(.|\n)*?\\*/": r"/\*(?:[^*]|\*+[^*/])*\*+/",
}


class Unjudgeable(Exception):
    """The simulation cannot give a verdict (an unresolved lexical tie)."""


class ConflictCatcher(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.conflicts: list[str] = []

    def emit(self, record):
        msg = record.getMessage()
        if "Shift/Reduce conflict" in msg:
            self.conflicts.append(msg)


def build_lark(text: str) -> tuple[Lark, list[str]]:
    catcher = ConflictCatcher()
    old_level, old_handlers = lark_logger.level, lark_logger.handlers[:]
    lark_logger.setLevel(logging.DEBUG)
    lark_logger.handlers = [catcher]
    try:
        parser = Lark(text, parser="lalr", lexer="contextual", start="start")
    finally:
        lark_logger.handlers = old_handlers
        lark_logger.setLevel(old_level)
    return parser, catcher.conflicts


def lark_accepts(parser: Lark, text: str) -> bool:
    try:
        parser.parse(text)
        return True
    except UnexpectedInput:
        return False


class GreedyLexerSimulation:
    """Trellis's lexing rule (see the module doc) over lark's parse tables."""

    def __init__(self, parser: Lark):
        self.parser = parser
        self.ignore = set(parser.ignore_tokens)
        self.patterns = {}
        self.is_literal = {}
        self.priority = {}
        for term in parser.terminals:
            source = term.pattern.to_regexp()
            for lazy, plain in LAZY_FREE.items():
                source = source.replace(lazy, plain)
            if regex.search(r"(?<!\\)[*+?}]\?", source):
                raise Unjudgeable(f"terminal {term.name} uses a lazy quantifier: {source}")
            self.patterns[term.name] = regex.compile(source)
            self.is_literal[term.name] = isinstance(term.pattern, PatternStr)
            self.priority[term.name] = term.priority

    def viable(self, name: str, text: str) -> bool:
        return self.patterns[name].fullmatch(text, partial=True) is not None

    def complete(self, name: str, text: str) -> bool:
        return self.patterns[name].fullmatch(text) is not None

    def accepts(self, text: str, exact: bool) -> bool:
        ip = self.parser.parse_interactive("")
        pos = 0
        n = len(text)
        while True:
            if exact:
                acceptable = set(ip.accepts())
            else:
                acceptable = {t for t in ip.choices() if t.isupper()}
            if pos == n:
                # In the LALR-state view $END may be listed yet fail after
                # reductions; feeding it settles the question either way.
                try:
                    ip.feed_eof()
                except UnexpectedInput:
                    return False
                return True
            candidates = (acceptable - {"$END"}) | self.ignore
            # Grow the lexeme while some candidate can still match it.
            end = pos
            alive = candidates
            while end < n:
                still = {t for t in alive if self.viable(t, text[pos : end + 1])}
                if not still:
                    break
                alive = still
                end += 1
            if end == pos:
                return False
            lexeme = text[pos:end]
            matched = [t for t in candidates if self.complete(t, lexeme)]
            if not matched:
                return False
            best = max(self.priority[t] for t in matched)
            matched = [t for t in matched if self.priority[t] == best]
            if len(matched) > 1:
                literals = [t for t in matched if self.is_literal[t]]
                if literals:
                    matched = literals
            if len(matched) > 1:
                raise Unjudgeable(f"lexeme {lexeme!r} matches {sorted(matched)} with equal rank")
            (chosen,) = matched
            if chosen in self.ignore:
                if chosen in acceptable:
                    raise Unjudgeable(f"lexeme {lexeme!r}: {chosen} is both ignored and acceptable")
            else:
                try:
                    ip.feed_token(Token(chosen, lexeme))
                except UnexpectedInput:
                    return False
            pos = end


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def error_kind_of(exc: Exception) -> str:
    """lark's exception, in Trellis's ErrorKind words (best effort)."""
    msg = str(exc)
    if isinstance(exc, UnexpectedInput):
        return "Syntax"
    if "used but not defined" in msg or "Using an undefined rule" in msg:
        return "Undefined"
    if "Cannot compile token" in msg:
        return "Regex"
    if "more than once" in msg or "defined twice" in msg or "Duplicate" in msg:
        return "Duplicate"
    if isinstance(exc, GrammarError) and ("Unexpected input" in msg or "Expecting" in msg):
        return "Syntax"
    return type(exc).__name__


def check_case(case: dict, where: str) -> tuple[list[str], dict]:
    problems: list[str] = []
    counts = {"pass": 0, "fail": 0, "differs": 0, "error": 0}
    name = case.get("name", "<unnamed>")
    tag = f"{where}: case {name!r}"
    unknown = set(case) - CASE_KEYS
    if unknown:
        problems.append(f"{tag}: unknown keys {sorted(unknown)}")
    if ("grammar" in case) == ("grammar_file" in case):
        problems.append(f"{tag}: needs exactly one of grammar / grammar_file")
        return problems, counts
    if "grammar_file" in case:
        text = (repo_root() / case["grammar_file"]).read_text(encoding="utf-8")
    else:
        text = case["grammar"]

    if "error" in case:
        counts["error"] = 1
        if any(k in case for k in ("pass", "fail", "differs")):
            problems.append(f"{tag}: an error case must not list strings")
        try:
            build_lark(text)
        except Exception as e:  # lark raises several exception types here
            kind = error_kind_of(e)
            if kind != case["error"]:
                problems.append(f"{tag}: expected error {case['error']}, lark says {kind}: {str(e)[:200]}")
        else:
            problems.append(f"{tag}: expected error {case['error']}, lark compiles the grammar")
        return problems, counts

    try:
        parser, conflicts = build_lark(text)
    except Exception as e:
        problems.append(f"{tag}: lark refuses the grammar: {type(e).__name__}: {str(e)[:300]}")
        return problems, counts
    for c in conflicts:
        problems.append(f"{tag}: LALR conflict (lark would resolve it silently): {c}")
    try:
        sim = GreedyLexerSimulation(parser)
    except Unjudgeable as e:
        problems.append(f"{tag}: {e}")
        return problems, counts

    def simulate(s: str) -> bool | None:
        try:
            exact = sim.accepts(s, exact=True)
            by_state = sim.accepts(s, exact=False)
        except Unjudgeable as e:
            problems.append(f"{tag}: {s!r}: simulation cannot judge: {e}")
            return None
        if exact != by_state:
            problems.append(
                f"{tag}: {s!r}: verdict depends on the LR construction "
                f"(exact acceptable set: {exact}, LALR state's set: {by_state})"
            )
            return None
        return exact

    passes = case.get("pass", [])
    fails = case.get("fail", [])
    for s in set(passes) & set(fails):
        problems.append(f"{tag}: {s!r} is listed in both pass and fail")
    for label, strings, want in (("pass", passes, True), ("fail", fails, False)):
        for s in strings:
            counts[label] += 1
            by_lark = lark_accepts(parser, s)
            by_rule = simulate(s)
            if by_lark != want:
                problems.append(f"{tag}: {label} {s!r}: lark {'accepts' if by_lark else 'rejects'} it")
            if by_rule is not None and by_rule != want:
                problems.append(
                    f"{tag}: {label} {s!r}: Trellis's lexing rule {'accepts' if by_rule else 'rejects'} it"
                )
    for entry in case.get("differs", []):
        counts["differs"] += 1
        extra = set(entry) - DIFFERS_KEYS
        if extra or "input" not in entry or entry.get("expect") not in ("pass", "fail") or not entry.get("why"):
            problems.append(f"{tag}: differs entry needs input, expect = pass|fail and why: {entry}")
            continue
        s = entry["input"]
        want = entry["expect"] == "pass"
        by_lark = lark_accepts(parser, s)
        by_rule = simulate(s)
        if by_rule is not None and by_rule != want:
            problems.append(f"{tag}: differs {s!r}: Trellis's rule gives {'pass' if by_rule else 'fail'}, label says {entry['expect']}")
        if by_lark == want:
            problems.append(f"{tag}: differs {s!r}: lark agrees with the label, so it does not differ")
    return problems, counts


def grammar_format(case: dict, path: Path) -> str:
    if "grammar_file" in case:
        return Path(case["grammar_file"]).suffix.lstrip(".")
    return "lark" if "lark" in path.parts else "gbnf"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    total = 0
    for arg in argv:
        path = Path(arg)
        with path.open("rb") as f:
            doc = tomllib.load(f)
        totals = {"cases": 0, "pass": 0, "fail": 0, "differs": 0, "error": 0}
        skipped = 0
        for case in doc.get("case", []):
            if grammar_format(case, path) != "lark":
                skipped += 1
                continue
            problems, counts = check_case(case, str(path))
            totals["cases"] += 1
            for k, v in counts.items():
                totals[k] += v
            for p in problems:
                print(p)
            total += len(problems)
        summary = ", ".join(f"{k} {v}" for k, v in totals.items())
        extra = f" (skipped {skipped} non-Lark)" if skipped else ""
        print(f"{path}: {summary}{extra}", file=sys.stderr)
    if total:
        print(f"{total} disagreement(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
