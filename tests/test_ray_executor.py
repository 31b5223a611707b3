"""The Ray executor: same outputs as the local one, a killed worker's shard is retried."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

from mixforge.errors import InputError  # noqa: E402
from mixforge.executor import LocalExecutor, RayExecutor  # noqa: E402
from mixforge.ingest import IngestConfig, ingest, ingest_shard  # noqa: E402
from mixforge.rundir import ShardTask, run_stage  # noqa: E402
from tests.s3 import s3  # noqa: E402, F401  (the S3 server fixture)


@pytest.fixture(scope="module")
def ray_executor():
    """A local Ray with 2 CPUs and a small object store, started once for this module."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    executor = RayExecutor(workers=2, object_store_mb=80)
    yield executor
    ray.shutdown()


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))}


def test_ray_and_local_give_byte_identical_ingest(tmp_path, corpus_dir, ray_executor):
    cfg = IngestConfig(inputs=[str(corpus_dir)], shard_mb=0.3)
    ingest(cfg, tmp_path / "local", LocalExecutor(2))
    report = ingest(cfg, tmp_path / "ray", ray_executor)
    assert len(report.ran) > 3
    assert _digest(tmp_path / "local/ingest") == _digest(tmp_path / "ray/ingest")


def die_once_then_ingest(task: ShardTask) -> dict:
    """Kill this worker process the first time it runs shard-00001 (a lost node)."""
    flag = Path(task.stage_dir).parent / "killed-once"
    if task.shard == "shard-00001" and not flag.exists():
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text("x")
        os._exit(1)
    return ingest_shard(task)


def test_a_killed_worker_is_retried_and_output_is_identical(tmp_path, corpus_dir,
                                                           ray_executor):
    from mixforge.ingest import plan_ingest

    cfg = IngestConfig(inputs=[str(corpus_dir)], shard_mb=0.3)
    ingest(cfg, tmp_path / "local", LocalExecutor(1))
    report = run_stage(plan_ingest(cfg, tmp_path / "ray"), die_once_then_ingest, ray_executor)
    assert (tmp_path / "ray/killed-once").exists(), "the fault was not injected"
    assert "shard-00001" in report.ran
    assert _digest(tmp_path / "local/ingest") == _digest(tmp_path / "ray/ingest")
    assert not list((tmp_path / "ray/ingest").glob(".*tmp*"))


def test_a_task_error_comes_back_as_itself(tmp_path, ray_executor):
    (tmp_path / "bad.jsonl").write_bytes(b'{"text": "ok"}\n{"text": \n')
    with pytest.raises(InputError, match="line/row 2"):
        ingest(IngestConfig(inputs=[str(tmp_path / "bad.jsonl")]), tmp_path / "run",
               ray_executor)


def test_ray_with_the_run_directory_in_a_bucket(tmp_path, corpus_dir, ray_executor,
                                                s3):  # noqa: F811
    """Ray tasks write their shards to the store themselves (docs/storage.md): the objects
    are the bytes a local run writes to disk."""
    from mixforge.executor import RayExecutor
    from tests.s3 import digest_store

    s3.bucket("ray")
    # the workers started before this module's environment: hand it to them as a user
    # would to a cluster's workers (the store's credentials, endpoint, mirror folder)
    on_store = RayExecutor(task_options={"runtime_env": {"env_vars": dict(s3.env)}})
    cfg = IngestConfig(inputs=[str(corpus_dir)], shard_mb=0.3)
    report = ingest(cfg, "s3://ray/run", on_store)
    ingest(cfg, tmp_path / "local", LocalExecutor(1))
    assert len(report.ran) > 3
    objects = {k: v for k, v in digest_store(s3, "ray/run/ingest").items()
               if k.endswith(".parquet")}
    assert objects == _digest(tmp_path / "local/ingest")
