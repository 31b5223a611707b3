"""The dedup cases users hit (tests/cases/hunt-1, newcomer-1) and their kinds: ids that
repeat or collide across runs never change what dedup removes; a removed document always
has a kept near-duplicate at or above the threshold."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from mixforge.cli import main
from mixforge.curate.dedup import ExactConfig, FuzzyConfig, dedup
from mixforge.executor import LocalExecutor

from . import naive_curate as N
from .test_dedup_stage import docs, read_stage, rejects, write_stage

ONE = LocalExecutor(1)
CASES = Path(__file__).resolve().parents[1] / "cases"


def _mixforge(*args: str) -> str:
    res = CliRunner().invoke(main, [*args, "--workers", "1"])
    assert res.exit_code == 0, res.output
    return res.output


def _texts(run: Path, stage: str) -> list[str]:
    return sorted(read_stage(run, stage)["text"].to_pylist())


def _summary(run: Path, stage: str) -> dict:
    return json.loads((run / stage / "_dedup.json").read_text())


@pytest.mark.parametrize("kind", ["exact", "fuzzy"])
def test_case_repeated_user_ids_remove_only_duplicates(tmp_path, kind):
    """hunt-1/r_ids: user ids repeat across files; x:1 and y:2 share a text."""
    run = tmp_path / "ids"
    _mixforge("ingest", str(CASES / "hunt-1" / "r_ids"), "-r", str(run), "--id-field", "id")
    out = _mixforge("dedup", kind, "-r", str(run), "--input-stage", "ingest",
                    "--threshold", "0.8") if kind == "fuzzy" else _mixforge(
        "dedup", kind, "-r", str(run))
    stage = f"dedup_{kind}"
    s = _summary(run, stage)
    assert (s["docs_in"], s["kept"], s["duplicates"], s["rejected"]) == (4, 3, 1, 1)
    assert "3 of 4 documents kept" in out
    texts = [json.loads(line)["text"] for f in sorted((CASES / "hunt-1" / "r_ids").glob("*"))
             for line in f.read_text().splitlines()]
    assert _texts(run, stage) == sorted(set(texts))
    assert rejects(run, stage)["text"].to_list() == [texts[0]]


def _repeated_id_docs(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(400)]
    base = [" ".join(rng.choice(vocab) for _ in range(40)) for _ in range(n // 2)]
    texts = [rng.choice(base) if rng.random() < 0.4 else
             " ".join(rng.choice(vocab) for _ in range(40)) for _ in range(n)]
    ids = [str(rng.randint(0, 5)) for _ in range(n)]  # ids repeat everywhere
    return texts, ids


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_any_ids_exact_dedup_keeps_one_of_each_text(tmp_path, seed, caplog):
    texts, ids = _repeated_id_docs(60, seed)
    t = docs(texts).set_column(0, "id", pa.array(ids))
    write_stage(tmp_path, "ingest", [t.slice(0, 25), t.slice(25)])
    with caplog.at_level("WARNING", logger="mixforge.curate.dedup"):
        r = dedup(ExactConfig(), tmp_path, ONE)
    assert "share their id with an earlier one" in caplog.text
    assert "shard-00000 row" in caplog.text
    assert _texts(tmp_path, "dedup_exact") == sorted(set(texts))
    assert r.stats["docs_in"] - r.stats["kept"] == r.stats["duplicates"] == r.stats["rejected"]
    assert r.stats["duplicate_ids"] == 60 - len(set(ids))
    # fuzzy, same texts: the exact copies go, every distinct text stays
    r = dedup(FuzzyConfig(input_stage="ingest", threshold=0.9), tmp_path, ONE)
    assert _texts(tmp_path, "dedup_fuzzy") == sorted(set(texts))


def _snapshot_run(tmp_path: Path, name: str) -> Path:
    run = tmp_path / name
    _mixforge("ingest", str(CASES / "hunt-1" / "r_ref" / f"snap{name}"), "-r", str(run))
    return run


@pytest.mark.parametrize("kind", ["exact", "fuzzy"])
def test_case_reference_snapshot_with_colliding_ids(tmp_path, kind):
    """hunt-1/r_ref: two crawl snapshots with the same layout (so the same default ids),
    each ingested into its own run; B deduplicated against A."""
    a, b = _snapshot_run(tmp_path, "A"), _snapshot_run(tmp_path, "B")
    extra = ["--threshold", "0.8"] if kind == "fuzzy" else []
    _mixforge("dedup", kind, "-r", str(b), "--input-stage", "ingest",
              "--reference", str(a / "ingest"), *extra)
    stage = f"dedup_{kind}"
    a_norm = {N.normalize(t) for t in _texts(a, "ingest")}
    b_texts = _texts(b, "ingest")
    want_kept = sorted(t for t in b_texts if N.normalize(t) not in a_norm)
    if kind == "exact":
        assert _texts(b, stage) == want_kept
    else:  # near-copies of A go too: at least everything exact dedup removes
        assert set(_texts(b, stage)) <= set(want_kept)
    s = _summary(b, stage)
    assert s["docs_in"] == len(b_texts) == s["kept"] + s["rejected"]
    assert s["duplicates"] == s["rejected"] == len(b_texts) - len(_texts(b, stage)) > 0
    # the reference run is untouched
    assert not (a / stage).exists()


def test_reference_documents_never_confused_with_input(tmp_path):
    """Reference and input share every id; only input documents are ever removed, and
    an input document equal to nothing in the reference or the input is kept."""
    ref = tmp_path / "ref.parquet"
    pq.write_table(docs(["alpha beta gamma", "delta epsilon"]), ref)  # ids d000, d001
    write_stage(tmp_path, "ingest", [docs(["delta epsilon", "zeta eta theta",
                                           "Alpha, beta gamma!"])])  # same ids
    r = dedup(ExactConfig(reference=str(ref)), tmp_path, ONE)
    assert read_stage(tmp_path, "dedup_exact")["text"].to_pylist() == ["zeta eta theta"]
    rej = rejects(tmp_path, "dedup_exact")
    assert sorted(rej["text"]) == ["Alpha, beta gamma!", "delta epsilon"]
    assert r.stats["duplicates"] == 2 and r.stats["reference_docs"] == 2


def _chain_texts() -> list[str]:
    path = CASES / "newcomer-1" / "dedup_chain" / "chain.jsonl"
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


def _exact_jaccard(a: str, b: str) -> float:
    return N.jaccard(set(N.shingles(N.normalize(a), 5)), set(N.shingles(N.normalize(b), 5)))


def test_case_chain_every_removed_document_has_a_kept_near_duplicate(tmp_path):
    """newcomer-1/dedup_chain: 8 documents, each its predecessor with a few words
    replaced; union-find alone removed 7, documents 4-7 far from the one kept."""
    texts = _chain_texts()
    run = tmp_path / "chain"
    _mixforge("ingest", str(CASES / "newcomer-1" / "dedup_chain"), "-r", str(run))
    _mixforge("dedup", "fuzzy", "-r", str(run), "--input-stage", "ingest")
    kept = read_stage(run, "dedup_fuzzy")["text"].to_pylist()
    rej = rejects(run, "dedup_fuzzy")
    assert len(kept) + rej.height == len(texts)
    by_id = dict(zip(read_stage(run, "ingest")["id"].to_pylist(),
                     read_stage(run, "ingest")["text"].to_pylist(), strict=True))
    for text, kept_id in zip(rej["text"], rej["dup_kept_id"], strict=True):
        assert by_id[kept_id] in kept
        assert _exact_jaccard(text, by_id[kept_id]) >= 0.8
    # chains are cut: more than one document stays, and no two kept documents are
    # clear near-duplicates (LSH finds a pair at 0.85 with probability 0.975; pairs at
    # exactly the threshold it may miss, then both are kept, never wrongly removed)
    assert 1 < len(kept) < len(texts)
    for i, a in enumerate(kept):
        for b in kept[i + 1:]:
            assert _exact_jaccard(a, b) < 0.85


def test_removed_documents_are_represented_on_real_near_duplicates(near_dup_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(near_dup_run / "ingest", run / "ingest")
    for thr in (0.7, 0.8):
        out = f"f{thr}"
        dedup(FuzzyConfig(input_stage="ingest", output_stage=out, threshold=thr), run, ONE)
        cl = pl.read_parquet(run / out / "_clusters" / "clusters.parquet")
        removed = cl.filter(~pl.col("kept"))
        assert removed.height > 0
        # the representative is kept, and the exact Jaccard to it reaches the threshold
        kept_idx = set(cl.filter("kept")["idx"].to_list())
        assert set(removed["kept_idx"].to_list()) <= kept_idx
        assert removed["kept_jaccard"].min() >= thr
        table = pa.concat_tables(pq.read_table(f) for f in sorted((run / "ingest").glob(
            "*.parquet")))
        texts = table["text"].to_pylist()
        for r, k in zip(removed["idx"].to_list()[:50], removed["kept_idx"].to_list()[:50],
                        strict=True):
            assert _exact_jaccard(texts[r], texts[k]) >= thr
        # no two kept documents are verified near-duplicates of each other
        kept_rows = cl.filter("kept")
        assert kept_rows["kept_idx"].to_list() == kept_rows["idx"].to_list()
        assert np.isfinite(removed["kept_jaccard"].to_numpy()).all()


# punctuation, symbols, emoji and whitespace only: all normalize to nothing
NOTHING = ["!!!", "???", "...", "😀😀", "😀", "🎉🎉🎉", "★ ☆ ★", "-- -- --", "#$%&", "\u3000\u3000",
           " \t\n", "«»", "©®", "+-=", "…", "¡¿", "♥♥", "→", "」「", "🇫🇷"]


def test_documents_that_normalize_to_nothing_never_form_one_cluster(tmp_path):
    rng = random.Random(5)
    texts = NOTHING + [rng.choice(NOTHING) for _ in range(10)] + [
        "real words one two three four five six", "Real words: one two three four five six!"]
    assert all(N.normalize(t) == "" for t in NOTHING)
    write_stage(tmp_path, "ingest", [docs(texts[:15]), docs(texts[15:], prefix="e")])
    r = dedup(ExactConfig(), tmp_path, ONE)
    # exactly the byte-equal copies are removed (and the normalized-equal real pair)
    assert _texts(tmp_path, "dedup_exact") == sorted(set(NOTHING) | {texts[-2]})
    assert r.stats["duplicates"] == 10 + 1
    cl = pl.read_parquet(tmp_path / "dedup_exact" / "_clusters" / "clusters.parquet")
    assert cl.group_by("cluster").len()["len"].max() <= 1 + texts.count(max(
        set(texts), key=texts.count))
    # fuzzy: no shingles, no part in clusters, and counted
    r = dedup(FuzzyConfig(input_stage="ingest", threshold=0.5), tmp_path, ONE)
    assert r.stats["docs_without_shingles"] == 30
    assert r.stats["duplicates"] == 1  # only the real pair
    assert sorted(rejects(tmp_path, "dedup_fuzzy")["text"]) == [texts[-1]]


def test_drop_matches_rows_across_batches(tmp_path):
    """The drop step counts rows over a shard's batches: row 5 is the third row of the
    second batch; another shard's rows and the ids play no part."""
    from mixforge.curate.dedup import DropSpec, _ShardDrop

    path = tmp_path / "removed.parquet"
    pq.write_table(pa.table({"shard": ["s", "s", "t"], "row": [5, 1, 0], "id": ["x"] * 3,
                             "dup_cluster": [0, 0, 0], "dup_kept_id": ["k", "k", "k"],
                             "dup_jaccard": [0.9, 0.9, 0.9]}), path)
    spec, drop = DropSpec(str(path), "key"), _ShardDrop("s")
    t = docs([f"doc {i}" for i in range(7)]).set_column(0, "id", pa.array(["x"] * 7))
    first, second = drop(t.slice(0, 3), spec), drop(t.slice(3), spec)
    assert first.rejected["text"].to_pylist() == ["doc 1"]
    assert second.rejected["text"].to_pylist() == ["doc 5"]
    assert first.kept.num_rows + second.kept.num_rows == 5
    assert second.rejected["dup_kept_id"].to_pylist() == ["k"]
