#!/usr/bin/env python3
"""Builds tests/cases/json/corpus.jsonl: JSON texts labelled valid or invalid.

Usage:
    python3 scripts/gen_json_corpus.py            # (re)write the corpus
    python3 scripts/gen_json_corpus.py --check    # check the labels
    python3 scripts/gen_json_corpus.py --check --no-grammars

Each line is {"text": ..., "valid": true|false, "note": ...}. "Valid" means
what `serde_json::from_str::<serde::de::IgnoredAny>` accepts: RFC 8259 JSON
text, strictly. Any value at the top level; whitespace is exactly space, tab,
LF and CR, allowed before and after the document and around every token; no
trailing commas, comments, leading zeros, `+`, `.5`, `1.`, NaN/Infinity,
single quotes, unquoted keys or byte-order mark; inside strings no raw
U+0000-U+001F, and the escapes are \\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX
with any four hex digits, lone surrogates included (serde_json's syntax check
does not pair them). Raw DEL, U+2028 and U+2029 are fine.

The corpus mixes hand-written edge cases with generated texts (seeded, so the
output is the same on every run):
  * valid texts: random values of varied shape and depth (up to 60), with
    Unicode in strings (2-, 3- and 4-byte characters, escapes, lone
    surrogate escapes) and random whitespace between tokens;
  * invalid texts: a generated valid text with one targeted mutation whose
    result can never be JSON: cutting a container document short before its
    last closing bracket (the outer bracket stays open), a trailing comma
    before `]`/`}`, a quote turned into `'`, a leading zero, a raw control
    character or an unknown escape in a string, a missing colon or comma, a
    comment, NaN/Infinity for a number, an unquoted key, a BOM, a
    non-JSON whitespace character, a second top-level value, and so on.

How the labels are checked (--check), each independently of how the text
was made:
  1. a strict recursive-descent recognizer written here from RFC 8259;
  2. Python's json module: json.loads(text, parse_constant=<raise>,
     parse_int=str, parse_float=str), strict=True. Python differs from
     serde_json only by accepting NaN/Infinity/-Infinity, which
     parse_constant turns into errors; parse_int/parse_float avoid the
     int-digit limit; like serde_json it accepts lone surrogate escapes and
     refuses a BOM in a str;
  3. unless --no-grammars: the bundled grammars/library/json.gbnf through
     scripts/gbnf_oracle.py (Earley), and grammars/library/json.lark through
     lark (LALR, contextual lexer).
All must agree with the label; any disagreement is printed and the exit
status is 1.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "cases" / "json" / "corpus.jsonl"
SEED = 20240611

WS = " \t\n\r"

# --------------------------------------------------------------------------
# Strict recognizer (RFC 8259), independent of the generator
# --------------------------------------------------------------------------


class NotJson(Exception):
    pass


def rfc8259_valid(text: str) -> bool:
    try:
        end = _value(text, _ws(text, 0), 0)
        if _ws(text, end) != len(text):
            raise NotJson("trailing characters")
        return True
    except NotJson:
        return False


def _ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in WS:
        i += 1
    return i


def _value(s: str, i: int, depth: int) -> int:
    if depth > 500:
        raise NotJson("too deep")
    if i >= len(s):
        raise NotJson("expected a value")
    c = s[i]
    if c == "{":
        i = _ws(s, i + 1)
        if i < len(s) and s[i] == "}":
            return i + 1
        while True:
            if i >= len(s) or s[i] != '"':
                raise NotJson("expected a key")
            i = _ws(s, _string(s, i))
            if i >= len(s) or s[i] != ":":
                raise NotJson("expected ':'")
            i = _ws(s, _value(s, _ws(s, i + 1), depth + 1))
            if i < len(s) and s[i] == ",":
                i = _ws(s, i + 1)
                continue
            if i < len(s) and s[i] == "}":
                return i + 1
            raise NotJson("expected ',' or '}'")
    if c == "[":
        i = _ws(s, i + 1)
        if i < len(s) and s[i] == "]":
            return i + 1
        while True:
            i = _ws(s, _value(s, i, depth + 1))
            if i < len(s) and s[i] == ",":
                i = _ws(s, i + 1)
                continue
            if i < len(s) and s[i] == "]":
                return i + 1
            raise NotJson("expected ',' or ']'")
    if c == '"':
        return _string(s, i)
    for word in ("true", "false", "null"):
        if s.startswith(word, i):
            return i + len(word)
    if c == "-" or "0" <= c <= "9":
        return _number(s, i)
    raise NotJson("expected a value")


def _digits(s: str, i: int) -> int:
    start = i
    while i < len(s) and "0" <= s[i] <= "9":
        i += 1
    if i == start:
        raise NotJson("expected a digit")
    return i


def _number(s: str, i: int) -> int:
    if s[i] == "-":
        i += 1
    if i < len(s) and s[i] == "0":
        i += 1
    else:
        if i >= len(s) or not ("1" <= s[i] <= "9"):
            raise NotJson("bad integer part")
        i = _digits(s, i)
    if i < len(s) and s[i] == ".":
        i = _digits(s, i + 1)
    if i < len(s) and s[i] in "eE":
        i += 1
        if i < len(s) and s[i] in "+-":
            i += 1
        i = _digits(s, i)
    return i


def _string(s: str, i: int) -> int:
    assert s[i] == '"'
    i += 1
    while True:
        if i >= len(s):
            raise NotJson("unterminated string")
        c = s[i]
        if c == '"':
            return i + 1
        if ord(c) < 0x20:
            raise NotJson("raw control character")
        if c == "\\":
            if i + 1 >= len(s):
                raise NotJson("unterminated escape")
            e = s[i + 1]
            if e in '"\\/bfnrt':
                i += 2
            elif e == "u":
                hexd = s[i + 2 : i + 6]
                if len(hexd) != 4 or not all(h in "0123456789abcdefABCDEF" for h in hexd):
                    raise NotJson("bad \\u escape")
                i += 6
            else:
                raise NotJson("unknown escape")
        else:
            i += 1


def python_json_valid(text: str) -> bool:
    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    try:
        json.loads(text, parse_constant=no_constants, parse_int=str, parse_float=str)
        return True
    except ValueError:  # JSONDecodeError is a ValueError
        return False


# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------

# Raw (unescaped) characters for strings, by UTF-8 length.
RAW_POOLS = [
    "abcxyzABCXYZ0189 !#$%&'()*+,-./:;<=>?@[]^_`{|}~\x7f",
    "éüßñçøÆΩπЖж\u00a0\u00ff\u0100\u07ff",
    "中文字€\u2028\u2029\u0800\uffff\ufffd한글あア",
    "😀🚀𝔸𝄞🀄\U00010000\U0010ffff",
]
SIMPLE_ESCAPES = ['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"]


class Gen:
    def __init__(self, rng: random.Random):
        self.r = rng

    def ws(self) -> str:
        r = self.r.random()
        if r < 0.55:
            return ""
        if r < 0.8:
            return " "
        return "".join(self.r.choice(WS) for _ in range(self.r.randint(1, 4)))

    def hex4(self) -> str:
        r = self.r.random()
        if r < 0.25:
            cp = self.r.randint(0xD800, 0xDFFF)  # a lone surrogate
        elif r < 0.5:
            cp = self.r.randint(0, 0x1F)
        else:
            cp = self.r.randint(0, 0xFFFF)
        h = f"{cp:04x}"
        return "".join(c.upper() if self.r.random() < 0.5 else c for c in h)

    def string_body(self) -> str:
        parts = []
        for _ in range(self.r.choice([0, 1, 2, 3, 5, 8, 13])):
            r = self.r.random()
            if r < 0.5:
                pool = self.r.choice(RAW_POOLS)
                parts.append(self.r.choice(pool))
            elif r < 0.7:
                parts.append(self.r.choice(SIMPLE_ESCAPES))
            elif r < 0.9:
                parts.append("\\u" + self.hex4())
            else:
                # a surrogate pair spelled as two escapes
                hi = self.r.randint(0xD800, 0xDBFF)
                lo = self.r.randint(0xDC00, 0xDFFF)
                parts.append(f"\\u{hi:04x}\\u{lo:04X}")
        return "".join(parts)

    def number(self) -> str:
        sign = "-" if self.r.random() < 0.3 else ""
        if self.r.random() < 0.2:
            integer = "0"
        else:
            integer = str(self.r.randint(1, 9)) + "".join(
                str(self.r.randint(0, 9)) for _ in range(self.r.choice([0, 0, 1, 2, 5, 20]))
            )
        frac = ""
        if self.r.random() < 0.4:
            frac = "." + "".join(str(self.r.randint(0, 9)) for _ in range(self.r.randint(1, 6)))
        exp = ""
        if self.r.random() < 0.3:
            exp = self.r.choice("eE") + self.r.choice(["", "+", "-"]) + str(self.r.randint(0, 400))
        return sign + integer + frac + exp

    def tokens(self, depth: int, max_depth: int) -> list:
        """A value as a list of (kind, text) tokens; kinds: { } [ ] , :
        str key num lit ws."""
        r = self.r.random()
        if depth < max_depth and r < 0.45:
            if self.r.random() < 0.5:
                out = [("[", "["), ("ws", self.ws())]
                n = self.r.choice([0, 1, 1, 2, 3, 4, 6])
                for k in range(n):
                    if k:
                        out += [("ws", self.ws()), (",", ","), ("ws", self.ws())]
                    out += self.tokens(depth + 1, max_depth)
                return out + [("ws", self.ws()), ("]", "]")]
            out = [("{", "{"), ("ws", self.ws())]
            n = self.r.choice([0, 1, 1, 2, 3, 5])
            for k in range(n):
                if k:
                    out += [("ws", self.ws()), (",", ","), ("ws", self.ws())]
                out += [("key", '"' + self.string_body() + '"'), ("ws", self.ws()), (":", ":"), ("ws", self.ws())]
                out += self.tokens(depth + 1, max_depth)
            return out + [("ws", self.ws()), ("}", "}")]
        r = self.r.random()
        if r < 0.4:
            return [("str", '"' + self.string_body() + '"')]
        if r < 0.8:
            return [("num", self.number())]
        return [("lit", self.r.choice(["true", "false", "null"]))]

    def chain(self, depth: int) -> list:
        """A straight nest `depth` containers deep."""
        inner = self.tokens(depth, depth)
        for _ in range(depth):
            if self.r.random() < 0.5:
                inner = [("[", "["), ("ws", self.ws())] + inner + [("ws", self.ws()), ("]", "]")]
            else:
                key = '"' + self.string_body() + '"'
                inner = [("{", "{"), ("key", key), (":", ":")] + inner + [("}", "}")]
        return inner

    def document(self) -> tuple[list, str]:
        r = self.r.random()
        if r < 0.12:
            depth = self.r.randint(20, 60)
            toks = self.chain(depth)
            note = f"generated: a nest {depth} deep"
        else:
            max_depth = self.r.choice([1, 2, 3, 4, 6, 10])
            toks = self.tokens(0, max_depth)
            note = f"generated: random value, depth <= {max_depth}"
        toks = [("ws", self.ws())] + toks + [("ws", self.ws())]
        return toks, note


def text_of(tokens: list) -> str:
    return "".join(t for _, t in tokens)


def last_closing(tokens: list) -> int | None:
    for i in range(len(tokens) - 1, -1, -1):
        if tokens[i][0] in "]}":
            return i
    return None


class Mutator:
    """Mutations of a valid token list that can never give JSON; each returns
    (text, note) or None when it does not apply to this document."""

    def __init__(self, rng: random.Random):
        self.r = rng

    def pick(self, tokens, kinds):
        idx = [i for i, (k, t) in enumerate(tokens) if k in kinds]
        return self.r.choice(idx) if idx else None

    def truncate(self, tokens):
        # Only container documents: any cut before the outer closing bracket
        # leaves that bracket open.
        if tokens[1][0] not in "[{":
            return None
        text = text_of(tokens)
        close = len(text_of(tokens[: last_closing(tokens)]))
        cut = self.r.randint(1, close)
        # Prefer cutting inside a multi-character token now and then.
        return text[:cut], f"mutation: cut short at {cut} of {len(text)}, outer bracket left open"

    def trailing_comma(self, tokens):
        idx = [i for i, (k, _) in enumerate(tokens) if k in "]}" and self._non_empty(tokens, i)]
        if not idx:
            return None
        i = self.r.choice(idx)
        out = tokens[:i] + [(",", ","), ("ws", self.r.choice(["", " ", "\n"]))] + tokens[i:]
        return text_of(out), "mutation: trailing comma before a closing bracket"

    @staticmethod
    def _non_empty(tokens, i):
        j = i - 1
        while tokens[j][0] == "ws":
            j -= 1
        return tokens[j][0] not in "[{"

    def single_quotes(self, tokens):
        i = self.pick(tokens, {"str", "key"})
        if i is None:
            return None
        body = tokens[i][1][1:-1]
        out = tokens[:i] + [("str", "'" + body + "'")] + tokens[i + 1 :]
        return text_of(out), "mutation: a string in single quotes"

    def leading_zero(self, tokens):
        i = self.pick(tokens, {"num"})
        if i is None:
            return None
        t = tokens[i][1]
        sign = "-" if t.startswith("-") else ""
        rest = t[len(sign) :]
        out = tokens[:i] + [("num", sign + "0" + str(self.r.randint(0, 9)) + rest)] + tokens[i + 1 :]
        return text_of(out), "mutation: a leading zero"

    def raw_control(self, tokens):
        i = self.pick(tokens, {"str", "key"})
        if i is None:
            return None
        t = tokens[i][1]
        ch = chr(self.r.choice([0, 1, 8, 9, 10, 13, 0x1B, 0x1F]))
        pos = self.r.randint(1, len(t) - 1)
        t = t[:pos] + ch + t[pos:]
        # Inserting inside an escape like \u00e9 would still leave a control
        # character in the string, so the text is invalid either way.
        out = tokens[:i] + [("str", t)] + tokens[i + 1 :]
        return text_of(out), f"mutation: raw U+{ord(ch):04X} inside a string"

    def bad_escape(self, tokens):
        i = self.pick(tokens, {"str", "key"})
        if i is None:
            return None
        t = tokens[i][1]
        esc = self.r.choice(["\\x41", "\\'", "\\a", "\\u12G4", "\\u12", "\\U0001F600", "\\0", "\\ "])
        # Insert at an escape boundary: at the very start of the content, so
        # the new backslash cannot be read as the second half of `\\`.
        out = tokens[:i] + [("str", '"' + esc + t[1:])] + tokens[i + 1 :]
        return text_of(out), f"mutation: invalid escape {esc}"

    def drop_colon(self, tokens):
        i = self.pick(tokens, {":"})
        if i is None:
            return None
        return text_of(tokens[:i] + tokens[i + 1 :]), "mutation: missing ':' in an object"

    def drop_comma(self, tokens):
        i = self.pick(tokens, {","})
        if i is None:
            return None
        return text_of(tokens[:i] + [("ws", " ")] + tokens[i + 1 :]), "mutation: missing ',' between elements"

    def comment(self, tokens):
        i = self.pick(tokens, {"ws"})
        c = self.r.choice(["/* c */", "// c\n", "#c\n"])
        return text_of(tokens[:i] + [("ws", c)] + tokens[i + 1 :]), f"mutation: comment {c.strip()!r}"

    def nan(self, tokens):
        i = self.pick(tokens, {"num"})
        if i is None:
            return None
        word = self.r.choice(["NaN", "Infinity", "-Infinity", "nan", "inf"])
        return text_of(tokens[:i] + [("lit", word)] + tokens[i + 1 :]), f"mutation: {word} for a number"

    def unquoted_key(self, tokens):
        i = self.pick(tokens, {"key"})
        if i is None:
            return None
        name = self.r.choice(["key", "a", "_x", "true", "1", ""])
        return text_of(tokens[:i] + [("key", name)] + tokens[i + 1 :]), "mutation: unquoted key"

    def bom(self, tokens):
        return "\ufeff" + text_of(tokens), "mutation: byte-order mark first"

    def foreign_whitespace(self, tokens):
        i = self.pick(tokens, {"ws"})
        ch = self.r.choice(["\u00a0", "\u000b", "\u000c", "\u2003", "\u3000", "\ufeff"])
        return text_of(tokens[:i] + [("ws", ch)] + tokens[i + 1 :]), f"mutation: U+{ord(ch):04X} used as whitespace"

    def second_value(self, tokens):
        extra = self.r.choice(["1", '"x"', "[]", "{}", "null", ","])
        sep = self.r.choice([" ", "\n", ""]) if extra[0] in '"[{,' else self.r.choice([" ", "\n"])
        return text_of(tokens) + sep + extra, f"mutation: {extra!r} after the top-level value"

    def number_shape(self, tokens):
        i = self.pick(tokens, {"num"})
        if i is None:
            return None
        t = tokens[i][1]
        choice = self.r.choice(["plus", "dot-first", "dot-last", "exp-empty", "double-minus", "hex"])
        if choice == "plus":
            t = "+" + t.lstrip("-")
        elif choice == "dot-first":
            t = "." + "".join(c for c in t if c.isdigit())[:4]
        elif choice == "dot-last":
            t = t.split("e")[0].split("E")[0].split(".")[0] + "."
        elif choice == "exp-empty":
            t = t.split("e")[0].split("E")[0] + self.r.choice(["e", "E+", "e-"])
        elif choice == "double-minus":
            t = "--" + t.lstrip("-")
        else:
            t = "0x" + t.lstrip("-")[:3]
        return text_of(tokens[:i] + [("num", t)] + tokens[i + 1 :]), f"mutation: number shape ({choice})"

    def literal_case(self, tokens):
        i = self.pick(tokens, {"lit"})
        if i is None:
            return None
        t = tokens[i][1]
        t = self.r.choice([t.capitalize(), t.upper(), t[:-1], t + t[-1]])
        return text_of(tokens[:i] + [("lit", t)] + tokens[i + 1 :]), "mutation: misspelt literal"

    def extra_closing(self, tokens):
        return text_of(tokens) + self.r.choice(["]", "}"]), "mutation: an extra closing bracket"

    def unterminated_string(self, tokens):
        i = self.pick(tokens, {"str", "key"})
        if i is None or tokens[1][0] in "[{":
            return None
        # Only for a top-level string: dropping its closing quote leaves it open.
        t = tokens[i][1][:-1]
        if t.endswith("\\") and not t.endswith("\\\\"):
            return None
        return text_of(tokens[:i] + [("str", t)]), "mutation: unterminated top-level string"

    def all(self):
        return [
            self.truncate, self.trailing_comma, self.single_quotes, self.leading_zero,
            self.raw_control, self.bad_escape, self.drop_colon, self.drop_comma, self.comment,
            self.nan, self.unquoted_key, self.bom, self.foreign_whitespace, self.second_value,
            self.number_shape, self.literal_case, self.extra_closing, self.unterminated_string,
        ]


# --------------------------------------------------------------------------
# Hand-written edge cases
# --------------------------------------------------------------------------

HAND_VALID = [
    ("0", "zero"), ("-0", "negative zero"), ("1", "one digit"), ("-1", "negative"),
    ("10", "two digits"), ("1.0", "fraction"), ("0.5", "zero point five"), ("-0.0", "negative zero fraction"),
    ("1e5", "exponent"), ("1E5", "capital exponent"), ("1e+5", "signed exponent"), ("1e-5", "negative exponent"),
    ("1.5e+10", "fraction and exponent"), ("0e0", "zero exponent"), ("1e007", "leading zeros in an exponent are fine"),
    ("123456789012345678901234567890", "integer beyond 64 bits"), ("1e999", "exponent beyond f64"),
    ("-1.7976931348623157e308", "f64 minimum"), ("4.9e-324", "denormal"),
    ("true", "true"), ("false", "false"), ("null", "null"),
    ('""', "empty string"), ('"a"', "one letter"), ('" "', "a space"),
    ('"\\"\\\\\\/\\b\\f\\n\\r\\t"', "every short escape"),
    ('"\\u0000"', "escaped NUL"), ('"\\u001f"', "escaped unit separator"), ('"\\u00E9"', "uppercase hex escape"),
    ('"\\ud800"', "lone high surrogate escape"), ('"\\udfff"', "lone low surrogate escape"),
    ('"\\udc00\\ud800"', "surrogates in the wrong order"), ('"\\ud83d\\ude00"', "surrogate pair"),
    ('"\x7f"', "raw DEL"), ('"\u2028\u2029"', "raw line and paragraph separators"),
    ('"é中😀"', "raw 2-, 3- and 4-byte characters"), ('"\U0010ffff"', "highest code point raw"),
    ('"/"', "unescaped slash"), ('"\'"', "single quote inside a string"),
    ("[]", "empty array"), ("{}", "empty object"), ("[[]]", "nested empty"),
    ("[1,2,3]", "array"), ('{"a":1}', "object"), ('{"a":1,"a":2}', "duplicate keys"),
    ('{"":null}', "empty key"), ("[null,true,false]", "literals in an array"),
    (' 1', "leading space"), ('1 ', "trailing space"), ('\n\t\r 1\n\t\r ', "all four whitespace characters around"),
    ("[ 1 , 2 ]", "spaces inside an array"), ('{ "a" : 1 , "b" : [ ] }', "spaces everywhere in an object"),
    ("[\n  1,\n  2\n]", "pretty printed array"), ('{\r\n\t"k":\r\n\t"v"\r\n}', "CRLF and tabs"),
    ("[" * 60 + "]" * 60, "arrays 60 deep"),
    ('{"a":' * 30 + "1" + "}" * 30, "objects 30 deep"),
    ('[{"a":[{"b":[{"c":null}]}]}]', "alternating containers"),
    ('["\\\\"]', "escaped backslash before the closing quote"),
    ('"\\\\\\""', "escaped backslash then escaped quote"),
]

HAND_INVALID = [
    ("", "empty text"), (" ", "only whitespace"), ("\n\t", "only whitespace, other kinds"),
    ("01", "leading zero"), ("-01", "negative leading zero"), ("00", "double zero"), ("1.", "no fraction digits"),
    (".5", "no integer part"), ("+1", "plus sign"), ("-", "minus alone"), ("1e", "empty exponent"),
    ("1e+", "empty signed exponent"), ("1.e5", "dot then exponent"), ("0x1F", "hex"), ("1_000", "digit separator"),
    ("1,000", "thousands comma"), ("- 1", "space after minus"), ("--1", "double minus"), ("1.5.2", "two dots"),
    ("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("nan", "nan"),
    ("True", "capital True"), ("NULL", "capital NULL"), ("nul", "truncated null"), ("nulll", "null plus l"),
    ("t", "t"), ("undefined", "undefined"),
    ("'a'", "single-quoted string"), ('"a', "unterminated string"), ('"\\"', "escaped closing quote"),
    ('"\\x41"', "\\x escape"), ('"\\u12"', "short \\u escape"), ('"\\u12G4"', "non-hex \\u escape"),
    ('"\\U0001F600"', "capital U escape"), ('"\\a"', "\\a escape"), ('"\\\'"', "escaped single quote"),
    ('"\\ "', "escaped space"), ('"\\\n"', "escaped newline"),
    ('"\t"', "raw tab in a string"), ('"\n"', "raw newline in a string"), ('"\x00"', "raw NUL in a string"),
    ('"\x1f"', "raw unit separator in a string"), ('"\r"', "raw CR in a string"),
    ("[1,]", "trailing comma in an array"), ('{"a":1,}', "trailing comma in an object"), ("[,]", "lone comma"),
    ("[,1]", "leading comma"), ("[1,,2]", "double comma"), ("[1 2]", "missing comma"), ('{"a" 1}', "missing colon"),
    ('{"a":1 "b":2}', "missing comma in an object"), ('{"a"}', "key without value"), ('{"a":}', "colon without value"),
    ("{a:1}", "unquoted key"), ("{1:2}", "number key"), ("{null:1}", "null key"), ('{"a"::1}', "double colon"),
    ("[", "open array"), ("]", "close alone"), ("{", "open object"), ("[1]]", "extra close"), ("[1}", "mismatched close"),
    ('{"a":1]', "mismatched close in an object"), ("[" * 60 + "]" * 59, "60 deep, one bracket short"),
    ("1 2", "two values"), ("[] []", "two arrays"), ('{}"a"', "object then string"), ("1\n2", "two lines"),
    ("// c\n1", "line comment"), ("/* c */ 1", "block comment"), ("1 /* c */", "trailing comment"), ("# c\n1", "hash comment"),
    ("\ufeff{}", "byte-order mark"), ("\u00a0[]", "no-break space"), ("[]\u000b", "vertical tab"),
    ("[\u000c]", "form feed"), ("\u2003{}", "em space"), ("[1\u00a0]", "no-break space inside"),
    ("()", "parentheses"), ("<x/>", "not JSON at all"), ("1;", "semicolon"),
]


def build() -> list[dict]:
    rng = random.Random(SEED)
    gen = Gen(rng)
    mut = Mutator(rng)
    rows = []
    for text, note in HAND_VALID:
        rows.append({"text": text, "valid": True, "note": "hand-written: " + note})
    for text, note in HAND_INVALID:
        rows.append({"text": text, "valid": False, "note": "hand-written: " + note})
    seen = {r["text"] for r in rows}
    valid_target, invalid_target = 260, 280
    n_valid = sum(r["valid"] for r in rows)
    n_invalid = len(rows) - n_valid
    mutations = mut.all()
    k = 0
    while n_valid < valid_target or n_invalid < invalid_target:
        tokens, note = gen.document()
        text = text_of(tokens)
        if len(text) > 2500:
            continue
        if n_valid < valid_target and text not in seen:
            rows.append({"text": text, "valid": True, "note": note})
            seen.add(text)
            n_valid += 1
        if n_invalid < invalid_target:
            # Walk through the mutations in turn so that each kind is used.
            for _ in range(len(mutations)):
                result = mutations[k % len(mutations)](tokens)
                k += 1
                if result is not None and result[0] not in seen:
                    rows.append({"text": result[0], "valid": False, "note": result[1]})
                    seen.add(result[0])
                    n_invalid += 1
                    break
    return rows


def write(rows: list[dict]):
    CORPUS.parent.mkdir(parents=True, exist_ok=True)
    with CORPUS.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def check(use_grammars: bool) -> int:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").split("\n") if line]
    judges = [("RFC 8259 recognizer", rfc8259_valid), ("Python json", python_json_valid)]
    if use_grammars:
        sys.path.insert(0, str(ROOT / "scripts"))
        import gbnf_oracle
        from lark import Lark
        from lark.exceptions import UnexpectedInput

        rec = gbnf_oracle.compile_gbnf((ROOT / "grammars/library/json.gbnf").read_text(encoding="utf-8"))
        lark_json = Lark((ROOT / "grammars/library/json.lark").read_text(encoding="utf-8"), parser="lalr", lexer="contextual")

        def by_lark(text):
            try:
                lark_json.parse(text)
                return True
            except UnexpectedInput:
                return False

        judges += [("json.gbnf (Earley)", rec.accepts), ("json.lark (lark)", by_lark)]
    problems = 0
    for n, row in enumerate(rows, 1):
        for name, judge in judges:
            if judge(row["text"]) != row["valid"]:
                problems += 1
                print(f"line {n}: {name} says {not row['valid']}, label {row['valid']}: {row['text'][:80]!r} ({row['note']})")
    valid = sum(r["valid"] for r in rows)
    print(f"{CORPUS}: {valid} valid, {len(rows) - valid} invalid, {len(judges)} judges, {problems} disagreement(s)", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if "--check" in argv:
        return check(use_grammars="--no-grammars" not in argv)
    rows = build()
    write(rows)
    valid = sum(r["valid"] for r in rows)
    print(f"wrote {CORPUS}: {valid} valid, {len(rows) - valid} invalid", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
