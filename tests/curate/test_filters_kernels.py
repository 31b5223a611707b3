"""The text-statistics kernel against its slow, obvious twin, on real and random text."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from mixforge.curate.textstats import STAT_NAMES, StatsParams, compute_stats, split_words

from .filters_sample import stratified
from .naive_filters import naive_stats


def _split_one(text: str) -> list[str]:
    return split_words([text])[0]


def _check(texts: list[str], params: StatsParams | None = None) -> None:
    got = compute_stats(pa.array(texts, pa.large_string()), params).to_pylist()
    words = split_words(texts)
    for i, (text, row) in enumerate(zip(texts, got, strict=True)):
        want = naive_stats(text, words[i], _split_one, params)
        diff = {k: (row[k], want[k]) for k in STAT_NAMES if row[k] != want[k]}
        assert not diff, f"document {i} {text[:80]!r}: kernel vs naive {diff}"


def test_kernel_matches_naive_on_real_documents(ingested_table):
    sample = stratified(ingested_table, 40)
    _check(sample["text"].to_pylist())


ALPHABET = (["the", "and", "of", "be", "lorem", "ipsum", "javascript", "Lorem Ipsum", "x",
             "don't", "U.S.", "e.g.", "well-known", "a.B", "10km", "http://a.com/x-y",
             "#", "...", "…", "•", "-", "{", "}", "[1]", "[edit]", ".", "!", "?", "'", '"',
             "é", "中文", "Ωμέγα", "42", "3.14", "(", ")", ":)", "):", "—", "privacy policy"]
            + [" "] * 12 + ["\n"] * 6 + ["\n\n", "\r\n", "\t", "\u2028", "\x0c", "  "])


def _random_doc(rng: random.Random) -> str:
    n = rng.randint(0, 120)
    lines = [rng.choice(["", "The cat sat on the mat.", "- item one", "same line"])
             for _ in range(rng.randint(0, 4))]
    return "".join(rng.choice(ALPHABET) for _ in range(n)) + "\n".join(lines)


def test_kernel_matches_naive_on_random_documents():
    rng = random.Random(7)
    texts = [_random_doc(rng) for _ in range(400)] + ["", " ", "\n", "\n\n\n", "a", "…"]
    _check(texts)


def test_kernel_matches_naive_with_other_params():
    rng = random.Random(8)
    texts = [_random_doc(rng) for _ in range(150)]
    params = StatsParams(stop_words=("cat", "the"), stop_chars=".!", short_line_length=5,
                         c4_max_word_length=4, c4_filter_no_terminal_punct=False,
                         c4_min_words_per_line=1, c4_filter_javascript=False,
                         c4_filter_policy=False, c4_remove_citations=False)
    _check(texts, params)


@pytest.mark.parametrize(("text", "words"), [
    ("Hello, world!", ["Hello", ",", "world", "!"]),
    ("I don't know.", ["I", "do", "n't", "know", "."]),
    ("well-known U.S. things... e.g. Mr. Smith's cat", [
        "well", "-", "known", "U.S.", "things", "...", "e.g.", "Mr.", "Smith", "'s", "cat"]),
    ("costs $5.00 (or 10km) #tag", ["costs", "$", "5.00", "(", "or", "10", "km", ")", "#",
                                    "tag"]),
    ("see setup.py. http://x.com/a-b", ["see", "setup.py", ".", "http://x.com/a-b"]),
    ("def f(x): return timeit.Timer", ["def", "f(x", "):", "return", "timeit", ".", "Timer"]),
])
def test_words_split_like_spacy(text, words):
    # expected tokens are spaCy 3.8's blank "en" tokenizer output (datatrove's English split)
    assert split_words([text])[0] == words


def test_sliced_and_chunked_columns_are_read_in_place():
    texts = ["one two three.", "", "four, five!\n\nsix", "seven"]
    whole = compute_stats(pa.array(texts, pa.string())).to_pylist()
    sliced = compute_stats(pa.array(["x", *texts], pa.string()).slice(1)).to_pylist()
    chunked = compute_stats(pa.chunked_array([pa.array(texts[:2], pa.large_string()),
                                              pa.array(texts[2:], pa.large_string())]))
    assert sliced == whole
    assert chunked.to_pylist() == whole
    assert compute_stats([]).num_rows == 0


def test_statistics_count_code_points_not_bytes():
    row = compute_stats(["héllo wörld 中文"]).to_pylist()[0]
    assert row["n_chars"] == len("héllo wörld 中文")
    assert row["nonsym_chars"] == len("héllowörld中文")
    assert np.int64(row["alpha_words"]) == 3


def test_plain_chunk_fast_path_equals_the_full_rules(ingested_table):
    # `_tokenize` takes a chunk of plain letters (or only ASCII digits) whole, without
    # `_tokenize_chunk`'s rules; on every such chunk the rules must agree
    from mixforge.curate import _textstats_kernels as k
    from mixforge.curate.textstats import _kernel_args

    lex, _ = _kernel_args(StatsParams())
    words = ("Straße naïve Ωμέγα русский 日本語 עברית العربية हिन्दी ქართული 한국어 12345 0 "
             "gonna cannot Ima dont wanna Cannot lets 2nd 10km km kg US A C Mr Dr vs ß Ⅻ "
             "ǅemal ﬁne ŉ ΐ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𐐷 ʰ ª º µ").split()
    words += stratified(ingested_table, 40)["text"].to_pylist()[0].split()[:300]
    # and a plain chunk with one closing character (the second fast path), or another
    words += [w + c for w in words[:40] for c in ',;:!?)"\'…+.-—°%$€😀]}*/']
    words += ["s's", "s’s", "10+", "5°C.", "5km,", "US$", "C$,", "Ima,", "gonna!", "e.g,"]
    for w in words:
        cps = np.array([ord(c) for c in w], np.int64)
        ts, te, sufs, sufe = (np.zeros(len(w) + 1, np.int64) for _ in range(4))
        nt = k._tokenize_chunk(cps, 0, len(w), lex.flags, lex.ex_keys, lex.ex_bloom,
                               lex.ex_off, lex.ex_lens, lex.ex_maxlen, lex.unit_keys,
                               lex.unit_maxlen, ts, te, 0, sufs, sufe)
        assert split_words([w])[0] == [w[a:b] for a, b in zip(ts[:nt], te[:nt], strict=True)]


@pytest.mark.parametrize("text", [
    # two bigrams tie at count 2: "c d" was seen first, "aa bb" reached 2 first
    "c d aa bb aa bb c d",
    "x y z x y z y z x y",
    "a b c d e a b c d e a b c d e f",
    # equal when joined without spaces, different words (datatrove joins with "")
    "ab c d e f g a bc d e f g ab c d e f g",
])
def test_top_and_duplicate_ngrams_match_datatrove_definitions(text):
    _check([text, text + " " + text, (text + "\n") * 3])


@pytest.mark.parametrize("line", [
    "We use cookies on this site, see below.", "JavaScript must be enabled here.",
    "LOREM IPSUM dolor sit amet.", "a {b} c d.", "Our privacy POLICY changed today.",
    "terms of usE apply to all.", "\u212aelvin site Uses Cookies now.",
    "use of cookie is fine here.", "lorem ipsu dolor sit amet.", "lo lorem ipsum x.",
    "see the cookie policy", "see the cookie policy.", "Use Cookies.", "x use cookies y.",
    "privacy polic.", "{ javascript } lorem ipsum here.",
])
def test_c4_phrases_match_naive(line):
    _check([line, line + "\n" + line.upper(), "ok fine words here.\n" + line])


def test_every_special_case_is_found():
    # the bit set in front of the special-case table must never rule one out
    from mixforge.curate import _textstats_data as data

    cases = [s for s in data.EXCEPTIONS if not any(c.isspace() for c in s)]
    got = split_words(cases)
    for s, words in zip(cases, got, strict=True):
        assert [len(w) for w in words] == list(data.EXCEPTIONS[s]), s
