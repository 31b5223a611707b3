"""The target-vs-pool quality classifier on the real local corpus: each domain in turn is
the target; ROC AUC of its held-out documents against every other domain's, and speed.

    PYTHONPATH=$PWD python bench/quality.py [--max-mb 20] [--corpus DIR]

Documents are split in two by a hash of their id: the classifier trains on half of the
target domain (label 1) against half of the whole corpus (label 0, the target's half
included, as a real pool would), and is scored on the other halves. Speed: documents/s and
MB/s of scoring on one core (HashingVectorizer + dot product), after training.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from mixforge.corpus import build_corpus
    from mixforge.curate.quality import QualityConfig, roc_auc, train_quality_classifier
    from mixforge.readers import read_table

    ap = argparse.ArgumentParser()
    ap.add_argument("--max-mb", type=float, default=20)
    ap.add_argument("--corpus", type=Path)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = a.corpus or Path(tmp) / "corpus"
        if a.corpus is None:
            build_corpus(corpus, max_mb=a.max_mb)
        table = read_table(str(corpus))
    half = np.array([hashlib.blake2b(i.encode(), digest_size=4).digest()[0] % 2
                     for i in table["id"].to_pylist()])
    train, held = table.filter(pa.array(half == 0)), table.filter(pa.array(half == 1))
    doms = np.array(held["domain"].to_pylist())
    print(f"corpus: {table.num_rows:,} documents, {len(set(doms))} domains, "
          f"{sum(map(len, table['text'].to_pylist())) / 1e6:.1f} M characters")
    print("| target domain | target docs (train / held-out) | held-out AUC |")
    print("|---|---|---|")
    secs, nbytes, ndocs = 0.0, 0, 0
    for d in sorted(set(doms)):
        target = train.filter(pc.equal(train["domain"], d))["text"]
        clf = train_quality_classifier(target, train["text"], QualityConfig())
        t = time.perf_counter()
        s = clf.score(held["text"])
        secs += time.perf_counter() - t
        nbytes += sum(len(x.encode()) for x in held["text"].to_pylist())
        ndocs += held.num_rows
        print(f"| {d} | {len(target):,} / {int((doms == d).sum()):,} | "
              f"{roc_auc(s[doms == d], s[doms != d]):.4f} |")
    print(f"scoring, one core: {ndocs / secs:,.0f} docs/s, {nbytes / secs / 1e6:.1f} MB/s")


if __name__ == "__main__":
    main()
