"""Our filter stage vs datatrove's filters: same documents, one process run, one core.

    PYTHONPATH=$PWD python bench/filters.py --max-mb 6 [--agreement]

Documents: the real local corpus (`mixforge corpus`, all seven domains), built into a
temp folder (or --corpus DIR). datatrove 0.10.1 runs its FineWeb order of filters
(GopherRepetition -> GopherQuality -> C4Quality -> FineWebQuality) as a chained pipeline
of `run` generators, each filter seeing only what the previous kept, with its English
word tokenizer (spaCy blank "en", offline). mixforge runs `filter_table` on Arrow
batches of 4,096: every statistic of every document in one Numba pass, then all rule
groups as polars expressions (language ID off, as datatrove's needs a downloaded
fastText model; timed separately). Both sides are single-process; compile and model
load happen before the clock starts. --agreement also runs each datatrove filter alone
on every document and prints the keep/drop agreement per filter.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import orjson
import polars as pl
import pyarrow as pa
import zstandard


def load_corpus(folder: Path) -> list[str]:
    texts = []
    for f in sorted(folder.glob("*.jsonl.zst")):
        with open(f, "rb") as fh:
            raw = zstandard.ZstdDecompressor().stream_reader(fh).read()
        texts.extend(orjson.loads(line)["text"] for line in raw.splitlines())
    return texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-mb", type=float, default=6.0)
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--agreement", action="store_true")
    args = ap.parse_args()

    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.filters.base_filter import get_filter_result
    from datatrove.utils.text import split_into_words

    from mixforge.corpus import build_corpus
    from mixforge.curate.filter_stage import filter_table
    from mixforge.curate.filters import FilterConfig, drop_reasons
    from mixforge.curate.langid import LanguageIdentifier
    from mixforge.curate.textstats import compute_stats

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.corpus or Path(tmp)
        if args.corpus is None:
            build_corpus(folder, max_mb=args.max_mb)
        texts = load_corpus(folder)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts):,} documents, {mb:.1f} MB (real local corpus, seven domains)")

    table = pa.table({"id": [str(i) for i in range(len(texts))],
                      "text": pa.array(texts, pa.large_string()),
                      "domain": ["d"] * len(texts), "source": ["s"] * len(texts)})
    cfg = FilterConfig()
    cfg.language.enabled = False
    filter_table(table.slice(0, 50), cfg)  # compile (or load the cached kernels)
    split_into_words("warm up spaCy's tokenizer.")
    LanguageIdentifier()

    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    dt_filters = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(),
                  FineWebQualityFilter()]
    t0 = time.perf_counter()
    data = iter(copy.deepcopy(docs))
    for f in dt_filters:
        data = f.run(data)
    dt_kept = sum(1 for _ in data)
    t_dt = time.perf_counter() - t0

    t0 = time.perf_counter()
    ours_kept = 0
    for start in range(0, table.num_rows, 4096):
        ours_kept += filter_table(table.slice(start, 4096), cfg).kept.num_rows
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    compute_stats(table["text"])
    t_stats = time.perf_counter() - t0

    lid = LanguageIdentifier()
    t0 = time.perf_counter()
    lid.classify_column(table["text"])
    t_lid = time.perf_counter() - t0

    rate = len(texts)
    print(f"datatrove 4 filters (chained)   {t_dt:8.2f} s  {rate / t_dt:9.0f} docs/s  "
          f"kept {dt_kept:,}")
    print(f"mixforge filter_table (no LID)  {t_ours:8.2f} s  {rate / t_ours:9.0f} docs/s  "
          f"kept {ours_kept:,}   ratio {t_dt / t_ours:.1f}x")
    print(f"  of which the statistics kernel {t_stats:7.2f} s  {mb / t_stats:9.1f} MB/s")
    print(f"mixforge language ID (py3langid) {t_lid:7.2f} s  {rate / t_lid:9.0f} docs/s")

    if args.agreement:
        stats = pl.from_arrow(compute_stats(table["text"]))
        groups = {"gopher_quality": GopherQualityFilter(),
                  "gopher_repetition": GopherRepetitionFilter(),
                  "c4": C4QualityFilter(), "fineweb": FineWebQualityFilter()}
        for group, flt in groups.items():
            ours = [r is None for r in drop_reasons(stats, FilterConfig(), (group,)).to_list()]
            ref = []
            for d in copy.deepcopy(docs):
                try:
                    ref.append(bool(get_filter_result(flt.filter(d))[0]))
                except ZeroDivisionError:
                    ref.append(True)
            agree = sum(a == b for a, b in zip(ours, ref, strict=True)) / len(ref)
            print(f"agreement {group:18s} {agree:.4f}  (dropped: ours {ours.count(False):,}, "
                  f"datatrove {ref.count(False):,})")


if __name__ == "__main__":
    main()
