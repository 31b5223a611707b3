"""The normalization quick check of the native engine (`native.quick_check_table`,
`_kernels._quick_check_spans`, `native.normalize_column`): its table is the published
Quick_Check property, it never passes text that is not normalized, and splicing the
normalized spans back gives each whole document's normal form; the encoder's ids stay
`tokenizers`' own."""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import pyarrow as pa
import pytest
import regex
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from mixforge.errors import InputError
from mixforge.tokenize import _kernels as K
from mixforge.tokenize.fast import _buffers, build_encoder
from mixforge.tokenize.loading import load_tokenizer
from mixforge.tokenize.native import (
    FORMS,
    _build_quick_check,
    normalization_spans,
    normalize_column,
    quick_check_table,
)

from .conftest import PLANTED

ASSIGNED = np.array([unicodedata.category(chr(c)) not in ("Cn", "Cs")
                     for c in range(0x110000)])


def published_not_yes(form: str) -> np.ndarray:
    """bool per code point: ``<form>_Quick_Check`` is No or Maybe, as the ``regex``
    module (its own copy of the Unicode Character Database) says."""
    prop = regex.compile(rf"[\p{{{form}_QC=No}}\p{{{form}_QC=Maybe}}]"
                         if form in ("NFC", "NFKC") else rf"\p{{{form}_QC=No}}")
    text = "".join(chr(c) for c in np.flatnonzero(ASSIGNED))
    out = np.zeros(0x110000, dtype=bool)
    out[[ord(m) for m in prop.findall(text)]] = True
    return out


def naive_quick_check(form: str, text: str) -> bool:
    """UAX #15's quick check, as its pseudo-code writes it, on `regex`'s property: True
    for Yes, False for No or Maybe."""
    prop = regex.compile(rf"\p{{{form}_QC=Yes}}")
    last = 0
    for ch in text:
        ccc = unicodedata.combining(ch)
        if ccc != 0 and last > ccc:
            return False
        if not prop.match(ch) or unicodedata.category(ch) == "Cn":
            return False
        last = ccc
    return True


def exact(form: str):
    """`normalize_column`'s ``normalize``: the argument itself when already normal."""
    return lambda s: s if unicodedata.is_normalized(form, s) else unicodedata.normalize(form, s)


def passes(form: str, texts: list[str]) -> np.ndarray:
    """bool per text: no span of it needs normalizing (the quick check says Yes)."""
    data, offsets = _buffers(pa.array(texts, pa.large_string()))
    lo, _ = normalization_spans(form, data, offsets)
    return np.bincount(np.searchsorted(offsets, lo, side="right") - 1,
                       minlength=len(texts)) == 0


def normalized_by_spans(form: str, col: pa.Array) -> list[str]:
    data, offsets = _buffers(col)
    out = normalize_column(form, data, offsets, exact(form))
    if out is None:
        return col.to_pylist()
    new, new_offsets = out
    assert new_offsets[0] == 0 and len(new_offsets) == len(col) + 1
    return pa.LargeStringArray.from_buffers(len(col), pa.py_buffer(new_offsets),
                                            pa.py_buffer(new)).to_pylist()


@pytest.mark.parametrize("form", FORMS)
def test_the_table_is_the_published_quick_check_property(form):
    table = _build_quick_check(form)
    not_yes = table == K.QC_NOT_YES
    want = published_not_yes(form)
    assert np.array_equal(not_yes[ASSIGNED], want[ASSIGNED]), [
        f"U+{c:04X}" for c in np.flatnonzero((not_yes != want) & ASSIGNED)[:10]]
    assert not_yes[~ASSIGNED & (np.arange(0x110000) >= 0x80)].all()  # never a boundary
    yes = np.flatnonzero(~not_yes)
    ccc = np.array([unicodedata.combining(chr(c)) for c in yes])
    assert np.array_equal(table[yes], ccc)
    assert np.array_equal(quick_check_table(form), table)  # what the cache holds


