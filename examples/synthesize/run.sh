#!/usr/bin/env sh
# The README's `trellis synthesize` example: expressions in x whose value is 5
# at x = 0, in the language of expression.gbnf, tested by expr.py, repaired
# once with the test's message, and clustered by their values at
# x = 0, 1, 2, 5, 10 (inputs.jsonl). Extra arguments are passed on
# (`--seed 1`, `--stats`); REPAIR=0 turns repair off and NO_GRAMMAR=1 drops
# the grammar (the figures in the README compare all four).
#
#   scripts/fetch-model.sh && cargo build --release -p trellis-cli && examples/synthesize/run.sh
set -eu
cd "$(dirname "$0")/../.."
grammar="--grammar examples/synthesize/expression.gbnf"
if [ "${NO_GRAMMAR:-}" = 1 ]; then grammar=; fi
# shellcheck disable=SC2086 # $grammar is two words or none
exec "${TRELLIS:-target/release/trellis}" synthesize $grammar \
    --prompt "Write an arithmetic expression in the variable x whose value is 5 when x = 0. Answer with the expression only." \
    --test "python3 -S examples/synthesize/expr.py test 0 5" \
    --inputs examples/synthesize/inputs.jsonl --run "python3 -S examples/synthesize/expr.py run" \
    --candidates 24 --repair "${REPAIR:-1}" --max-tokens 16 --clusters 3 "$@"
