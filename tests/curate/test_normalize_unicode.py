"""The normalizer against the reference (naive_curate.normalize: Python's unicodedata NFKC,
str.lower, Unicode P*/S* and str.isspace) for EVERY code point of Unicode, alone, inside
a word, and in the contexts that change case mapping or composition (final sigma,
compositions that NFKC creates). Not a sample: a code point the fast path or the slow
path folds differently fails here, whatever the script."""

from __future__ import annotations

import pyarrow as pa
import pytest

from mixforge.curate.normalize import NormConfig, exact_keys, normalize

from . import naive_curate as N

ALL = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]  # no surrogates


def _disagreements(docs: list[str], flags: tuple[bool, ...]) -> list[tuple[str, str, str]]:
    got = normalize(pa.array(docs, pa.large_string()), NormConfig(*flags)).to_pylist()
    return [(d, g, N.normalize(d, *flags)) for d, g in zip(docs, got, strict=True)
            if g != N.normalize(d, *flags)][:10]


@pytest.mark.parametrize("flags", [(True, True, True, True), (False, True, False, False),
                                   (True, False, False, False)])
def test_every_code_point_alone(flags):
    assert _disagreements(ALL, flags) == []


def test_every_code_point_inside_a_word():
    assert _disagreements([f"a{c}b" for c in ALL], (True, True, True, True)) == []


def test_every_code_point_in_context():
    """After and before a capital sigma (final-sigma rule), after letters NFKC composes
    with (Ⅰ + U+0307 -> İ), in one document per code point."""
    docs = [f"AΣ{c} x {c}Σ Ⅰ{c} ᾼ{c} {c}{c}" for c in ALL]
    assert _disagreements(docs, (True, True, True, True)) == []


def test_exact_keys_follow_the_reference():
    """Two texts get one key exactly when their reference normalizations are equal."""
    pairs = [("ΟΔΟΣ", "οδος"), ("ΟΔΟΣ", "οδος".replace("ς", "σ")), ("İ", "i̇"), ("İ", "i"),
             ("ﬁne", "FINE"), ("Ⅻ", "xii"), ("ǅ", "dž")]
    for a, b in pairs:
        hi, lo = exact_keys(pa.array([a, b]), NormConfig())
        same = bool(hi[0] == hi[1] and lo[0] == lo[1])
        assert same == (N.normalize(a) == N.normalize(b)), (a, b)
