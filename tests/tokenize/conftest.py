"""Fixtures of the tokenize tests: real pretrained tokenizers (when present) and a tokenizer
trained in-process with our own trainer (always)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mixforge.tokenize.loading import load_tokenizer
from mixforge.tokenize.train import TokenizerTrainConfig, train_on_texts
from tests.requires import require

# Real tokenizers ship inside the litellm wheel; scripts/get-tokenizers.sh extracts them here
# (pinned version, sha256-checked). Under `make test` a missing file fails the test
# (tests/requires.py).
FILES = Path(os.environ.get("MIXFORGE_TOKENIZER_FILES",
                            Path.home() / ".cache" / "mixforge" / "tokenizers"))
CL100K_CACHE_NAME = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"  # sha1 of tiktoken's URL


def real_file(name: str) -> Path:
    path = FILES / name
    if not path.exists():
        msg = (f"{path} is absent: run scripts/get-tokenizers.sh (extracts the tokenizer "
               "files shipped in the litellm wheel) or set MIXFORGE_TOKENIZER_FILES")
        require(False, msg)
    return path


@pytest.fixture(scope="session")
def trained_json(tmp_path_factory, ingested_table) -> Path:
    """A 2,048-token byte-level BPE trained by mixforge.tokenize.train on the corpus."""
    texts = ingested_table["text"].to_pylist()
    tok = train_on_texts([texts[i:i + 512] for i in range(0, len(texts), 512)],
                         TokenizerTrainConfig(vocab_size=2048))
    out = tmp_path_factory.mktemp("trained") / "tokenizer.json"
    tok.save(str(out))
    return out


@pytest.fixture(scope="session")
def trained(trained_json):
    return load_tokenizer(trained_json)


@pytest.fixture(scope="session")
def sample_texts(ingested_table) -> list[str]:
    """About 400 KB of real documents, every domain."""
    out, size = [], 0
    by_domain: dict[str, int] = {}
    for row in ingested_table.select(["text", "domain"]).to_pylist():
        if by_domain.get(row["domain"], 0) > 60_000:
            continue
        by_domain[row["domain"]] = by_domain.get(row["domain"], 0) + len(row["text"])
        out.append(row["text"])
        size += len(row["text"])
    return out


PLANTED = [
    "Ünïcödé façade naïve — “quotes” ‘single’ «guillemets» „low“",
    "中文：今天天气很好。日本語：東京は晴れです。한국어: 서울은 맑아요.",
    "😀😃😄😁 👩🏽‍💻 🏳️‍🌈 🇯🇵🇰🇷 1️⃣ ©® ™ ✓✗",
    "ﬁnance ﬂow ＦＵＬＬＷＩＤＴＨ ｶﾀｶﾅ ① ㍿ x² H₂O",  # NFKC changes all of these
    "def 函数(x):\n\t'''doc'''\n\treturn {'键': x, \"v\": [1, 2, 3]}  # 注释\n",
    "if (a && b || !c) { return x->y[0] << 2; } // C++\n#include <stdio.h>\r\n",
    "<|endoftext|> in the middle <|endoftext|><|endoftext|>",
    "<EOT> text ＜EOT＞ fullwidth <META>",
    "\x00\x1f<mixforge-document-end>\x1f\x00 the separator itself",
    "   \n\n\n   \t\t  trailing   ",
    "12345678901234567890 3.14 -7e10 0xdeadBEEF",
]
