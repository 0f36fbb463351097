#!/usr/bin/env python3
"""An independent GBNF implementation, kept only to judge test labels.

Trellis's own GBNF front-end and matcher are checked against the case files in
tests/cases/; this script checks the case files themselves. It shares no code
and no design with the Rust side on purpose: the grammar text is parsed by a
hand-written recursive descent that follows llama.cpp's `llama_grammar_parser`
(src/llama-grammar.cpp) rule for rule, and membership is decided by a plain
Earley recognizer over Unicode code points, which handles any context-free
grammar (left recursion, ambiguity, nullable cycles) without transformations
that could hide a mistake.

Usage:
    python3 scripts/gbnf_oracle.py CASEFILE...

Each CASEFILE is a TOML file of `[[case]]` tables (see tests/cases/README or
the header of any case file). Cases whose grammar is not GBNF (a
`grammar_file` ending in `.lark`) are skipped. Every disagreement between a
label and this oracle is printed; the exit status is 1 if there is any.

What "GBNF" means here (llama.cpp's definition, with Trellis's decisions
where llama.cpp is silent or lenient):
  * rules `name ::= alternatives`; names are `[a-zA-Z0-9-]+`; the start rule
    is `root`; a rule ends at a newline, except right after `::=` or `|` and
    anywhere inside parentheses; `#` starts a comment up to the line end.
  * items: "literal", [class], [^class], `.`, a rule name, ( group ); postfix
    `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}` apply to the item just before;
    items need no space between them.
  * escapes in literals and classes: \\xHH \\uHHHH \\UHHHHHHHH (exactly that
    many hex digits) \\t \\r \\n \\\\ \\" \\[ \\] \\- ; anything else is an error.
    Other characters, raw newlines included, stand for themselves.
  * in a class, `a-z` is a range unless the `-` is followed by `]`.
  * `.` and negated classes match any code point, newline included.
Errors (kind names match grammars::ErrorKind):
  Syntax        malformed text, including an empty class `[]` (llama.cpp
                silently reads it as the empty string; Trellis refuses it)
  Unsupported   llama.cpp token references `<...>`, `<[id]>`, `!<...>`
  Undefined     a referenced rule that is never defined; no `root` rule
  Duplicate     a rule defined twice (llama.cpp keeps the last definition)
  EmptyLanguage `root` derives no finite string
llama.cpp refuses left-recursive grammars; Trellis does not (its GBNF is a
CFG over characters), and neither does this oracle.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

MAX_CODE_POINT = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)


class GrammarError(Exception):
    """A grammar the oracle refuses; `kind` is one of the ErrorKind names."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


# --------------------------------------------------------------------------
# Character sets (the terminals of the character-level CFG)
# --------------------------------------------------------------------------


class CharSet:
    """A set of code points given as inclusive ranges, possibly negated.

    The universe is every Unicode scalar value (surrogates excluded, since
    no UTF-8 text can contain them)."""

    __slots__ = ("ranges", "negated")

    def __init__(self, ranges, negated=False):
        self.ranges = tuple(ranges)
        self.negated = negated

    def contains(self, cp: int) -> bool:
        inside = any(lo <= cp <= hi for lo, hi in self.ranges)
        return inside != self.negated

    def is_empty(self) -> bool:
        covered = []
        for lo, hi in sorted(self.ranges):
            if lo > hi:
                continue
            if covered and lo <= covered[-1][1] + 1:
                covered[-1][1] = max(covered[-1][1], hi)
            else:
                covered.append([lo, hi])
        if not self.negated:
            # A positive set is empty only if all its ranges are reversed or
            # lie inside the surrogate block.
            return all(
                SURROGATES[0] <= lo and hi <= SURROGATES[1] for lo, hi in covered
            )
        # Negated: empty iff the ranges (plus surrogates) cover the universe.
        covered.append([SURROGATES[0], SURROGATES[1]])
        covered.sort()
        reach = -1
        for lo, hi in covered:
            if lo > reach + 1:
                return False
            reach = max(reach, hi)
        return reach >= MAX_CODE_POINT

    def __repr__(self):
        inner = ",".join(f"{lo:X}-{hi:X}" for lo, hi in self.ranges)
        return f"[{'^' if self.negated else ''}{inner}]"


