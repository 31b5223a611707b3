"""The tokenize stage: a run's documents into the token store; resume, determinism, dtype,
framing, the hub source and the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from tokenizers import Tokenizer

from mixforge.cli import main
from mixforge.errors import ConfigError
from mixforge.executor import LocalExecutor
from mixforge.stats import stage_files
from mixforge.tokenize.loading import load_tokenizer
from mixforge.tokenize.stage import TokenizeConfig, frame, tokenize
from mixforge.tokenize.store import TokenStore, token_dtype

from .conftest import real_file


@pytest.fixture
def run(tmp_path, ingested_run) -> Path:
    """A private copy of the ingested run (tests write into it)."""
    out = tmp_path / "run"
    shutil.copytree(ingested_run, out)
    return out


def docs_of(run: Path) -> dict[str, str]:
    return {r["id"]: r["text"] for f in stage_files(run / "ingest")
            for r in pq.read_table(f, columns=["id", "text"]).to_pylist()}


def test_store_holds_every_document_as_tokenizers_encodes_it(run, trained_json, trained):
    cfg = TokenizeConfig(tokenizer=str(trained_json), framing="eos")
    _report, meta = tokenize(cfg, run, LocalExecutor(2))  # a real process pool
    texts = docs_of(run)
    assert meta["engine"] == "native" and "identical" in meta["engine_reason"]
    assert meta["tokenizer"]["fingerprint"] == trained.fingerprint
    assert meta["dtype"] == "uint16"
    store = TokenStore(run / "tokenize")
    assert sum(store.info(d)["docs"] for d in store.domains) == len(texts)
    eos = trained.token_id("<|endoftext|>")
    ref = Tokenizer.from_str(trained.hf.to_str())
    ref.encode_special_tokens = True  # special-token strings in documents are text
    for d in store.domains:
        dom = store.domain(d)
        info = store.info(d)
        assert info["bytes_per_token"] == pytest.approx(info["bytes"] / info["tokens"], 1e-5)
        ids = dom.docs["id"].to_pylist()
        for i in range(0, dom.n_docs, max(1, dom.n_docs // 15)):
            want = [*ref.encode(texts[ids[i]], add_special_tokens=False).ids, eos]
            assert dom.doc(i).tolist() == want
            assert dom.docs["n_bytes"][i].as_py() == len(texts[ids[i]].encode())
            # token_bytes.npy: the scored tokens' bytes are the text's bytes (EOS: 0)
            assert int(store.token_bytes[dom.doc(i).astype(np.int64)].sum()) == len(
                texts[ids[i]].encode())
    assert meta["token_bytes"]["method"] == store.token_bytes_method == "byte-level"
    assert len(store.token_bytes) == meta["vocab_size"] and store.token_bytes[eos] == 0


def test_rerun_skips_redo_and_determinism(run, trained_json, tmp_path, ingested_run):
    cfg = TokenizeConfig(tokenizer=str(trained_json))
    first, _ = tokenize(cfg, run, LocalExecutor(1))
    bins = {p: p.read_bytes() for p in sorted((run / "tokenize").rglob("*.bin"))}
    again, _ = tokenize(cfg, run, LocalExecutor(1))
    assert again.ran == [] and again.skipped == sorted(first.ran)
    # lose one shard's marker (an interrupted run): only that shard runs again, same bytes
    victim = sorted((run / "tokenize" / "_markers").glob("*.json"))[0]
    victim.unlink()
    redo, _ = tokenize(cfg, run, LocalExecutor(1))
    assert redo.ran == [victim.stem]
    assert {p: p.read_bytes() for p in sorted((run / "tokenize").rglob("*.bin"))} == bins
    # a fresh run directory, another engine: byte-identical store
    other = tmp_path / "other"
    shutil.copytree(ingested_run, other)
    tokenize(TokenizeConfig(tokenizer=str(trained_json), engine="tokenizers"), other,
             LocalExecutor(1))
    for p, data in bins.items():
        assert (other / p.relative_to(run)).read_bytes() == data
    # another framing changes the key: every shard is redone
    both, meta = tokenize(TokenizeConfig(tokenizer=str(trained_json), framing="both"), run,
                          LocalExecutor(1))
    assert sorted(both.ran) == sorted(first.ran)
    assert meta["bos"]["token"] == "<|bos|>" and meta["eos"]["token"] == "<|endoftext|>"


def test_framing_policies():
    tokens = np.array([5, 6, 7, 8, 9], dtype=np.uint32)
    lens = np.array([2, 0, 3])
    naive = {}
    for bos, eos in ((1, None), (None, 2), (1, 2), (None, None)):
        out, new = [], []
        for k, n in enumerate(lens):
            doc = tokens[lens[:k].sum():lens[:k].sum() + n].tolist()
            doc = ([bos] if bos is not None else []) + doc + ([eos] if eos is not None else [])
            out += doc
            new.append(len(doc))
        naive[(bos, eos)] = (out, new)
        got, got_lens = frame(tokens, lens, bos, eos)
        assert got.tolist() == out and got_lens.tolist() == new
        # reordered (the stage groups documents by domain) and narrowed, in the same pass
        order = np.array([2, 0, 1])
        docs = [out[sum(new[:k]):sum(new[:k]) + new[k]] for k in range(len(new))]
        got, got_lens = frame(tokens, lens, bos, eos, order, np.uint16)
        assert got.dtype == np.uint16 and got_lens.tolist() == [new[k] for k in order]
        assert got.tolist() == [t for k in order for t in docs[k]]


def test_batches_and_domains_do_not_change_the_store(run, trained_json, tmp_path,
                                                     ingested_run):
    # one batch per shard vs tiny batches (many encode calls, read-ahead, writes appended
    # batch by batch, several domains per batch): the same bytes
    cfg = TokenizeConfig(tokenizer=str(trained_json))
    tokenize(cfg, run, LocalExecutor(1))
    other = tmp_path / "small-batches"
    shutil.copytree(ingested_run, other)
    report, _ = tokenize(TokenizeConfig(tokenizer=str(trained_json), batch_mb=0.02), other,
                         LocalExecutor(1))
    assert report.ran
    files = sorted(p.relative_to(run) for p in (run / "tokenize").rglob("*")
                   if p.suffix in (".bin", ".parquet", ".npy") or p.name == "store.json")
    assert any(str(f).endswith(".bin") for f in files)
    for f in files:
        assert (other / f).read_bytes() == (run / f).read_bytes(), f


def test_dtype_boundary_and_uint32_store(run, sample_texts):
    assert token_dtype(1 << 16) == np.uint16 and token_dtype((1 << 16) + 1) == np.uint32
    big = real_file("deepseek_tokenizer.json")  # 128k tokens: uint32
    cfg = TokenizeConfig(tokenizer=str(big), framing="none", sample_docs=8)
    _, meta = tokenize(cfg, run, LocalExecutor(1))
    assert meta["dtype"] == "uint32" and meta["engine"] == "tokenizers"
    store = TokenStore(run / "tokenize")
    dom = store.domain("fortunes")
    assert dom.doc(0).dtype == np.uint32 and int(dom.doc(0).max()) < meta["vocab_size"]
    tok = load_tokenizer(big)
    text = docs_of(run)[dom.docs["id"][0].as_py()]
    assert tok.hf.decode(dom.doc(0).tolist()) == text
    assert store.token_bytes_method == "byte-level"
    assert int(store.token_bytes[dom.doc(0).astype(np.int64)].sum()) == len(text.encode())


def test_65k_pretrained_tokenizer_fills_uint16(run):
    tok = real_file("anthropic_tokenizer.json")
    _, meta = tokenize(TokenizeConfig(tokenizer=str(tok), eos_token="<EOT>"), run,
                       LocalExecutor(1))
    assert meta["dtype"] == "uint16" and meta["engine"] == "native"
    assert meta["vocab_size"] == 65000


def test_hub_name_loads_offline_from_the_cache(tmp_path, trained_json, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snap = tmp_path / "hub" / "models--acme--tiny-bpe" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    shutil.copy(trained_json, snap / "tokenizer.json")
    (tmp_path / "hub" / "models--acme--tiny-bpe" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny-bpe" / "refs" / "main").write_text("a" * 40)
    tok = load_tokenizer("hf:acme/tiny-bpe", cache_dir=str(tmp_path / "hub"))
    assert tok.kind == "hub" and tok.meta["revision"] == "a" * 40
    assert tok.fingerprint == load_tokenizer(trained_json).fingerprint
    with pytest.raises(ConfigError, match="local Hugging Face cache"):
        load_tokenizer("hf:acme/absent", cache_dir=str(tmp_path / "hub"))


def test_missing_tokenizer_and_special_tokens_are_config_errors(run, trained_json):
    with pytest.raises(ConfigError, match="tokenizer train"):
        tokenize(TokenizeConfig(), run, LocalExecutor(1))
    with pytest.raises(ConfigError, match="not in the tokenizer"):
        tokenize(TokenizeConfig(tokenizer=str(trained_json), eos_token="</nope>"), run,
                 LocalExecutor(1))


def test_cli_train_tokenize_inspect(run):
    cli = CliRunner()
    res = cli.invoke(main, ["tokenizer", "train", "-r", str(run), "--vocab-size", "600",
                            "--max-mb", "0.5"])
    assert res.exit_code == 0, res.output
    assert (run / "tokenizer" / "tokenizer.json").exists()
    res = cli.invoke(main, ["tokenize", "-r", str(run), "--workers", "1", "--framing", "both"])
    assert res.exit_code == 0, res.output
    assert "engine native" in res.output and "bytes/token" in res.output
    meta = TokenStore(run / "tokenize").meta
    assert meta["framing"] == "both" and meta["vocab_size"] == 600
    res = cli.invoke(main, ["tokenizer", "inspect", str(run / "tokenizer" / "tokenizer.json")])
    assert res.exit_code == 0 and "round trip   True" in res.output, res.output


def test_shard_writer_appends_batches_and_leaves_nothing_on_error(tmp_path):
    from mixforge.tokenize.store import ShardWriter, write_shard

    toks = np.arange(10, dtype=np.uint16)
    with ShardWriter(tmp_path / "a", "s0") as out:  # two batches of one domain
        out.append("d", toks[:4], [1, 3], ["x", "y"], ["f:1", "f:2"], [5, 6])
        out.append("d", toks[4:], [6], ["z"], ["f:3"], [7])
    write_shard(tmp_path / "b", "s0", "d", toks, [1, 3, 6], ["x", "y", "z"],
                ["f:1", "f:2", "f:3"], [5, 6, 7])  # the same shard in one go
    assert [p.relative_to(tmp_path / "a") for p in out.outputs] == [
        Path("d/s0.bin"), Path("d/s0.docs.parquet")]
    for name in ("d/s0.bin", "d/s0.docs.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert pq.read_table(tmp_path / "a/d/s0.docs.parquet")["offset"].to_pylist() == [0, 1, 4]
    with pytest.raises(RuntimeError), ShardWriter(tmp_path / "c", "s0") as out:
        out.append("d", toks, [10], ["x"], ["f:1"], [9])
        raise RuntimeError
    assert [p for p in (tmp_path / "c").rglob("*") if p.is_file()] == []
