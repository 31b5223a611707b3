"""Near-duplicates in scripts written without spaces (Chinese, Japanese, Thai) are found
at the recall of English: real text from pinned packages (a content check fails loudly
when a source differs), planted variants, truth by brute-force Jaccard of the naive
twin's shingles (each character of those scripts a token)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mixforge.curate.dedup import FuzzyConfig, dedup
from mixforge.curate.dedup_quality import script_sample
from mixforge.executor import LocalExecutor

from . import naive_curate as N
from .test_dedup_stage import docs, write_stage

THRESHOLD = 0.8


def _recall(tmp_path, lang: str) -> tuple[float, int]:
    texts = script_sample(lang)
    write_stage(tmp_path, "ingest", [docs(texts)])
    dedup(FuzzyConfig(input_stage="ingest", threshold=THRESHOLD), tmp_path, LocalExecutor(1))
    kept = set(pa.concat_tables([pq.read_table(f) for f in sorted(
        (tmp_path / "dedup_fuzzy").glob("*.parquet"))])["text"].to_pylist())
    sets = [set(N.shingles(N.normalize(t), 5)) for t in texts]
    strong = [(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts))
              if N.jaccard(sets[i], sets[j]) >= THRESHOLD + 0.05]
    resolved = [not (texts[i] in kept and texts[j] in kept) for i, j in strong]
    return sum(resolved) / len(strong), len(strong)


@pytest.mark.parametrize("lang", ["zh", "ja", "th", "en"])
def test_recall_per_script(tmp_path, lang):
    recall, pairs = _recall(tmp_path, lang)
    assert pairs >= 15  # the planted variants are there (fixed by the pinned sources)
    assert recall >= 0.95


def test_character_tokens_only_for_unspaced_scripts():
    """A CJK or Thai character is a token of its own; Latin, Cyrillic and Hangul words
    stay whole, so signatures of space-separated text are unchanged."""
    assert N.words("日本語です") == [c.encode() for c in "日本語です"]
    assert N.words("abc日本 def") == [b"abc", "日".encode(), "本".encode(), b"def"]
    assert N.words("ภาษาไทย") == [c.encode() for c in "ภาษาไทย"]
    assert N.words("한국어 단어 Привет") == ["한국어".encode(), "단어".encode(),
                                          "Привет".encode()]
