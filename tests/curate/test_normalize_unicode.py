"""The normalizer against the reference (naive_curate.normalize: Python's unicodedata NFKC,
str.lower, Unicode P*/S* and str.isspace) for EVERY code point of Unicode, alone, inside
a word, and in the contexts that change case mapping or composition (final sigma,
compositions that NFKC creates). Not a sample: a code point the fast path or the slow
path folds differently fails here, whatever the script."""

from __future__ import annotations

import unicodedata

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


def _seconds() -> set[str]:
    """Code points a canonical composition may absorb (the second of a pair), and the
    Hangul vowel and trailing jamo (composed algorithmically)."""
    out = {chr(c) for c in list(range(0x1161, 0x1176)) + list(range(0x11A8, 0x11C3))}
    for c in ALL:
        d = unicodedata.decomposition(c)
        if d and not d.startswith("<") and len(d.split()) == 2:
            out.add(chr(int(d.split()[1], 16)))
    return out


def test_marks_after_every_kind_of_base():
    """Every combining mark and composition second after bases that compose with it or
    not (ASCII, Latin, Bengali, Devanagari, Arabic, Hangul syllable and jamo, a ligature
    and a letter NFKC expands), alone, doubled, and around a mark of another combining
    class (canonical reordering). Twice: the first pass learns the chunks (base + marks)
    and the second takes the fast path for the safe ones; both must equal the reference."""
    marks = sorted({c for c in ALL if unicodedata.combining(c)} | _seconds())
    bases = ["a", "e", "Å", "ক", "क", "ا", "가", "ᄀ", "ﬁ", "য়", " "]
    docs = [f"x {b}{m} {b}{m}{m} {b}\u0323{m} {b}{m}\u0323 y" for m in marks for b in bases]
    for _ in range(2):
        assert _disagreements(docs, (True, True, True, True)) == []


def test_hangul_syllables_and_jamo():
    """Precomposed syllables take the fast path; a following vowel or trailing jamo
    composes with them (NFKC), a leading jamo does not."""
    jamo = [chr(c) for c in range(0x1100, 0x1200)] + ["\u3131", "\u314f", "\uffa1"]
    docs = [f"{s}{j} {j}{s} ᄀ{j} 한국어 {s}" for j in jamo for s in ("가", "각", "ᄀ", "ᅡ")]
    assert _disagreements(docs, (True, True, True, True)) == []


def test_expanding_code_points_in_context():
    """Code points NFKC replaces ("…", no-break space, fullwidth forms, ligatures,
    compatibility jamo, "İ") next to letters, marks and each other."""
    exp = [c for c in ALL if unicodedata.normalize("NFKC", c) != c or len(c.lower()) != 1]
    docs = [f"a{c}b {c}{c} {c}\u0301 e{c}\u0301 Σ{c}" for c in exp]
    assert _disagreements(docs, (True, True, True, True)) == []
