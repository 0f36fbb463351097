#!/usr/bin/env python3
"""Evaluates an arithmetic expression in x (expression.gbnf's language) exactly.

    expr.py test X TARGET   candidate in $TRELLIS_CANDIDATE (or stdin); exit 0
                            iff its value at x = X is TARGET, else the reason
                            on stderr and exit 1 (`trellis synthesize --test`)
    expr.py run             candidate in $TRELLIS_CANDIDATE, x on stdin; prints
                            the value, no newline (`trellis synthesize --run`)

Values are fractions, so 20/2 is exactly 10 and 0.1+0.2 exactly 0.3. It reads
the text itself rather than calling eval: candidates are model output.
"""
import os
import sys
from fractions import Fraction


class Error(Exception):
    pass


def evaluate(text, x):
    pos = 0

    def skip():
        nonlocal pos
        while pos < len(text) and text[pos] == " ":
            pos += 1

    def expect_more(what):
        if pos >= len(text):
            raise Error(f"the expression ends where {what} should be")

    def factor():
        nonlocal pos
        skip()
        expect_more("a number, x or (")
        c = text[pos]
        if c == "-":
            pos += 1
            return -factor()
        if c == "(":
            pos += 1
            value = total()
            skip()
            if pos >= len(text) or text[pos] != ")":
                raise Error(f"a ( at column {pos + 1} is never closed")
            pos += 1
            return value
        if c == "x":
            pos += 1
            return x
        start = pos
        while pos < len(text) and (text[pos].isdigit() or text[pos] == "."):
            pos += 1
        if start == pos:
            raise Error(f"unexpected {c!r} at column {pos + 1}: expected a number, x or (")
        try:
            return Fraction(text[start:pos])
        except ValueError:
            raise Error(f"{text[start:pos]!r} is not a number") from None

    def product():
        nonlocal pos
        value = factor()
        while True:
            skip()
            if pos < len(text) and text[pos] in "*/":
                op = text[pos]
                pos += 1
                right = factor()
                if op == "*":
                    value *= right
                elif right == 0:
                    raise Error("division by zero")
                else:
                    value /= right
            else:
                return value

    def total():
        nonlocal pos
        value = product()
        while True:
            skip()
            if pos < len(text) and text[pos] in "+-":
                op = text[pos]
                pos += 1
                right = product()
                value = value + right if op == "+" else value - right
            else:
                return value

    if len(text) > 1000:
        raise Error("the expression is longer than 1000 characters")
    value = total()
    skip()
    if pos < len(text):
        raise Error(f"unexpected {text[pos]!r} at column {pos + 1} after a complete expression")
    return value


def show(value):
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def candidate():
    path = os.environ.get("TRELLIS_CANDIDATE")
    if path:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    return sys.stdin.read()


def main():
    try:
        if sys.argv[1:2] == ["test"] and len(sys.argv) == 4:
            x, target = Fraction(sys.argv[2]), Fraction(sys.argv[3])
            value = evaluate(candidate(), x)
            if value != target:
                raise Error(f"at x = {show(x)} the value is {show(value)}, not {show(target)}")
        elif sys.argv[1:] == ["run"]:
            sys.stdout.write(show(evaluate(candidate(), Fraction(sys.stdin.read().strip()))))
        else:
            sys.exit(__doc__)
    except Error as e:
        print(e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
