"""Targets from data: an evaluation-only store tokenized like the run, scored by every
probe, never trained on, and a proposal for it that moves toward the domain it copies."""

from __future__ import annotations

import json
import os

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from mixforge.errors import ConfigError
from mixforge.mixers.propose import propose_mix
from mixforge.mixers.strategies import store_tokens
from mixforge.tokenize.store import TokenStore
from mixforge.tokenize.targets import build_target_store
from mixforge.train_probe.model import ProbeConfig
from mixforge.train_probe.sweep import SweepConfig, data_targets, parse_targets, run_sweep

DOMAIN = "python_code"


def heldout_texts(ingested_table, store, heldout, domain=DOMAIN) -> list[str]:
    ids = store.domain(domain).docs["id"].to_pylist()
    want = {ids[int(i)] for i in heldout.docs[domain]}
    t = ingested_table.filter(pc.is_in(ingested_table["id"], value_set=pa.array(sorted(want))))
    assert len(t) == len(want)
    return t["text"].to_pylist()


def write_jsonl(path, texts, bad_lines=0):
    with open(path, "w") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
        for _ in range(bad_lines):
            f.write('{"text": broken\n')
    return path


def test_target_store_is_tokenized_like_the_run(store, heldout, ingested_table, tmp_path,
                                                tiny_tokenizer):
    texts = heldout_texts(ingested_table, store, heldout)
    src = write_jsonl(tmp_path / "eval.jsonl", texts, bad_lines=2)
    ts = build_target_store("code_eval", str(src), store, tmp_path / "targets" / "code_eval")
    assert ts.domains == ["code_eval"] and ts.meta["evaluation_only"] is True
    assert ts.meta["docs_in"] == len(texts) + 2 and ts.meta["rejected"] == 2
    assert (ts.path / "rejects.parquet").exists()
    dom = ts.domain("code_eval")
    eos = store.meta["eos_id"]
    for i, text in enumerate(texts):
        assert dom.doc(i).tolist() == [*tiny_tokenizer.encode(text).ids, eos]
    np.testing.assert_array_equal(ts.token_bytes, store.token_bytes)
    # unchanged source: reused; changed source: rebuilt
    mtime = (ts.path / "store.json").stat().st_mtime_ns
    again = build_target_store("code_eval", str(src), store, ts.path)
    assert (again.path / "store.json").stat().st_mtime_ns == mtime
    write_jsonl(src, texts[:3])
    os.utime(src, ns=(1, 1))
    assert build_target_store("code_eval", str(src), store, ts.path).info(
        "code_eval")["docs"] == 3
    # a text folder works too; a domain's name or an empty source does not
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text(texts[0])
    assert build_target_store("t", str(tmp_path / "txt"), store, tmp_path / "t").info(
        "t")["docs"] == 1
    with pytest.raises(ConfigError, match="name of a domain"):
        build_target_store(DOMAIN, str(src), store, tmp_path / "x")
    empty = write_jsonl(tmp_path / "empty.jsonl", [], bad_lines=1)
    with pytest.raises(ConfigError, match="no document"):
        build_target_store("e", str(empty), store, tmp_path / "e")


def test_specs_split_into_domain_sets_and_data():
    specs = ["code=python_code,python_docs:2", "mine=data/eval.jsonl", "hub=hf:org/set"]
    assert parse_targets(specs) == {"code": {"python_code": 1.0, "python_docs": 2.0}}
    assert data_targets(specs) == {"mine": "data/eval.jsonl", "hub": "hf:org/set"}


def sweep_cfg(token_store, out, steps=10, **kw) -> SweepConfig:
    cfg = SweepConfig(store=str(token_store), out=str(out), k=8, **kw)
    cfg.probe = ProbeConfig(depth=1, aspect=16, head_dim=16, seq_len=32)
    cfg.train.tokens, cfg.train.batch_size = steps * 4 * 32, 4
    cfg.train.evals, cfg.train.eval_tokens, cfg.train.device = 1, 2048, "cpu"
    return cfg


