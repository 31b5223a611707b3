#!/usr/bin/env bash
# A test reader's own virtual environment, for readers whose pins conflict with .venv's
# (see the Makefile): VENV REQUIREMENTS [PACKAGE==VERSION ...]
# The pinned CPU torch first (unless TORCH=0), then REQUIREMENTS, then each PACKAGE with
# --no-deps (its declared dependencies are what conflicts); VENV/.done marks it complete.
set -euo pipefail
venv=$1 req=$2
shift 2
test -x "$venv/bin/python" || "${PY:-python3.11}" -m venv "$venv"
if [ "${TORCH:-1}" != 0 ]; then "$venv/bin/pip" install -q torch==2.13.0; fi
"$venv/bin/pip" install -q -r "$req"
if [ $# -gt 0 ]; then "$venv/bin/pip" install -q --no-deps "$@"; fi
touch "$venv/.done"
