#!/usr/bin/env bash
# Real pretrained tokenizers, offline from PyPI: the litellm wheel ships byte-level BPE
# tokenizer.json files (a 65k and a 128k model) and tiktoken's cl100k/o200k/p50k cache
# files. The pinned wheel is downloaded (litellm itself is never installed), the files are
# extracted to $MIXFORGE_TOKENIZER_FILES (default ~/.cache/mixforge/tokenizers) and checked
# against scripts/tokenizer-files.sha256, so the id-parity tests see the same bytes on every
# machine. Idempotent: does nothing when the files are there with the right sums.
set -euo pipefail
LITELLM_VERSION=1.110.2
HERE="$(cd "$(dirname "$0")" && pwd)"
SUMS="$HERE/tokenizer-files.sha256"
OUT="${MIXFORGE_TOKENIZER_FILES:-$HOME/.cache/mixforge/tokenizers}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
if (cd "$OUT" && sha256sum --quiet -c "$SUMS") >/dev/null 2>&1; then
  exit 0
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$PY" -m pip download --no-deps "litellm==$LITELLM_VERSION" -d "$TMP" -q 2>&1 | grep -v '^WARNING: Location' || true
unzip -o -q -j "$TMP"/litellm-*.whl 'litellm/litellm_core_utils/tokenizers/*' -x '*/__init__.py' -d "$OUT"
if ! (cd "$OUT" && sha256sum --quiet -c "$SUMS"); then
  echo "get-tokenizers: files in $OUT differ from $SUMS (litellm==$LITELLM_VERSION)" >&2
  exit 1
fi
echo "get-tokenizers: real tokenizer files ready in $OUT"