ANY = CharSet([(0, MAX_CODE_POINT)])

# --------------------------------------------------------------------------
# GBNF text -> syntax tree
# --------------------------------------------------------------------------
# Tree nodes (tuples):
#   ("chars", CharSet)          one code point from a set
#   ("ref", name)
#   ("alt", [sequence, ...])    a parenthesised group; a sequence is a list
#   ("rep", node, min, max)     max None = unbounded


def is_word_char(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9") or c == "-"


class GbnfParser:
    def __init__(self, text: str):
        # A NUL sentinel plays the role of llama.cpp's C string terminator.
        self.src = text + "\0"
        self.pos = 0
        self.rules: dict[str, list] = {}
        self.referenced: list[str] = []

    def peek(self, k=0) -> str:
        i = self.pos + k
        return self.src[i] if i < len(self.src) else "\0"

    def at_end(self) -> bool:
        return self.peek() == "\0"

    def fail(self, message: str):
        line = self.src.count("\n", 0, self.pos) + 1
        raise GrammarError("Syntax", f"{message} (line {line})")

    def parse_space(self, newline_ok: bool):
        while True:
            c = self.peek()
            if c in " \t" or (newline_ok and c in "\r\n"):
                self.pos += 1
            elif c == "#":
                while not self.at_end() and self.peek() not in "\r\n":
                    self.pos += 1
            else:
                return

    def parse_name(self) -> str:
        start = self.pos
        while is_word_char(self.peek()):
            self.pos += 1
        if self.pos == start:
            self.fail(f"expecting a rule name, found {self.peek()!r}")
        return self.src[start : self.pos]

    def parse_int(self) -> int:
        start = self.pos
        while self.peek().isascii() and self.peek().isdigit():
            self.pos += 1
        if self.pos == start:
            self.fail("expecting an integer")
        return int(self.src[start : self.pos])

    def parse_hex(self, size: int) -> int:
        digits = self.src[self.pos : self.pos + size]
        if len(digits) != size or not all(c in "0123456789abcdefABCDEF" for c in digits):
            self.fail(f"expecting {size} hex digits")
        self.pos += size
        return int(digits, 16)

    def parse_char(self) -> int:
        c = self.peek()
        if c == "\\":
            e = self.peek(1)
            self.pos += 2
            if e == "x":
                return self.parse_hex(2)
            if e == "u":
                return self.parse_hex(4)
            if e == "U":
                return self.parse_hex(8)
            simple = {"t": 9, "r": 13, "n": 10, "\\": 92, '"': 34, "[": 91, "]": 93, "-": 45}
            if e in simple:
                return simple[e]
            self.pos -= 2
            self.fail(f"unknown escape \\{e}")
        if self.at_end():
            self.fail("unexpected end of input")
        self.pos += 1
        return ord(c)

    def parse_sequence(self, nested: bool) -> list:
        seq: list = []
        # Whether the last item exists for a postfix operator to apply to
        # (llama.cpp: last_sym_start < rule.size()). An empty literal "" and
        # an item repeated {0} leave nothing behind.
        has_last = False
        while not self.at_end():
            c = self.peek()
            if c == '"':
                self.pos += 1
                cps = []
                while self.peek() != '"':
                    if self.at_end():
                        self.fail("unterminated string literal")
                    cps.append(self.parse_char())
                self.pos += 1
                if cps:
                    node = ("seq", [("chars", CharSet([(cp, cp)])) for cp in cps])
                    seq.append(node)
                    has_last = True
                else:
                    has_last = False
                self.parse_space(nested)
            elif c == "[":
                self.pos += 1
                negated = False
                if self.peek() == "^":
                    negated = True
                    self.pos += 1
                ranges = []
                while self.peek() != "]":
                    if self.at_end():
                        self.fail("unterminated character class")
                    lo = self.parse_char()
                    hi = lo
                    if self.peek() == "-" and self.peek(1) != "]":
                        if self.peek(1) == "\0":
                            self.fail("unterminated character class")
                        self.pos += 1
                        hi = self.parse_char()
                    ranges.append((lo, hi))
                self.pos += 1
                if not ranges:
                    self.fail("empty character class []")
                seq.append(("chars", CharSet(ranges, negated)))
                has_last = True
                self.parse_space(nested)
            elif c in "<!":
                raise GrammarError("Unsupported", "token references (<...>) are not supported")
            elif is_word_char(c):
                name = self.parse_name()
                self.referenced.append(name)
                seq.append(("ref", name))
                has_last = True
                self.parse_space(nested)
            elif c == "(":
                self.pos += 1
                self.parse_space(True)
                alts = self.parse_alternates(True)
                if self.peek() != ")":
                    self.fail("expecting ')'")
                self.pos += 1
                seq.append(("alt", alts))
                has_last = True
                self.parse_space(nested)
            elif c == ".":
                self.pos += 1
                seq.append(("chars", ANY))
                has_last = True
                self.parse_space(nested)
            elif c in "*+?{":
                self.pos += 1
                self.parse_space(nested)
                if c == "*":
                    lo, hi = 0, None
                elif c == "+":
                    lo, hi = 1, None
                elif c == "?":
                    lo, hi = 0, 1
                else:
                    if not (self.peek().isascii() and self.peek().isdigit()):
                        self.fail("expecting an integer after '{'")
                    lo = self.parse_int()
                    self.parse_space(nested)
                    if self.peek() == "}":
                        hi = lo
                        self.pos += 1
                    elif self.peek() == ",":
                        self.pos += 1
                        self.parse_space(nested)
                        hi = None
                        if self.peek().isascii() and self.peek().isdigit():
                            hi = self.parse_int()
                            self.parse_space(nested)
                        if self.peek() != "}":
                            self.fail("expecting '}'")
                        self.pos += 1
                    else:
                        self.fail("expecting ',' or '}'")
                    self.parse_space(nested)
                    if hi is not None and hi < lo:
                        self.fail("repetition with max < min")
                if not has_last:
                    self.fail(f"'{c}' has no item before it to repeat")
                seq[-1] = ("rep", seq[-1], lo, hi)
                if hi == 0:
                    # llama.cpp removes the item altogether.
                    seq.pop()
                    has_last = False
            else:
                break
        return seq

    def parse_alternates(self, nested: bool) -> list:
        alts = [self.parse_sequence(nested)]
        while self.peek() == "|":
            self.pos += 1
            self.parse_space(True)
            alts.append(self.parse_sequence(nested))
        return alts

    def parse_rule(self):
        name = self.parse_name()
        self.parse_space(False)
        if self.src[self.pos : self.pos + 3] != "::=":
            self.fail(f"expecting '::=' after rule name {name!r}")
        self.pos += 3
        self.parse_space(True)
        alts = self.parse_alternates(False)
        if name in self.rules:
            raise GrammarError("Duplicate", f"rule {name!r} is defined twice")
        self.rules[name] = alts
        c = self.peek()
        if c == "\r":
            self.pos += 2 if self.peek(1) == "\n" else 1
        elif c == "\n":
            self.pos += 1
        elif not self.at_end():
            self.fail(f"expecting newline or end of rule, found {c!r}")
        self.parse_space(True)

    def parse(self) -> dict:
        self.parse_space(True)
        while not self.at_end():
            self.parse_rule()
        for name in self.referenced:
            if name not in self.rules:
                raise GrammarError("Undefined", f"rule {name!r} is used but not defined")
        if "root" not in self.rules:
            raise GrammarError("Undefined", "the grammar has no 'root' rule")
        return self.rules


# --------------------------------------------------------------------------
# Syntax tree -> plain CFG (productions over nonterminals and CharSets)
# --------------------------------------------------------------------------


class Cfg:
    """Productions `lhs -> rhs`; a symbol is a str (nonterminal) or a
    CharSet (terminal: one code point from the set)."""

    def __init__(self):
        self.prods: list[tuple[str, tuple]] = []
        self.fresh = 0

    def new_name(self, hint: str) -> str:
        self.fresh += 1
        # Generated names contain a space, so they cannot clash with GBNF names.
        return f"{hint} #{self.fresh}"

    def add(self, lhs: str, rhs):
        self.prods.append((lhs, tuple(rhs)))


def lower(rules: dict) -> Cfg:
    cfg = Cfg()

    def lower_node(node, owner: str) -> list:
        """Returns the symbols that stand for `node` in a right-hand side."""
        tag = node[0]
        if tag == "chars":
            return [node[1]]
        if tag == "seq":
            out = []
            for sub in node[1]:
                out.extend(lower_node(sub, owner))
            return out
        if tag == "ref":
            return [node[1]]
        if tag == "alt":
            name = cfg.new_name(owner + " group")
            for seq in node[1]:
                rhs = []
                for sub in seq:
                    rhs.extend(lower_node(sub, owner))
                cfg.add(name, rhs)
            return [name]
        if tag == "rep":
            _, inner, lo, hi = node
            body = cfg.new_name(owner + " item")
            cfg.add(body, lower_node(inner, owner))
            out = [body] * lo
            if hi is None:
                star = cfg.new_name(owner + " star")
                cfg.add(star, [])
                cfg.add(star, [body, star])
                out.append(star)
            else:
                # optional(k) -> "" | body optional(k-1), k = hi - lo
                prev = None
                for _ in range(hi - lo):
                    opt = cfg.new_name(owner + " opt")
                    cfg.add(opt, [])
                    cfg.add(opt, [body] + ([prev] if prev else []))
                    prev = opt
                if prev:
                    out.append(prev)
            return out
        raise AssertionError(node)

    for name, alts in rules.items():
        for seq in alts:
            rhs = []
            for node in seq:
                rhs.extend(lower_node(node, name))
            cfg.add(name, rhs)
    return cfg


# --------------------------------------------------------------------------
# Earley recognizer
# --------------------------------------------------------------------------


class Recognizer:
    """Decides membership and viable-prefix status for one grammar.

    Unproductive symbols (those deriving no finite string) are removed first;
    after that every Earley item in the chart at position i witnesses a
    sentential form `w[:i] β γ` whose rest derives some string, so the input
    is a viable prefix iff the chart at its end is non-empty."""

    START = "<start>"

    def __init__(self, cfg: Cfg, start: str = "root"):
        productive = set()
        changed = True

        def sym_ok(s):
            return (not s.is_empty()) if isinstance(s, CharSet) else s in productive

        while changed:
            changed = False
            for lhs, rhs in cfg.prods:
                if lhs not in productive and all(sym_ok(s) for s in rhs):
                    productive.add(lhs)
                    changed = True
        if start not in productive:
            raise GrammarError("EmptyLanguage", f"rule {start!r} derives no finite string")
        prods = [(lhs, rhs) for lhs, rhs in cfg.prods if lhs in productive and all(sym_ok(s) for s in rhs)]
        prods.append((self.START, (start,)))
        self.prods = prods
        self.by_lhs: dict[str, list[int]] = {}
        for i, (lhs, _) in enumerate(prods):
            self.by_lhs.setdefault(lhs, []).append(i)
        nullable = set()
        changed = True
        while changed:
            changed = False
            for lhs, rhs in prods:
                if lhs not in nullable and all(isinstance(s, str) and s in nullable for s in rhs):
                    nullable.add(lhs)
                    changed = True
        self.nullable = nullable
        self.accept_prod = len(prods) - 1

    def chart(self, text: str):
        """Runs Earley over `text`; returns (the last chart reached, whether
        the whole text was consumed)."""
        prods = self.prods
        n = len(text)
        # An item is (production index, dot, origin).
        sets: list[dict] = []
        # waiting[i][symbol] = items in set i whose next symbol is `symbol`
        waiting: list[dict] = []

        current = {}
        for p in self.by_lhs[self.START]:
            current[(p, 0, 0)] = None
        for i in range(n + 1):
            items = list(current.keys())
            seen = current
            wait: dict = {}
            waiting.append(wait)
            sets.append(seen)
            nxt = {}
            k = 0
            while k < len(items):
                item = items[k]
                k += 1
                p, dot, origin = item
                lhs, rhs = prods[p]
                if dot == len(rhs):
                    for w in waiting[origin].get(lhs, ()):
                        adv = (w[0], w[1] + 1, w[2])
                        if adv not in seen:
                            seen[adv] = None
                            items.append(adv)
                    continue
                sym = rhs[dot]
                if isinstance(sym, CharSet):
                    if i < n and sym.contains(ord(text[i])):
                        nxt[(p, dot + 1, origin)] = None
                    continue
                wait.setdefault(sym, []).append(item)
                for q in self.by_lhs.get(sym, ()):
                    new = (q, 0, i)
                    if new not in seen:
                        seen[new] = None
                        items.append(new)
                if sym in self.nullable:
                    # Aycock & Horspool: step over a nullable symbol at once,
                    # since its empty completion may already have happened.
                    adv = (p, dot + 1, origin)
                    if adv not in seen:
                        seen[adv] = None
                        items.append(adv)
            if i == n:
                return seen, True
            if not nxt:
                return {}, False
            current = nxt
        raise AssertionError("unreachable")

    def accepts(self, text: str) -> bool:
        last, consumed = self.chart(text)
        return consumed and (self.accept_prod, 1, 0) in last

    def viable_prefix(self, text: str) -> bool:
        last, consumed = self.chart(text)
        return consumed and bool(last)


class SpanRecognizer:
    """A second, deliberately naive recognizer used to cross-check Earley:
    the set of spans (i, j) each nonterminal derives, grown to a fixpoint.
    Cubic and worse, so it is only used on short strings.

    It also answers the viable-prefix question without Earley's chart, through
    the prefix grammar: with every symbol productive, Pref(A) is {""} plus,
    for each production A -> X1..Xn and each k, L(X1)..L(Xk-1) Pref(Xk)."""

    def __init__(self, rec: Recognizer):
        self.prods = [(l, r) for l, r in rec.prods]
        pref = []
        for lhs, rhs in rec.prods:
            pref.append((("pref", lhs), ()))
            for k, sym in enumerate(rhs):
                last = sym if isinstance(sym, CharSet) else ("pref", sym)
                pref.append((("pref", lhs), tuple(rhs[:k]) + (last,)))
        self.prefix_prods = self.prods + pref

    @staticmethod
    def _spans(prods, text):
        n = len(text)
        derives: dict = {}
        changed = True
        while changed:
            changed = False
            for lhs, rhs in prods:
                reach = {(i, i) for i in range(n + 1)}
                for sym in rhs:
                    nxt = set()
                    if isinstance(sym, CharSet):
                        for i, j in reach:
                            if j < n and sym.contains(ord(text[j])):
                                nxt.add((i, j + 1))
                    else:
                        by_start: dict = {}
                        for a, b in derives.get(sym, ()):
                            by_start.setdefault(a, []).append(b)
                        for i, j in reach:
                            for k in by_start.get(j, ()):
                                nxt.add((i, k))
                    reach = nxt
                    if not reach:
                        break
                have = derives.setdefault(lhs, set())
                if not reach <= have:
                    have |= reach
                    changed = True
        return derives

    def accepts(self, text: str) -> bool:
        return (0, len(text)) in self._spans(self.prods, text).get(Recognizer.START, ())

    def viable_prefix(self, text: str) -> bool:
        spans = self._spans(self.prefix_prods, text)
        return (0, len(text)) in spans.get(("pref", Recognizer.START), ())


CROSS_CHECK_MAX_LEN = 24


def compile_gbnf(text: str) -> Recognizer:
    rules = GbnfParser(text).parse()
    return Recognizer(lower(rules))


# --------------------------------------------------------------------------
# Case files
# --------------------------------------------------------------------------

CASE_KEYS = {"name", "grammar", "grammar_file", "pass", "fail", "prefix", "not_prefix", "fail_hex", "error"}
ERROR_KINDS = {"Syntax", "Undefined", "Duplicate", "Regex", "Unsupported", "EmptyLanguage", "TooLarge"}


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def check_case(case: dict, where: str) -> tuple[list[str], dict]:
    """Returns (problems, counts) for one case."""
    problems = []
    counts = {"pass": 0, "fail": 0, "prefix": 0, "not_prefix": 0, "fail_hex": 0, "error": 0}
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
        if case["error"] not in ERROR_KINDS:
            problems.append(f"{tag}: unknown error kind {case['error']!r}")
        if any(k in case for k in ("pass", "fail", "prefix", "not_prefix", "fail_hex")):
            problems.append(f"{tag}: an error case must not list strings")
        try:
            compile_gbnf(text)
        except GrammarError as e:
            if e.kind != case["error"]:
                problems.append(f"{tag}: expected error {case['error']}, oracle says {e.kind}: {e.message}")
        else:
            problems.append(f"{tag}: expected error {case['error']}, oracle compiles the grammar")
        return problems, counts
    try:
        rec = compile_gbnf(text)
    except GrammarError as e:
        problems.append(f"{tag}: oracle refuses the grammar: {e}")
        return problems, counts
    span = SpanRecognizer(rec)

    def member(s: str) -> bool:
        verdict = rec.accepts(s)
        if len(s) <= CROSS_CHECK_MAX_LEN and span.accepts(s) != verdict:
            problems.append(f"{tag}: INTERNAL: Earley and span recognizers disagree on membership of {s!r}")
        return verdict

    def viable(s: str) -> bool:
        verdict = rec.viable_prefix(s)
        if len(s) <= CROSS_CHECK_MAX_LEN and span.viable_prefix(s) != verdict:
            problems.append(f"{tag}: INTERNAL: Earley and prefix grammar disagree on viability of {s!r}")
        return verdict

    passes = case.get("pass", [])
    fails = case.get("fail", [])
    for s in set(passes) & set(fails):
        problems.append(f"{tag}: {s!r} is listed in both pass and fail")
    for s in set(case.get("prefix", [])) & set(passes):
        problems.append(f"{tag}: {s!r} is listed in both prefix and pass")
    for s in passes:
        counts["pass"] += 1
        if len(s) <= CROSS_CHECK_MAX_LEN:
            for k in range(len(s)):
                if not rec.viable_prefix(s[:k]):
                    problems.append(f"{tag}: INTERNAL: {s[:k]!r} is a prefix of pass {s!r} but not viable")
        if not member(s):
            problems.append(f"{tag}: pass {s!r}: oracle rejects it")
    for s in fails:
        counts["fail"] += 1
        if member(s):
            problems.append(f"{tag}: fail {s!r}: oracle accepts it")
    for s in case.get("prefix", []):
        counts["prefix"] += 1
        if member(s):
            problems.append(f"{tag}: prefix {s!r} is a complete string (belongs in pass)")
        elif not viable(s):
            problems.append(f"{tag}: prefix {s!r}: oracle says it is not a viable prefix")
    for s in case.get("not_prefix", []):
        counts["not_prefix"] += 1
        if viable(s):
            problems.append(f"{tag}: not_prefix {s!r}: oracle says it is a viable prefix")
    for h in case.get("fail_hex", []):
        counts["fail_hex"] += 1
        try:
            raw = bytes.fromhex(h)
        except ValueError:
            problems.append(f"{tag}: fail_hex {h!r} is not hex")
            continue
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue  # not UTF-8, so in no GBNF language
        if member(s):
            problems.append(f"{tag}: fail_hex {h!r} ({s!r}): oracle accepts it")
    return problems, counts


def grammar_format(case: dict, path: Path) -> str:
    if "grammar_file" in case:
        return Path(case["grammar_file"]).suffix.lstrip(".")
    return "lark" if "lark" in path.parts else "gbnf"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    total_problems = 0
    for arg in argv:
        path = Path(arg)
        with path.open("rb") as f:
            doc = tomllib.load(f)
        totals = {"cases": 0, "pass": 0, "fail": 0, "prefix": 0, "not_prefix": 0, "fail_hex": 0, "error": 0}
        skipped = 0
        for case in doc.get("case", []):
            if grammar_format(case, path) != "gbnf":
                skipped += 1
                continue
            problems, counts = check_case(case, str(path))
            totals["cases"] += 1
            for k, v in counts.items():
                totals[k] += v
            for p in problems:
                print(p)
            total_problems += len(problems)
        summary = ", ".join(f"{k} {v}" for k, v in totals.items())
        extra = f" (skipped {skipped} non-GBNF)" if skipped else ""
        print(f"{path}: {summary}{extra}", file=sys.stderr)
    if total_problems:
        print(f"{total_problems} disagreement(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