def test_data_target_is_scored_and_never_trained_on(token_store, store, heldout,
                                                    ingested_table, tmp_path):
    """Adding a data target changes no training step (same losses, same held-out
    figures), leaves the token store alone and adds its bpb to every probe."""
    texts = heldout_texts(ingested_table, store, heldout)
    src = write_jsonl(tmp_path / "eval.jsonl", texts)
    before = (store.path / "store.json").read_bytes()
    plain = run_sweep(sweep_cfg(token_store, tmp_path / "a", n_probes=2), tmp_path / "ra")
    tgt = run_sweep(sweep_cfg(token_store, tmp_path / "b", n_probes=2,
                              targets=[f"code_eval={src}"]), tmp_path / "rb")
    assert (store.path / "store.json").read_bytes() == before
    assert TokenStore(tmp_path / "rb" / "targets" / "code_eval").meta["evaluation_only"]
    for a, b in zip(plain.results.iter_rows(named=True), tgt.results.iter_rows(named=True),
                    strict=True):
        assert a["bpb:avg"] == b["bpb:avg"] and a[f"bpb:{DOMAIN}"] == b[f"bpb:{DOMAIN}"]
        assert 0 < b["bpb:code_eval"] < 10 and b["bpb_se:code_eval"] > 0
        assert b["bpb_bytes"] == "byte-level"
    curves = [json.loads(x)
              for x in (tmp_path / "a" / "curves.jsonl").read_text().splitlines()]
    curves_t = [json.loads(x)
                for x in (tmp_path / "b" / "curves.jsonl").read_text().splitlines()]
    assert [c["train_loss"] for c in curves] == [c["train_loss"] for c in curves_t]
    # the target's held-out copy scores like the domain's held-out set (same documents)
    row = tgt.results.row(0, named=True)
    assert row["bpb:code_eval"] == pytest.approx(row[f"bpb:{DOMAIN}"], rel=0.15)
    # a changed evaluation set is tokenized again and its probes are scored again
    cfg = sweep_cfg(token_store, tmp_path / "b", n_probes=2, targets=[f"code_eval={src}"])
    assert run_sweep(cfg, tmp_path / "rb").ran == []
    write_jsonl(src, texts[:2])
    os.utime(src, ns=(1, 1))
    assert len(run_sweep(cfg, tmp_path / "rb").ran) == 2
    assert TokenStore(tmp_path / "rb" / "targets" / "code_eval").info("code_eval")["docs"] == 2


def test_target_copying_a_domain_pulls_the_proposal_toward_it(token_store, store, heldout,
                                                              ingested_table, tmp_path):
    """Planted: the target is (the held-out documents of) one domain, so the best mix for
    it leans on that domain. The proposal for the target gives the domain more weight
    than the proposal for the mean over domains, than natural and than uniform."""
    src = write_jsonl(tmp_path / "eval.jsonl", heldout_texts(ingested_table, store, heldout))
    cfg = sweep_cfg(token_store, tmp_path / "p", steps=60, n_probes=16,
                    targets=[f"code_eval={src}"], strategy="dirichlet", prior="uniform")
    res = run_sweep(cfg, tmp_path / "r").results
    tokens = store_tokens(store)
    budget = 2 * sum(tokens.values())
    # one regressor for both (CV's choice between near-equal fits on 16 tiny probes can
    # differ between the objectives; the pull of the target is what is tested here)
    for_target, fit = propose_mix(res, tokens, budget, epoch_cap=100, target="code_eval",
                                  regressor="mixing_law")
    for_avg, _ = propose_mix(res, tokens, budget, epoch_cap=100, regressor="mixing_law")
    w = for_target.weights[DOMAIN]
    assert w > for_avg.weights[DOMAIN] + 0.1
    assert w > 1 / len(tokens) + 0.1 and w > tokens[DOMAIN] / sum(tokens.values())
    assert fit["target"] == "code_eval"
    assert fit["predicted"]["proposed"] < fit["predicted"]["uniform"]
    with pytest.raises(ConfigError, match="neither a probed domain"):
        propose_mix(res, tokens, budget, target="nope")
    assert isinstance(res, pl.DataFrame)
