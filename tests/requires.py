"""Skip, or fail under `make test`, when an optional test piece is missing.

A bare `pytest` skips tests whose optional pieces (the real pretrained tokenizer files, a
format reader's own venv) are absent, saying how to get them. `make test` (and so CI)
provides every piece and sets MIXFORGE_TEST_STRICT=1, so there a missing piece fails the
test instead of letting it skip unseen.
"""

from __future__ import annotations

import os

import pytest


def require(present: bool, msg: str) -> None:
    """Skip with ``msg`` when ``present`` is false, or fail with it under MIXFORGE_TEST_STRICT."""
    if present:
        return
    if os.environ.get("MIXFORGE_TEST_STRICT"):
        pytest.fail(msg)
    pytest.skip(msg)
