"""`mixforge tokenizer train` says when the corpus cannot fill the vocabulary asked for."""

from __future__ import annotations

import json
import logging

from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.tokenize.loading import load_tokenizer
from mixforge.tokenize.train import TokenizerTrainConfig, train_tokenizer


def test_case_small_vocabulary_warns(tmp_path, caplog):
    """newcomer-1 "small vocabulary": --vocab-size 1024 on one repetitive document wrote
    fewer tokens, silently."""
    src = tmp_path / "in"
    src.mkdir()
    text = "the cat sat on the mat. " * 4000  # ~100 KB, a handful of distinct words
    (src / "one.jsonl").write_text(json.dumps({"text": text}) + "\n")
    run = tmp_path / "run"
    ingest(IngestConfig(inputs=[str(src)]), run, LocalExecutor(1))
    with caplog.at_level(logging.WARNING, logger="mixforge.tokenize.train"):
        out = train_tokenizer(run, TokenizerTrainConfig(vocab_size=1024))
    got = load_tokenizer(out).vocab_size
    assert got < 1024
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{got:,} tokens, fewer than the 1,024 asked" in m for m in msgs), msgs
    info = json.loads((out.parent / "train.json").read_text())
    assert info["vocab_size"] == got and info["vocab_size_asked"] == 1024
    assert len(info["warnings"]) == 1


def test_a_full_vocabulary_does_not_warn(tmp_path, caplog, ingested_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(ingested_run, run)
    with caplog.at_level(logging.WARNING, logger="mixforge.tokenize.train"):
        out = train_tokenizer(run, TokenizerTrainConfig(vocab_size=512))
    assert load_tokenizer(out).vocab_size == 512
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
