"""`mixforge mix plan` and `mixforge export` end to end on the real store."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from mixforge.cli import main
from mixforge.config import parse_tokens
from mixforge.errors import ConfigError
from mixforge.mixers.mix import Mix


def test_parse_tokens():
    assert parse_tokens("300M") == 300_000_000 and parse_tokens("2k") == 2000
    assert parse_tokens("1e3") == 1000 and parse_tokens(" 7 ") == 7
    with pytest.raises(ConfigError, match="300M or"):
        parse_tokens("lots")


def test_plan_then_export(token_store, tmp_path):
    runner = CliRunner()
    mix_path = tmp_path / "mix.yaml"
    res = runner.invoke(main, ["mix", "plan", "--store", str(token_store), "--strategy",
                               "unimax", "--budget", "400k", "--epoch-cap", "2", "--seed", "3",
                               "--out", str(mix_path)])
    assert res.exit_code == 0, res.output
    assert "available" in res.output and "TOTAL" in res.output
    mix = Mix.load(mix_path)
    assert mix.provenance["strategy"] == "unimax" and mix.budget_tokens == 400_000
    # over the cap: the plan warns (and says by how much), the export refuses
    res = runner.invoke(main, ["mix", "plan", "-s", str(token_store), "--mix", str(mix_path),
                               "--budget", "5M"])
    assert res.exit_code == 0 and "over its cap of 2" in res.output
    out = tmp_path / "meg"
    res = runner.invoke(main, ["export", "-s", str(token_store), "--mix", str(mix_path),
                               "--budget", "5M", "--format", "megatron", "--out", str(out)])
    assert res.exit_code == 2 and "epoch cap" in res.output and not out.exists()
    res = runner.invoke(main, ["export", "-s", str(token_store), "--mix", str(mix_path),
                               "--format", "megatron", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "megatron export written" in res.output and "MB/s" in res.output
    idx = (out / "train.idx").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    n_docs = int(np.frombuffer(idx[18:26], np.uint64)[0])
    tokens = (out / "train.bin").stat().st_size // 2
    assert abs(tokens - 400_000 * 0.995) < 20_000 and n_docs > 100
    res = runner.invoke(main, ["export", "-s", str(token_store), "--mix", str(mix_path),
                               "--format", "nanogpt", "--seq-len", "64", "--out", str(out)])
    assert res.exit_code == 2 and "flat token stream" in res.output
