"""Plans are promises: what `mix plan` prints is what `export` writes (per domain, within
one document), caps are never exceeded, every shortfall is stated, an empty validation
split is stated; mixes from UniMax and the proposer export with default options.

The cases of tests/cases (hunt-1 "epoch cap" and "single document", newcomer-1 "every
token once") run through ingest -> tokenize -> plan -> export; a property test checks the
promises on a few hundred random small stores."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from mixforge.cli import main
from mixforge.errors import ConfigError
from mixforge.executor import LocalExecutor
from mixforge.export import ExportConfig, export
from mixforge.ingest import IngestConfig, ingest
from mixforge.mixers.materialize import materialize
from mixforge.mixers.mix import Mix
from mixforge.mixers.plan import plan_store
from mixforge.mixers.strategies import manual, natural, store_tokens, unimax
from mixforge.tokenize.stage import TokenizeConfig, tokenize
from mixforge.tokenize.store import TokenStore

from .stores import make_store

CASES = Path(__file__).parent.parent / "cases"
HUNT = CASES / "hunt-1"
EVERY = CASES / "newcomer-1" / "export_every_token"


def _run(tmp_path: Path, inputs: list[Path], tokenizer: Path, name: str = "run",
         **ingest_kw) -> Path:
    run = tmp_path / name
    ingest(IngestConfig(inputs=[str(p) for p in inputs], **ingest_kw), run, LocalExecutor(1))
    tokenize(TokenizeConfig(tokenizer=str(tokenizer)), run, LocalExecutor(1))
    return run / "tokenize"


def _written(out: Path, split: str) -> dict[str, np.ndarray]:
    """Per domain, the store index of every document the export wrote (repeats kept)."""
    path = out / ".mixforge" / f"{split}-docs.parquet"
    if not path.exists():
        return {}
    t = pq.read_table(path).to_pydict()
    res: dict[str, list[int]] = {}
    for d, i in zip(t["domain"], t["doc"], strict=True):
        res.setdefault(d, []).append(i)
    return {d: np.array(v) for d, v in res.items()}


def check_promises(store: TokenStore, plan, out: Path) -> None:
    """The export in ``out`` keeps ``plan``'s promises, domain by domain."""
    train, val = _written(out, "train"), _written(out, "val")
    for row in plan.rows:
        dom = store.domain(row.domain)
        lens = dom.doc_lens
        t = train.get(row.domain, np.zeros(0, int))
        v = val.get(row.domain, np.zeros(0, int))
        assert int(lens[v].sum()) == row.val and len(v) == row.val_docs, row.domain
        assert len(set(v.tolist())) == len(v) and not set(v.tolist()) & set(t.tolist())
        taken = int(lens[t].sum())
        assert abs(taken - row.train) <= (int(lens.max()) if len(lens) else 0), row.domain
        pool = row.available - row.val
        if plan.over_cap_policy != "exceed" and math.isfinite(row.cap):
            assert taken <= math.floor(row.cap * pool), row.domain
            if len(t):
                assert np.bincount(t).max() <= math.ceil(row.cap), row.domain


def test_case_epoch_cap(tmp_path):
    """hunt-1 "epoch cap": the plan said 3.98 epochs under cap 4 and every training
    document was written 5 times."""
    store_path = _run(tmp_path, [HUNT / "mix2"], HUNT / "tokenizers" / "base_bpe_2048.json")
    store = TokenStore(store_path)
    mix = manual({"uneven": 1}, 4000, tokens=store_tokens(store), epoch_cap=4.0, seed=5)
    plan = plan_store(mix, store, val_fraction=0.1)
    plan.check()
    row = plan.row("uneven")
    assert row.epochs <= 4.0 and not row.over_cap
    rep = export(store, mix, ExportConfig(format="nanogpt", out=tmp_path / "x",
                                          val_fraction=0.1))
    check_promises(store, plan, rep.out)
    train = _written(rep.out, "train")["uneven"]
    assert np.bincount(train).max() <= 4  # no document more often than the cap
    manifest = json.loads((rep.out / "mixforge-export.json").read_text())
    assert manifest["plan"]["domains"] == json.loads(json.dumps(plan.to_dict()))["domains"]
    # validation could not hold out a document without passing the cap: that is stated
    assert any("uneven: validation shrinks" in w for w in manifest["warnings"])