def test_no_code_point_passes_where_it_is_not_normalized():
    # every code point alone and between letters: whatever passes is NFKC, and exactly
    # the code points whose NFKC_Quick_Check is Yes pass (both ways, so not vacuous)
    cps = [c for c in range(0x80, 0x110000) if ASSIGNED[c]]
    alone = [chr(c) for c in cps]
    context = [f"x{chr(c)}y" for c in cps]
    yes = ~published_not_yes("NFKC")[cps]
    for texts in (alone, context):
        ok = passes("NFKC", texts)
        assert np.array_equal(ok, yes)
        assert all(unicodedata.is_normalized("NFKC", texts[i]) for i in np.flatnonzero(ok))
    assert normalized_by_spans("NFKC", pa.array(context)) == [
        unicodedata.normalize("NFKC", t) for t in context]


CASES = {
    "ligature fi": "ﬁnance",
    "fullwidth forms": "ＡＢＣ：１２３，",
    "ohm sign (a singleton)": "5 \u2126",
    "no-break space": "100\u00a0km",
    "circled digit, halfwidth katakana, superscript": "① ｶﾀｶﾅ x²",
    "a combining mark that composes": "e\u0301",
    "combining classes out of order": "\u05d0\u05b1\u05b0",  # sheva (10) after hataf (11)
    "Hangul L + V jamo": "\u1100\u1161",
    "Hangul LV + T jamo": "\uac00\u11a8",
    "Bengali vowel sign that composes": "\u09c7\u09be",
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_text_that_is_not_normalized_never_passes(text):
    assert not unicodedata.is_normalized("NFKC", text)
    assert not passes("NFKC", [text, f"plain {text} plain"]).any()
    col = pa.array(["ascii", text, f"{text}{text}", "가각", f"«{text}»"])
    assert normalized_by_spans("NFKC", col) == [unicodedata.normalize("NFKC", t)
                                                for t in col.to_pylist()]


def test_ordering_alone_decides_when_every_mark_is_yes():
    table = quick_check_table("NFKC")
    assert table[0x5B0] == 10 and table[0x5B1] == 11  # both Yes: only the order fails
    assert passes("NFKC", ["\u05d0\u05b0\u05b1", "\u05d0\u05b1\u05b0"]).tolist() == [True, False]
    assert passes("NFKC", ["가각", "\u1100", "é", "日本語", ""]).all()


# Starters that compose, marks of several classes (some that compose, some out of
# order), jamo, compatibility characters, controls next to the span separator's bytes,
# 4-byte characters, Bengali and Tamil two-part vowels, and plain letters.
ALPHABET = ("aeouAEOUnNcC \n\x00\x1f\u00e9\u00c5"
            "\u0300\u0301\u0308\u0316\u0323\u0327\u0345\u05b0\u05b1\u05bc\u0344\u0f73"
            "\u1100\u1161\u11a8\uac00\uac01\u3131"
            "\ufb01\uff21\uff1a\u2126\u00a0\u2460\u00b2\uff76\u2026\u1e9b\u212b"
            "\u09c7\u09be\u09d7\u0bc6\u0bbe\u0b47\u0b3e"
            "\U0001f600\U0001d15e\U0001d165\U0001f1f7\u0378")


def random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))
            for _ in range(n)]


@pytest.mark.parametrize("form", FORMS)
def test_spliced_spans_equal_each_whole_document_normalized(form):
    # the naive twins: UAX #15's quick check on regex's property, and unicodedata on each
    # whole document; sliced and int32-offset columns too
    texts = [*random_texts(3000, 7), *PLANTED]
    ok = passes(form, texts)
    assert ok.tolist() == [naive_quick_check(form, t) for t in texts]
    assert 0.05 < ok.mean() < 0.95
    want = [unicodedata.normalize(form, t) for t in texts]
    assert normalized_by_spans(form, pa.array(texts, pa.large_string())) == want
    assert normalized_by_spans(form, pa.array(texts, pa.string()).slice(5)) == want[5:]


