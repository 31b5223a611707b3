"""Our filter stage vs datatrove's filters: same documents, one process, one core.

    PYTHONPATH=$PWD python -m bench.filters --corpus CORPUS [--json OUT] [--agreement]

Documents: any corpus `mixforge ingest` reads (default: the real local corpus, 20 MB).
datatrove runs its FineWeb order of filters (GopherRepetition -> GopherQuality ->
C4Quality -> FineWebQuality) as a chained pipeline of `run` generators, each filter
seeing only what the previous kept, with its English word tokenizer (spaCy blank "en",
offline). mixforge runs `filter_table` on Arrow batches of 4,096: every statistic of every
document in one Numba pass, then all rule groups as polars expressions (language ID off,
as datatrove's needs a downloaded fastText model; timed separately, py3langid on the
first 4,000 characters). Both sides single-process; compile and model load happen before
the clock starts; the rows run interleaved over --repeats rounds (median, range).
--agreement also runs each datatrove filter alone on every document and prints the
keep/drop agreement per filter.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import polars as pl
import pyarrow as pa

from bench._common import interleaved, parser, prepare_run, ratio, read_stage, spread, write


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--agreement", action="store_true")
    args = ap.parse_args()
    repeats = 1 if args.quick else args.repeats

    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.filters.base_filter import get_filter_result
    from datatrove.utils.text import split_into_words

    from mixforge.curate.filter_stage import filter_table
    from mixforge.curate.filters import FilterConfig, drop_reasons
    from mixforge.curate.langid import LanguageIdentifier
    from mixforge.curate.textstats import compute_stats

    with tempfile.TemporaryDirectory() as tmp:
        src = read_stage(prepare_run(args, Path(tmp)))
    table = pa.table({"id": src["id"], "text": src["text"].cast(pa.large_string()),
                      "domain": src["domain"], "source": src["source"]})
    texts = table["text"].to_pylist()
    n = len(texts)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{n:,} documents, {mb:.1f} MB")

    cfg = FilterConfig()
    cfg.language.enabled = False
    filter_table(table.slice(0, 50), cfg)  # compile (or load the cached kernels)
    split_into_words("warm up spaCy's tokenizer.")
    lid = LanguageIdentifier()
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    kept = {}

    def datatrove() -> None:
        data = iter(copy.deepcopy(docs))
        for f in (GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(),
                  FineWebQualityFilter()):
            data = f.run(data)
        kept["dt"] = sum(1 for _ in data)

    def ours() -> None:
        kept["ours"] = sum(filter_table(table.slice(s, 4096), cfg).kept.num_rows
                           for s in range(0, n, 4096))

    t = interleaved({"dt": datatrove, "ours": ours,
                     "stats": lambda: compute_stats(table["text"]),
                     "lid": lambda: lid.classify_column(table["text"])}, repeats)
    rows = [
        {"step": "datatrove, 4 filters chained", "seconds": spread(t["dt"]),
         "docs/s": spread(t["dt"], n, invert=True), "MB/s": spread(t["dt"], mb, invert=True),
         "kept": f"{kept['dt']:,}", "vs datatrove": "1x"},
        {"step": "mixforge `filter_table`, 4 groups, no language ID",
         "seconds": spread(t["ours"]), "docs/s": spread(t["ours"], n, invert=True),
         "MB/s": spread(t["ours"], mb, invert=True), "kept": f"{kept['ours']:,}",
         "vs datatrove": ratio(t["dt"], t["ours"])},
        {"step": "of which the statistics kernel (timed alone)", "seconds": spread(t["stats"]),
         "docs/s": spread(t["stats"], n, invert=True),
         "MB/s": spread(t["stats"], mb, invert=True), "kept": "", "vs datatrove": ""},
        {"step": "mixforge language ID (py3langid, first 4,000 chars)",
         "seconds": spread(t["lid"]), "docs/s": spread(t["lid"], n, invert=True),
         "MB/s": spread(t["lid"], mb, invert=True), "kept": "",
         "vs datatrove": "(no offline peer)"},
    ]
    notes = (f"{n:,} documents, {mb:.1f} MB; {repeats} interleaved round(s), median (range); "
             "ratio = per-round datatrove / mixforge.")

    if args.agreement:
        stats = pl.from_arrow(compute_stats(table["text"]))
        groups = {"gopher_quality": GopherQualityFilter(),
                  "gopher_repetition": GopherRepetitionFilter(),
                  "c4": C4QualityFilter(), "fineweb": FineWebQualityFilter()}
        for group, flt in groups.items():
            ours_keep = [r is None for r in
                         drop_reasons(stats, FilterConfig(), (group,)).to_list()]
            ref = []
            for d in copy.deepcopy(docs):
                try:
                    ref.append(bool(get_filter_result(flt.filter(d))[0]))
                except ZeroDivisionError:
                    ref.append(True)
            agree = sum(a == b for a, b in zip(ours_keep, ref, strict=True)) / len(ref)
            notes += (f" Agreement {group}: {agree:.4f} (dropped: ours "
                      f"{ours_keep.count(False):,}, datatrove {ref.count(False):,}).")
    write(args, "filters", rows, notes)


if __name__ == "__main__":
    main()
