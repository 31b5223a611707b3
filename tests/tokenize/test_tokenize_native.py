"""The native engine: its split matchers against the regex they implement, and its ids
against `tokenizers` (and tiktoken) on random text of every script."""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import pyarrow as pa
import pytest
import regex
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from mixforge.tokenize.fast import build_encoder
from mixforge.tokenize.loading import from_tiktoken_file, load_tokenizer
from mixforge.tokenize.native import PATTERNS, NativeBPE

from .conftest import CL100K_CACHE_NAME, PLANTED, real_file

# Characters the matchers must classify as the regex engines do: every class boundary
# (letters of many scripts, marks, numbers that are not digits, the White_Space set and
# the separators Python's isspace() adds, apostrophes and the contraction letters in both
# cases, U+017F which case-folds to s), emoji with ZWJ and modifiers, private use.
ALPHABET = (
    "aAbBsStTdDmMlLvVeErRzZ0123456789'''ſK"  # contractions, incl. case-folded forms
    " \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000"
    "\x1c\x1d\x1e\x1f\u200b\u180e\ufeff\x00"  # separators Python calls space, ZWSP, ...
    ".,;:!?-_()[]{}<>/\\|@#$%^&*+=~`\"«»„“”—…·"
    "éèçñøåßÆŒœÿ\u0301\u0308\u0327"  # Latin + combining marks
    "привет Ёё ελληνικά ΣΩ עברית العربية ٣٤ हिन्दी् ক ক্ষ தமிழ் ไทย ᄀ한국어 ქართული"
    "日本語のテキスト中文简体繁體，。、「」ｶﾀｶﾅＦＵＬＬ０１"
    "½²³₂ⅧⅫ①㍿〇一二三"  # numbers that are not decimal digits, CJK numerals
    "😀👍🏽👨‍👩‍👧🇫🇷❤️\u200d\ufe0f\U000e0067\U0001f3f4"  # emoji, ZWJ, VS16, tags
    "\ue000\U000f0000"  # private use
)


def random_texts(n: int, seed: int, max_len: int = 40) -> list[str]:
    rng = random.Random(seed)
    chars = list(ALPHABET)
    out = []
    for _ in range(n):
        k = rng.randint(0, max_len)
        if rng.random() < 0.3:  # runs of one class: long words, whitespace, digits
            c = rng.choice(chars)
            out.append(c * k + "".join(rng.choice(chars) for _ in range(3)))
        else:
            out.append("".join(rng.choice(chars) for _ in range(k)))
    return out


def assigned(text: str) -> bool:
    return all(unicodedata.category(c) != "Cn" for c in text)


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_matchers_split_as_the_regex_does(pattern, sample_texts):
    # the naive twin of the matchers: the `regex` module running the pattern itself
    # (texts with code points unassigned in Python's tables are the fallback's job)
    nb = NativeBPE(pattern, {bytes([b]): b for b in range(256)})
    texts = [t for t in [*random_texts(3000, 1), *PLANTED, *sample_texts[:200]] if assigned(t)]
    for t in texts:
        assert nb.split(t) == regex.findall(pattern, t), repr(t)


def _trained(pattern: str | None, texts: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    if pattern is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return tok


# tokenizer.json patterns (Oniguruma); tiktoken's own patterns are tested on cl100k below
JSON_PATTERNS = [None, *(p for p in PATTERNS if "$" not in p)]


@pytest.mark.parametrize("pattern", JSON_PATTERNS, ids=lambda p: "ByteLevel" if p is None
                         else p[:24])
def test_native_ids_equal_encode_batch_on_random_multiscript_text(pattern, sample_texts,
                                                                  tmp_path):
    hf = _trained(pattern, [*sample_texts[:300], *random_texts(2000, 2, 80)])
    path = tmp_path / "tok.json"
    hf.save(str(path))
    tok = load_tokenizer(path)
    enc = build_encoder(tok, "native", threads=2)
    texts = [*random_texts(2000, 3), *PLANTED, *sample_texts[:100]]
    ref = Tokenizer.from_str(hf.to_str())
    ref.encode_special_tokens = True
    want = [e.ids for e in ref.encode_batch(texts, add_special_tokens=False)]
    tokens, lens = enc.encode(pa.array(texts))
    offs = np.cumsum(lens) - lens
    for i, t in enumerate(texts):
        assert tokens[offs[i]:offs[i] + lens[i]].tolist() == want[i], repr(t)


def test_native_cl100k_equals_tiktoken_and_tokenizers_twin():
    tok = from_tiktoken_file(real_file(CL100K_CACHE_NAME))
    enc = build_encoder(tok, "native", threads=2)
    tt = build_encoder(tok, "tiktoken", threads=2)
    texts = [*random_texts(1500, 4), *PLANTED, "trailing spaces at the end   ", "x\n\n  "]
    a, b = enc.encode(texts), tt.encode(texts)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    ref = [e.ids for e in tok.hf.encode_batch(texts[:300], add_special_tokens=False)]
    offs = np.cumsum(a[1]) - a[1]
    assert [a[0][o:o + n].tolist() for o, n in zip(offs[:300], a[1][:300], strict=True)] == ref


def test_unassigned_code_points_go_to_the_fallback(trained):
    # U+0378 is unassigned in every Unicode version; U+1FAE9 was assigned after Python
    # 3.11's Unicode 14: the native tables cannot know its class, tiktoken encodes it
    enc = build_encoder(trained, "native", threads=1)
    texts = ["plain text", "odd \u0378 char", "new emoji \U0001fae9 here", "more plain"]
    tokens, lens = enc.encode(texts)
    ref = Tokenizer.from_str(trained.hf.to_str())
    ref.encode_special_tokens = True
    want = [e.ids for e in ref.encode_batch(texts, add_special_tokens=False)]
    offs = np.cumsum(lens) - lens
    assert [tokens[o:o + n].tolist() for o, n in zip(offs, lens, strict=True)] == want


def test_arrow_and_python_inputs_agree_and_threads_do_not_matter(trained, sample_texts):
    one = build_encoder(trained, "native", threads=1)
    three = build_encoder(trained, "native", threads=3)
    col = pa.chunked_array([pa.array(sample_texts[:150], pa.string()),
                            pa.array(sample_texts[150:], pa.string())])
    a, b = one.encode(sample_texts), three.encode(col)
    c = three.encode(pa.array(sample_texts, pa.large_string()).slice(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert np.array_equal(c[1], a[1][5:])


def test_nfkc_tokenizer_with_unassigned_code_points_matches_tokenizers():
    # NFKC text, text NFKC rewrites and text holding code points Python 3.11 cannot
    # classify (those go through tiktoken, normalized by tokenizers' own NFKC)
    tok = load_tokenizer(real_file("anthropic_tokenizer.json"))
    enc = build_encoder(tok, "native", threads=2)
    texts = ["ﬁnance ＦＵＬＬ ①", "new \U0001fae9 emoji ﬁ", "plain", "odd \u0378 ｶﾀｶﾅ",
             *random_texts(300, 5)]
    ref = Tokenizer.from_str(tok.json_text)
    ref.encode_special_tokens = True
    want = [e.ids for e in ref.encode_batch(texts, add_special_tokens=False)]
    tokens, lens = enc.encode(pa.array(texts))
    offs = np.cumsum(lens) - lens
    assert [tokens[o:o + n].tolist() for o, n in zip(offs, lens, strict=True)] == want