def test_spans_stop_at_document_bounds():
    # a document ending in a span, then one starting with one: two spans, not one
    texts = ["abc\u00a0", "\u00a0xyz", "ﬁ", "ﬁ", "", "e\u0301"]
    data, offsets = _buffers(pa.array(texts, pa.large_string()))
    lo, hi = normalization_spans("NFKC", data, offsets)
    docs = np.searchsorted(offsets, lo, side="right") - 1
    assert docs.tolist() == [0, 1, 2, 3, 5]
    assert (hi <= offsets[docs + 1]).all()
    assert normalized_by_spans("NFKC", pa.array(texts)) == [
        unicodedata.normalize("NFKC", t) for t in texts]


def test_invalid_utf8_is_named_by_row():
    good = "ok é".encode()
    bad = b"caf\xff \xcc\x81"
    data = np.frombuffer(good + bad, dtype=np.uint8)
    offsets = np.array([0, len(good), len(good) + len(bad)], dtype=np.int64)
    with pytest.raises(InputError, match=r"row 1: invalid_utf8: byte 3 "):
        normalize_column("NFKC", data, offsets, exact("NFKC"))


def _bpe(normalizer, texts: list[str], path) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.save(str(path))
    return tok


def hf_ids(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    ref = Tokenizer.from_str(tok.to_str())
    ref.encode_special_tokens = True
    return [e.ids for e in ref.encode_batch(texts, add_special_tokens=False)]


def split(tokens, lens) -> list[list[int]]:
    offs = np.cumsum(lens) - lens
    return [tokens[o:o + n].tolist() for o, n in zip(offs, lens, strict=True)]


def test_nfkc_bpe_ids_equal_tokenizers_on_every_code_point_and_the_pinned_corpus(
        ingested_table, sample_texts, tmp_path):
    # the pinned corpus whole, every NFKC No/Maybe code point between letters, random
    # text: one Arrow column, so Yes and No documents sit side by side in its buffer
    # (the 65k pretrained NFKC tokenizer: test_tokenize_engine.py)
    path = tmp_path / "nfkc.json"
    hf = _bpe(normalizers.NFKC(), [*sample_texts[:200], *random_texts(500, 8)], path)
    enc = build_encoder(load_tokenizer(path), "native", threads=2)
    assert enc.engine == "native"
    maybe_no = np.flatnonzero(published_not_yes("NFKC"))
    texts = [*ingested_table["text"].to_pylist(), *(f"a{chr(c)}b" for c in maybe_no),
             *random_texts(2000, 9), *PLANTED]
    assert split(*enc.encode(pa.array(texts))) == hf_ids(hf, texts)


def test_a_normalizer_that_changes_ascii_applies_to_ascii_only_batches(tmp_path):
    # Lowercase is not a Unicode form: every document goes through it, even in a batch
    # with no byte above 0x7F (such a batch used to skip it)
    path = tmp_path / "lower.json"
    hf = _bpe(normalizers.Lowercase(), ["hello world HELLO World héllo"] * 50, path)
    enc = build_encoder(load_tokenizer(path), "native", threads=1)
    assert enc.engine == "native"
    for texts in (["HELLO World", "abc"], ["HÉLLO", "World"]):
        assert split(*enc.encode(pa.array(texts))) == hf_ids(hf, texts)


def test_a_document_the_fallback_encodes_is_normalized_once(tmp_path):
    # a code point Python 3.11 does not assign sends its document to tiktoken, which
    # normalizes the raw text: not the native path's output again (Replace is not
    # idempotent, NFKC is)
    path = tmp_path / "replace.json"
    hf = _bpe(normalizers.Replace("y", "yy"), ["xx yy x y"] * 50, path)
    enc = build_encoder(load_tokenizer(path), "native", threads=1)
    assert enc.engine == "native"
    texts = ["y \U0001fae9 y", "x y", "\u0378y"]
    assert split(*enc.encode(pa.array(texts))) == hf_ids(hf, texts)
