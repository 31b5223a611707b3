"""The fast engine gives exactly `tokenizers`' ids, for every source, or steps aside."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from mixforge.errors import ConfigError, InputError
from mixforge.tokenize.fast import PROBES, build_encoder
from mixforge.tokenize.loading import bytes_to_unicode, from_tiktoken_file, load_tokenizer

from .conftest import CL100K_CACHE_NAME, PLANTED, real_file


def hf_ids(tok, texts):
    """`tokenizers`' ids with special-token strings in text kept as text (the default)."""
    ref = Tokenizer.from_str(tok.to_str())
    ref.encode_special_tokens = True
    return [e.ids for e in ref.encode_batch(texts, add_special_tokens=False)]


def split(tokens, lens):
    offs = np.cumsum(lens) - lens
    return [tokens[o:o + n].tolist() for o, n in zip(offs, lens, strict=True)]


def assert_identical(enc, hf, texts):
    tokens, lens = enc.encode(texts)
    got = split(tokens, lens)
    want = hf_ids(hf, texts)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"text {i} {texts[i][:60]!r} differs"


def test_trained_tokenizer_takes_the_fast_path_with_identical_ids(trained, sample_texts):
    enc = build_encoder(trained, sample=sample_texts[:20], threads=2)
    assert enc.engine == "native", enc.reason
    assert_identical(enc, trained.hf, [*sample_texts, *PLANTED, *PROBES])
    tt = build_encoder(trained, "tiktoken", sample=sample_texts[:20], threads=2)
    assert_identical(tt, trained.hf, [*sample_texts, *PLANTED, *PROBES])


def test_conftest_tiny_tokenizer_is_fast_and_identical(tiny_tokenizer, tmp_path, sample_texts):
    path = tmp_path / "tok.json"
    tiny_tokenizer.save(str(path))
    enc = build_encoder(load_tokenizer(path), threads=1)
    assert enc.engine == "native"
    assert_identical(enc, tiny_tokenizer, [*sample_texts[:300], *PLANTED])


def test_round_trip_decode(trained):
    enc = build_encoder(trained)
    texts = [*PLANTED, *PROBES]
    tokens, lens = enc.encode(texts)
    for text, ids in zip(texts, split(tokens, lens), strict=True):
        assert enc.decode(ids) == text


def test_pretrained_nfkc_bpe_65k_is_identical(sample_texts):
    tok = load_tokenizer(real_file("anthropic_tokenizer.json"))
    assert tok.vocab_size == 65000
    # PLANTED holds text NFKC rewrites and a fullwidth <EOT> that only becomes the special
    # token's text after normalization (tokenizers must not match it as the special token)
    for engine in ("auto", "tiktoken"):
        enc = build_encoder(tok, engine, sample=sample_texts[:10], threads=2)
        assert enc.engine == ("native" if engine == "auto" else engine), enc.reason
        assert_identical(enc, tok.hf, [*sample_texts, *PLANTED, *PROBES])


def test_tiktoken_cl100k_matches_its_tokenizers_twin(sample_texts, monkeypatch):
    path = real_file(CL100K_CACHE_NAME)
    tok = from_tiktoken_file(path)  # recognised by its published sha256
    assert tok.meta["encoding"] == "cl100k_base"
    for engine in ("auto", "tiktoken"):
        enc = build_encoder(tok, engine, threads=2)
        assert enc.engine == ("native" if engine == "auto" else engine), enc.reason
        assert_identical(enc, tok.hf, [*sample_texts[:150], *PLANTED, *PROBES])
    # the same encoding by name, through tiktoken's own cache lookup (offline)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(path.parent))
    by_name = load_tokenizer("tiktoken:cl100k_base")
    assert by_name.fingerprint == tok.fingerprint
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(path.parent / "nowhere"))
    with pytest.raises(ConfigError, match="not in the local cache"):
        load_tokenizer("tiktoken:cl100k_base")


def test_unsupported_pretokenizer_falls_back_with_a_reason(sample_texts):
    tok = load_tokenizer(real_file("deepseek_tokenizer.json"))
    enc = build_encoder(tok, sample=sample_texts[:5])
    assert enc.engine == "tokenizers"
    assert "Split" in enc.reason and "fallback" in enc.reason
    assert_identical(enc, tok.hf, sample_texts[:30] + PLANTED)
    with pytest.raises(ConfigError, match="cannot reproduce"):
        build_encoder(tok, "tiktoken")


def test_a_vocabulary_tiktoken_would_get_wrong_is_caught(tmp_path):
    # 'abc' is made by (a, bc), but in 'abc' tokenizers merges (a, b) first and stops at
    # [ab, c]; tiktoken would return the whole piece 'abc'. The load check must see it.
    vocab = {c: i for i, c in enumerate(sorted(bytes_to_unicode().values(), key=ord))}
    n = len(vocab)
    vocab.update({"ab": n, "bc": n + 1, "abc": n + 2})
    tok = Tokenizer(models.BPE(vocab, [("a", "b"), ("b", "c"), ("a", "bc")]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    assert [tok.id_to_token(i) for i in tok.encode("abc").ids] == ["ab", "c"]
    path = tmp_path / "t.json"
    tok.save(str(path))
    enc = build_encoder(load_tokenizer(path))
    assert enc.engine == "tokenizers"
    assert "'abc' does not encode to itself" in enc.reason
    assert split(*enc.encode(["abc"])) == [tok.encode("abc").ids]


def test_non_monotonic_ids_use_an_id_map(trained, sample_texts, tmp_path):
    # renumber the vocabulary (reverse order): ranks and ids differ, results must not
    data = json.loads(trained.json_text)
    vocab = data["model"]["vocab"]
    n = len(vocab)
    data["model"]["vocab"] = {t: n - 1 - i for t, i in vocab.items()}
    for t in data["added_tokens"]:
        t["id"] = n - 1 - t["id"]
    path = tmp_path / "renumbered.json"
    path.write_text(json.dumps(data))
    tok = load_tokenizer(path)
    enc = build_encoder(tok, sample=sample_texts[:5])
    assert enc.engine == "native" and "id map" in enc.reason
    assert_identical(enc, tok.hf, sample_texts[:100] + PLANTED)


def test_lone_surrogates_are_refused_like_tokenizers(trained):
    bad = ["fine", "broken \ud800 text"]
    with pytest.raises(TypeError):
        trained.hf.encode_batch(bad, add_special_tokens=False)
    for engine in ("native", "tiktoken", "tokenizers"):
        enc = build_encoder(trained, engine)
        with pytest.raises(InputError, match="lone_surrogate") as err:
            enc.encode(bad)
        assert err.value.where == 1


def test_encoder_pickles_into_a_worker(trained, sample_texts):
    enc = build_encoder(trained, threads=1)
    clone = pickle.loads(pickle.dumps(enc))
    assert clone.engine == enc.engine
    a, b = enc.encode(sample_texts[:50]), clone.encode(sample_texts[:50])
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_threads_do_not_change_the_ids(trained, sample_texts):
    one = build_encoder(trained, threads=1).encode(sample_texts)
    four = build_encoder(trained, threads=4).encode(sample_texts)
    assert np.array_equal(one[0], four[0]) and np.array_equal(one[1], four[1])