def test_case_single_document(tmp_path):
    """hunt-1 "single document": planned 1,508 training tokens, exported none, silently."""
    store_path = _run(tmp_path, [HUNT / "mix1" / "solo.jsonl", HUNT / "base" / "fortunes.jsonl"],
                      HUNT / "tokenizers" / "base_bpe_2048.json")
    store = TokenStore(store_path)
    mix = manual({"solo": 1, "fortunes": 1}, 8000, tokens=store_tokens(store))
    plan = plan_store(mix, store, val_fraction=0.1, over_cap="shrink")
    solo = plan.row("solo")
    assert solo.val == 0 and solo.train > 0
    assert any(w.startswith("solo: validation holds out 0 of its 1 documents")
               for w in plan.warnings)
    assert any(w.startswith("solo: ") and "over its cap" in w for w in plan.warnings)
    rep = export(store, mix, ExportConfig(format="nanogpt", out=tmp_path / "y",
                                          val_fraction=0.1, over_cap="shrink"))
    check_promises(store, plan, rep.out)
    assert rep.manifest["splits"]["train"]["per_domain"]["solo"]["tokens"] == solo.train
    assert rep.manifest["plan"]["shortfall"] == plan.shortfall > 0


@pytest.fixture(scope="module")
def every_store(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("every")
    return _run(tmp, [EVERY / "docs.jsonl"], EVERY / "tokenizer.json",
                domain_field="domain", id_field="id")


def test_case_every_token_once(every_store, tmp_path):
    """newcomer-1 "every token once": a natural mix of the store's total tokens exports
    every document exactly once (train + val); an empty validation split is stated."""
    store = TokenStore(every_store)
    total = sum(store_tokens(store).values())
    docs = sum(store.info(d)["docs"] for d in store.domains)
    assert (docs, total) == (27, 19_285)
    mix = natural(store_tokens(store), total)
    for vf in (0.005, 0.0, 0.3):  # the default, none, and one that holds documents out
        out = tmp_path / f"vf{vf}"
        rep = export(store, mix, ExportConfig(format="nanogpt", out=out, val_fraction=vf))
        seen = {d: np.concatenate([_written(out, s).get(d, np.zeros(0, int))
                                   for s in ("train", "val")]) for d in store.domains}
        for d in store.domains:
            assert sorted(seen[d].tolist()) == list(range(store.info(d)["docs"])), (vf, d)
        written = sum(r.tokens for r in rep.splits.values())
        assert written == total + docs * int(rep.manifest["eos_appended"])
        warnings = rep.manifest["warnings"]
        if "val" in rep.splits:
            assert (out / "val.bin").exists() and vf == 0.3
            assert not any("validation split" in w for w in warnings)
        else:
            assert not (out / "val.bin").exists()
            assert any("no validation split written" in w for w in warnings)
            if vf:
                assert any("the validation split is empty" in w for w in warnings)


def test_cli_plan_then_export_every_token(every_store, tmp_path):
    mix_file = tmp_path / "m.yaml"
    cli = CliRunner()
    res = cli.invoke(main, ["mix", "plan", "-s", str(every_store), "--strategy", "natural",
                            "--budget", "19285", "-o", str(mix_file)])
    assert res.exit_code == 0, res.output
    assert "the validation split is empty" in res.output
    res = cli.invoke(main, ["export", "-s", str(every_store), "--mix", str(mix_file),
                            "--format", "nanogpt", "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "e" / "mixforge-export.json").read_text())
    assert m["splits"]["train"]["docs"] == 27 and "val" not in m["splits"]


def test_unimax_and_capped_proposals_export_with_default_options(token_store, tmp_path):
    """#18: caps were computed on all of a domain's tokens but checked on its training
    tokens after validation, so a UniMax mix (or a proposal at its bounds) stopped export
    with "over its cap" under the default options."""
    store = TokenStore(token_store)
    tokens = store_tokens(store)
    budget = int(sum(tokens.values()) * 1.95)  # the smaller domains reach their cap of 2
    mix = unimax(tokens, budget, epoch_cap=2.0, seed=1)
    plan = plan_store(mix, store, val_fraction=ExportConfig().val_fraction)
    capped = [r.domain for r in plan.rows if r.target >= 2.0 * r.available - 2]
    assert capped  # the case the fault needs
    plan.check()  # default over_cap="error" goes ahead
    rep = export(store, mix, ExportConfig(out=tmp_path / "u"))
    check_promises(store, plan, rep.out)
    # a proposal on its upper bounds: weights epoch_cap * available / budget, as
    # mixers.propose bounds them (propose.py), the rest spread over the largest domain
    big = max(tokens, key=tokens.get)
    w = {d: 2.0 * n / budget for d, n in tokens.items() if d != big}
    w[big] = 1.0 - sum(w.values())
    proposal = Mix(w, budget, 2.0, seed=2, provenance={"strategy": "regression"})
    plan = plan_store(proposal, store, val_fraction=ExportConfig().val_fraction)
    plan.check()
    rep = export(store, proposal, ExportConfig(out=tmp_path / "p"))
    check_promises(store, plan, rep.out)


def test_a_real_proposal_exports_with_default_options(token_store, tmp_path):
    """#18 with `propose_mix` itself: planted probe results where each domain's bpb falls
    with its own weight, targeting the smallest domain, push it to its cap bound."""
    import polars as pl

    from mixforge.mixers.propose import propose_mix

    store = TokenStore(token_store)
    tokens = store_tokens(store)
    domains = sorted(tokens)
    small = min(tokens, key=tokens.get)
    rng = np.random.default_rng(7)
    w = rng.dirichlet(np.ones(len(domains)), 40)
    y = 3.0 - 2.0 * w + rng.normal(0, 0.01, w.shape)
    results = pl.DataFrame({**{f"w:{d}": w[:, i] for i, d in enumerate(domains)},
                            **{f"bpb:{d}": y[:, i] for i, d in enumerate(domains)}})
    budget = int(sum(tokens.values()) * 1.5)
    mix, _ = propose_mix(results, tokens, budget, epoch_cap=2.0, target=small,
                         regressor="linear", kl=0.0)
    target = mix.weights[small] * budget
    assert target == pytest.approx(2.0 * tokens[small], rel=1e-3)  # at its cap bound
    plan = plan_store(mix, store, val_fraction=ExportConfig().val_fraction)
    plan.check()
    rep = export(store, mix, ExportConfig(out=tmp_path / "prop"))
    check_promises(store, plan, rep.out)


def test_cli_unimax_plan_then_export_with_defaults(token_store, tmp_path):
    tokens = store_tokens(token_store)
    mix_file = tmp_path / "u.yaml"
    cli = CliRunner()
    res = cli.invoke(main, ["mix", "plan", "-s", str(token_store), "--strategy", "unimax",
                            "--budget", str(int(sum(tokens.values()) * 1.95)),
                            "--epoch-cap", "2", "-o", str(mix_file)])
    assert res.exit_code == 0, res.output
    res = cli.invoke(main, ["export", "-s", str(token_store), "--mix", str(mix_file),
                            "--out", str(tmp_path / "x")])
    assert res.exit_code == 0, res.output


def test_framing_none_then_an_export_that_needs_eos_says_so(tmp_path):
    run = tmp_path / "run"
    ingest(IngestConfig(inputs=[str(HUNT / "mix2")]), run, LocalExecutor(1))
    tokenize(TokenizeConfig(tokenizer=str(HUNT / "tokenizers" / "base_bpe_2048.json"),
                            framing="none"), run, LocalExecutor(1))
    store = TokenStore(run / "tokenize")
    mix = natural(store_tokens(store), 2000)
    for fmt in ("nanogpt", "llmc"):
        with pytest.raises(ConfigError, match="--framing none"):
            export(store, mix, ExportConfig(format=fmt, out=tmp_path / fmt))
        assert not (tmp_path / fmt).exists()
    eos = 0  # <|endoftext|> of base_bpe_2048 (its first special token)
    rep = export(store, mix, ExportConfig(out=tmp_path / "ok", eos_id=eos))
    assert rep.manifest["eos_appended"]


# ------------------------------------------------------------------ the property test

def _random_case(rng: np.random.Generator, tmp: Path, k: int):
    n_domains = int(rng.integers(1, 4))
    docs = {}
    for d in range(n_domains):
        n = int(rng.integers(1, 51))
        # uneven sizes: mostly short documents, some long ones
        lens = np.where(rng.random(n) < 0.2, rng.integers(50, 400, n), rng.integers(1, 40, n))
        docs[f"d{d}"] = [[np.full(int(x), 5, np.int64) for x in lens]]
    store_path = make_store(tmp / f"s{k}", docs, vocab_size=64, eos_id=1)
    total = sum(int(sum(len(x) for x in s[0])) for s in docs.values())
    budget = int(total * rng.choice([0.3, 1.0, 2.0, 3.9, 6.0]) * rng.uniform(0.8, 1.2)) + 1
    cap = float(rng.choice([1.0, 1.5, 2.0, 4.0, math.inf]))
    if rng.random() < 0.5:
        mix = unimax({d: sum(len(x) for x in s[0]) for d, s in docs.items()}, budget,
                     epoch_cap=cap if math.isfinite(cap) else 4.0, seed=k)
    else:
        w = {d: float(rng.uniform(0, 1)) + 1e-3 for d in docs}
        mix = Mix(w, budget, cap, seed=k)
    vf = float(rng.choice([0.0, 0.005, 0.05, 0.2, 0.5]))
    policy = str(rng.choice(["error", "exceed", "shrink"]))
    return TokenStore(store_path), mix, vf, policy


def test_property_plan_equals_export_on_random_stores(tmp_path):
    rng = np.random.default_rng(20261130)
    cases = refused = exported = 0
    for k in range(300):
        store, mix, vf, policy = _random_case(rng, tmp_path, k)
        plan = plan_store(mix, store, val_fraction=vf, over_cap=policy)  # type: ignore[arg-type]
        assert plan.train_tokens + plan.val_tokens + plan.shortfall == mix.budget_tokens
        over = any(r.over_cap for r in plan.rows)
        if policy == "error" and over:
            with pytest.raises(ConfigError, match="beyond their epoch cap"):
                materialize(store, mix, val_fraction=vf, over_cap=policy)  # type: ignore[arg-type]
            refused += 1
            continue
        m = materialize(store, mix, val_fraction=vf, over_cap=policy)  # type: ignore[arg-type]
        assert m.plan.to_dict() == plan.to_dict()  # the export's plan is the printed one
        train, val = m.taken("train"), m.taken("val")
        for row in plan.rows:
            lens = store.domain(row.domain).doc_lens
            got_train = train.get(row.domain, {"tokens": 0})["tokens"]
            got_val = val.get(row.domain, {"tokens": 0, "docs": 0})
            assert got_val["tokens"] == row.val and got_val.get("docs", 0) == row.val_docs
            assert abs(got_train - row.train) <= int(lens.max()), (k, row)
            if policy != "exceed" and math.isfinite(row.cap):
                assert got_train <= math.floor(row.cap * (row.available - row.val)), (k, row)
                if row.domain in m.domains:
                    sel = m.splits["train"]
                    docs = sel.doc[sel.domain == m.domains.index(row.domain)]
                    if len(docs):
                        assert np.bincount(docs).max() <= math.ceil(row.cap), (k, row)
            if row.train and row.available and policy != "exceed":
                assert row.available - row.val > 0  # a training domain keeps a document
        if vf and not plan.val_tokens:
            assert any("validation split is empty" in w for w in plan.warnings)
        if plan.shortfall:
            assert plan.warnings  # every shortfall is stated
        if k % 30 == 0:  # and the files themselves, now and then
            rep = export(store, mix, ExportConfig(format="nanogpt", out=tmp_path / f"x{k}",
                                                  val_fraction=vf, over_cap=policy))
            check_promises(store, plan, rep.out)
            exported += 1
        cases += 1
    assert cases > 150 and refused > 5 and exported >= 5  # every branch was exercised


def test_validation_never_takes_more_than_the_domain_share():
    from mixforge.mixers.plan import plan_mix

    lens = {"a": np.array([5, 5, 5, 5])}  # the closest prefix to 4 would be 5 > 4
    plan = plan_mix(Mix({"a": 1.0}, 4, 10.0), {"a": {"tokens": 20, "docs": 4}},
                    val_fraction=0.9, doc_lens=lens)
    row = plan.row("a")
    assert row.val <= row.target and row.train >= 0 and row.val + row.train == 4


def _printed_plan(output: str) -> dict[str, dict[str, int]]:
    """The per-domain rows of the table `mixforge mix plan` prints."""
    lines = [ln for ln in output.splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for ln in lines[2:]:
        cells = dict(zip(head, (c.strip() for c in ln.strip("|").split("|")), strict=True))
        if cells["domain"] != "TOTAL":
            rows[cells["domain"]] = {k: int(cells[k].replace(",", "")) for k in
                                     ("train", "val", "val_docs")}
    return rows


def test_case_epoch_cap_through_the_cli(tmp_path):
    """hunt-1 "epoch cap", its commands as written: what `mix plan` prints is what
    `export` writes, per domain, within one document."""
    store_path = _run(tmp_path, [HUNT / "mix2"], HUNT / "tokenizers" / "base_bpe_2048.json")
    cli = CliRunner()
    res = cli.invoke(main, ["mix", "plan", "-s", str(store_path), "--strategy", "manual",
                            "--weights", "uneven=1", "--budget", "4000", "--val-fraction",
                            "0.1", "--seed", "5", "-o", str(tmp_path / "m.yaml")])
    assert res.exit_code == 0, res.output
    printed = _printed_plan(res.output)
    res = cli.invoke(main, ["export", "-s", str(store_path), "--mix", str(tmp_path / "m.yaml"),
                            "--format", "nanogpt", "--out", str(tmp_path / "x"),
                            "--val-fraction", "0.1"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "x" / "mixforge-export.json").read_text())
    store = TokenStore(store_path)
    for d, row in printed.items():
        got = manifest["splits"]["train"]["per_domain"].get(d, {"tokens": 0})["tokens"]
        assert abs(got - row["train"]) <= int(store.domain(d).doc_lens.max()), d
        val = manifest["splits"].get("val", {"per_domain": {}})["per_domain"]
        assert val.get(d, {"tokens": 0})["tokens"] == row["val"], d
    assert np.bincount(_written(tmp_path / "x", "train")["uneven"]).max() <= 4
