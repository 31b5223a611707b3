"""`export --overwrite` replaces only an earlier export: never the run directory, a folder
holding it, a folder inside it that is not an export, or a user's folder (case
newcomer-1 "export over anything"). Rules: docs/ingest.md ("What mixforge deletes")."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mixforge.cli import main
from mixforge.errors import ConfigError
from mixforge.export import MANIFEST, ExportConfig, export
from mixforge.mixers.mix import Mix
from tests.mixers.stores import make_store, random_docs


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run directory: a finished ingest stage and a token store under RUN/tokenize."""
    run = tmp_path / "runs" / "r1"
    (run / "ingest" / "_markers").mkdir(parents=True)
    (run / "ingest" / "shard-00000.parquet").write_bytes(b"the user's ingested data")
    (run / "ingest" / "_markers" / "shard-00000.json").write_text("{}")
    rng = np.random.default_rng(0)
    make_store(run / "tokenize", {"a": [random_docs(rng, 30, 500, eos_id=499)],
                                  "b": [random_docs(rng, 30, 500, eos_id=499)]}, 500, 499)
    return run


def _mix() -> Mix:
    return Mix({"a": 0.5, "b": 0.5}, budget_tokens=400)


def _cfg(out, **kw) -> ExportConfig:
    return ExportConfig(format="nanogpt", out=Path(out), val_fraction=0.0, **kw)


def test_the_run_directory_and_folders_holding_it_are_never_replaced(run, tmp_path,
                                                                      monkeypatch):
    before = _digest(tmp_path)
    for out in (run, run.parent, tmp_path, run / "tokenize"):
        with pytest.raises(ConfigError, match="holds"):
            export(run / "tokenize", _mix(), _cfg(out, overwrite=True))
    monkeypatch.chdir(run)
    with pytest.raises(ConfigError, match="holds"):  # --out . : a message, not a traceback
        export(run / "tokenize", _mix(), _cfg(".", overwrite=True))
    monkeypatch.chdir(run / "ingest")
    with pytest.raises(ConfigError, match="not a mixforge export"):
        export(run / "tokenize", _mix(), _cfg(".", overwrite=True))
    assert _digest(tmp_path) == before


def test_only_an_earlier_export_is_replaced(run, tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("do not delete")
    for out in (user, run / "ingest"):
        with pytest.raises(ConfigError, match="not a mixforge export"):
            export(run / "tokenize", _mix(), _cfg(out, overwrite=True))
    with pytest.raises(ConfigError, match="inside the token store"):
        export(run / "tokenize", _mix(), _cfg(run / "tokenize" / "new"))
    assert (user / "notes.txt").read_text() == "do not delete"
    # an export inside the run (the pipeline's RUN/export/nanogpt) is replaced on request
    out = run / "export" / "nanogpt"
    export(run / "tokenize", _mix(), _cfg(out))
    assert (out / MANIFEST).is_file()
    (out / "stray").write_text("x")
    export(run / "tokenize", _mix(), _cfg(out, overwrite=True))
    assert not (out / "stray").exists() and (out / MANIFEST).is_file()
    # a file where the export would go is not an export either
    (tmp_path / "f").write_text("a file")
    with pytest.raises(ConfigError, match="not a mixforge export"):
        export(run / "tokenize", _mix(), _cfg(tmp_path / "f", overwrite=True))


def test_cli_refuses_the_run_directory_with_one_line(run, tmp_path):
    mix = _mix().save(tmp_path / "m.yaml")
    before = _digest(run)
    for out in (str(run), "."):
        cwd = os.getcwd()
        os.chdir(run)
        try:
            res = CliRunner().invoke(main, ["export", "-r", str(run), "--mix", str(mix),
                                            "--format", "nanogpt", "--out", out,
                                            "--overwrite", "--val-fraction", "0"])
        finally:
            os.chdir(cwd)
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output and "holds" in res.output
    assert _digest(run) == before
