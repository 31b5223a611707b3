"""Fuzzy dedup recall on scripts written without spaces (Chinese, Japanese, Thai) vs English.

Real text of each script from pinned packages (`mixforge.curate.dedup_quality.script_sample`:
licence texts of licensedcode-data, spaCy's Chinese examples and Thai word list), cut
into documents of 100 tokens with planted variants (1, 2, 3, 5 and 8 tokens replaced). Truth:
the exact Jaccard of 5-token shingle sets over all pairs, computed here in plain Python
(tokens: words, and each Han/Kana/Thai/... character on its own), so it does not depend
on the library version under test. Recall: the share of pairs at threshold + 0.05 or
more that dedup resolved (at most one of the two kept). The figures go in docs/dedup.md.

    PYTHONPATH=$PWD python bench/dedup_scripts.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import polars as pl
import pyarrow as pa

from mixforge.curate.dedup import FuzzyConfig, dedup
from mixforge.curate.dedup_quality import script_sample
from mixforge.curate.normalize import NormConfig, normalize
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest

UNSPACED = [(0x0E00, 0x0FFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x19E0, 0x19FF),
            (0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B),
            (0x3040, 0x30FF), (0x3100, 0x312F), (0x31A0, 0x31BF), (0x31F0, 0x31FF),
            (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F),
            (0xF900, 0xFAFF), (0xFF66, 0xFF9F), (0x20000, 0x3FFFF)]


def tokens(text: str) -> list[str]:
    out, cur = [], []
    for c in text:
        split = any(lo <= ord(c) <= hi for lo, hi in UNSPACED)
        if c in " \t\n\v\f\r" or split:
            if cur:
                out.append("".join(cur))
                cur = []
            if split:
                out.append(c)
        else:
            cur.append(c)
    return out + (["".join(cur)] if cur else [])


def shingle_set(text: str, n: int = 5) -> set[tuple[str, ...]]:
    t = tokens(text)
    return {tuple(t[i:i + n]) for i in range(len(t) - n + 1)} if len(t) >= n else {tuple(t)}


def measure(lang: str, threshold: float, tmp: Path) -> dict:
    docs = script_sample(lang, doc_tokens=100, variants=(1, 2, 3, 5, 8))
    src = tmp / lang / "in"
    src.mkdir(parents=True)
    (src / "docs.jsonl").write_text("".join(json.dumps({"text": d}, ensure_ascii=False) + "\n"
                                            for d in docs))
    run = tmp / lang / "run"
    ingest(IngestConfig(inputs=[str(src)]), run, LocalExecutor(1))
    rep = dedup(FuzzyConfig(input_stage="ingest", threshold=threshold), run, LocalExecutor(1))
    cl = pl.read_parquet(run / "dedup_fuzzy" / "_clusters" / "clusters.parquet")
    removed = set(cl.filter(~pl.col("kept"))["idx"].to_list())
    norm = normalize(pa.array(docs), NormConfig()).to_pylist()
    sets = [shingle_set(t) for t in norm]
    strong = found = at_t = found_t = 0
    for i in range(len(docs)):
        for j in range(i + 1, len(docs)):
            jac = len(sets[i] & sets[j]) / len(sets[i] | sets[j])
            resolved = i in removed or j in removed
            if jac >= threshold:
                at_t += 1
                found_t += resolved
            if jac >= threshold + 0.05:
                strong += 1
                found += resolved
    return {"lang": lang, "docs": len(docs), "pairs_ge_t+0.05": strong,
            "recall_ge_t+0.05": round(found / strong, 4) if strong else None,
            "pairs_ge_t": at_t, "recall_ge_t": round(found_t / at_t, 4) if at_t else None,
            "duplicates": rep.stats["duplicates"]}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for lang in ("en", "zh", "ja", "th"):
            print(json.dumps(measure(lang, 0.8, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
