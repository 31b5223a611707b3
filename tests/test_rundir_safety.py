"""What the run directory's clean-up may delete: only its own shard outputs (a marker that
lists a path outside its stage folder deletes nothing) and its own temp files."""

from __future__ import annotations

import json

from mixforge.executor import LocalExecutor
from mixforge.rundir import ShardTask, run_stage


def _write(task: ShardTask) -> dict:
    out = task.output(".txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(task.shard)
    return {"counts": {"n": 1}, "outputs": [out]}


def test_stale_markers_cannot_reach_outside_their_stage(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    stage = tmp_path / "run" / "s"
    (stage / "_markers").mkdir(parents=True)
    (stage / "old.txt").write_text("a stale shard output")
    (stage / "_markers" / "old.json").write_text(json.dumps(
        {"key": "k", "outputs": ["old.txt", "../../victim.txt", str(victim)]}))
    (stage / ".keep.tmp-123").write_text("a temp file of a killed run")
    run_stage([ShardTask(str(stage), "new", (), "k")], _write, LocalExecutor(1))
    assert victim.read_text() == "the user's file"
    assert not (stage / "old.txt").exists() and not (stage / "_markers" / "old.json").exists()
    assert not (stage / ".keep.tmp-123").exists()
    assert (stage / "new.txt").read_text() == "new"
