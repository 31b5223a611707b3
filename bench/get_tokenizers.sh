#!/usr/bin/env bash
# Extract the real pretrained tokenizer files the litellm wheel ships (byte-level BPE
# tokenizer.json files of 65k and 128k tokens, tiktoken cache files of cl100k/o200k/p50k)
# into ~/.cache/mixforge/tokenizers (or $MIXFORGE_TOKENIZER_FILES). litellm itself is not
# installed: only its wheel is downloaded, to a temp folder.
set -euo pipefail
OUT="${MIXFORGE_TOKENIZER_FILES:-$HOME/.cache/mixforge/tokenizers}"
PY="${PYTHON:-python}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$PY" -m pip download --no-deps litellm -d "$TMP" -q
mkdir -p "$OUT"
unzip -o -q -j "$TMP"/litellm-*.whl 'litellm/litellm_core_utils/tokenizers/*' -x '*/__init__.py' -d "$OUT"
ls -la "$OUT"
