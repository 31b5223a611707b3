"""The command line as one package: run options reach the executor, config errors are
one line, and a stage command loads only what it uses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import mixforge.executor as executor_mod
from mixforge.cli import main
from mixforge.errors import ConfigError
from mixforge.pipeline import MixSection, load_pipeline

ROOT = Path(__file__).resolve().parent.parent
RAY = ["--executor", "ray", "--workers", "3", "--ray-address", "ray://head.example:10001"]
GIVEN = ("ray", 3, "ray://head.example:10001")


class _Stop(Exception):
    """Raised by the fake executor factory: the command got as far as its executor."""


@pytest.fixture
def executors(monkeypatch) -> list[tuple]:
    """Every (name, workers, address) a command asks `get_executor` for; stops it there."""
    calls: list[tuple] = []

    def fake(name: str = "local", workers: int | None = None, address: str | None = None):
        calls.append((name, workers, address))
        raise _Stop

    monkeypatch.setattr(executor_mod, "get_executor", fake)
    return calls


def _invoke(args: list[str]):
    return CliRunner().invoke(main, [str(a) for a in args])


def _commands(corpus_dir, ingested_run, token_store, tmp_path) -> dict[str, list]:
    return {
        "ingest": ["ingest", corpus_dir, "-r", tmp_path / "run"],
        "dedup exact": ["dedup", "exact", "-r", ingested_run],
        "dedup fuzzy": ["dedup", "fuzzy", "-r", ingested_run],
        "filter": ["filter", "-r", ingested_run],
        "tokenize": ["tokenize", "-r", tmp_path / "run"],
        "probe sweep": ["probe", "sweep", "-r", tmp_path / "run", "--store", token_store,
                        "--n-probes", "2", "--device", "cpu"],
    }


@pytest.mark.parametrize("command", ["ingest", "dedup exact", "dedup fuzzy", "filter",
                                     "tokenize", "probe sweep"])
def test_every_stage_command_passes_the_run_options_to_its_executor(
        command, executors, corpus_dir, ingested_run, token_store, tmp_path):
    args = _commands(corpus_dir, ingested_run, token_store, tmp_path)[command]
    res = _invoke([*args, *RAY])
    assert isinstance(res.exception, _Stop), res.output
    assert executors == [GIVEN]


def test_run_passes_the_files_and_the_flags_ray_address(executors, corpus_dir, tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(f"run_dir: run\nexecutor: ray\nray_address: auto\n"
                   f"ingest:\n  inputs: [{corpus_dir}]\n")
    res = _invoke(["run", cfg])
    assert isinstance(res.exception, _Stop), res.output
    res = _invoke(["run", cfg, *RAY])  # flags given on the command line win
    assert isinstance(res.exception, _Stop), res.output
    assert executors == [("ray", None, "auto"), GIVEN]


@pytest.mark.parametrize(("section", "kind"), [
    ("[corpus/]", "a list"), ("corpus/", "a string"), ("3", "a number"), ("yes", "a boolean"),
])
def test_a_mistyped_pipeline_section_is_one_config_error(tmp_path, section, kind):
    path = tmp_path / "p.yaml"
    path.write_text(f"run_dir: run\ningest: {section}\n")
    with pytest.raises(ConfigError, match=f"section 'p.yaml.ingest' must be a mapping of "
                                          f"IngestConfig keys .*got {kind}"):
        load_pipeline(path)
    res = _invoke(["run", path])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("mixforge: config error: config section 'p.yaml.ingest'")
    assert "Traceback" not in res.output


def test_a_pipeline_file_that_is_not_a_mapping_is_a_config_error(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("- ingest\n- filter\n")
    with pytest.raises(ConfigError, match=r"p\.yaml must be a mapping of PipelineConfig keys"):
        load_pipeline(path)


def test_a_bad_regex_is_a_config_error_naming_the_option(tmp_path, corpus_dir):
    res = _invoke(["ingest", corpus_dir, "-r", tmp_path / "run", "--domain-pattern", "("])
    assert res.exit_code == 2, res.output
    assert "config error: domain_pattern (--domain-pattern) '(' is not a valid regular" \
        in res.output
    assert "Traceback" not in res.output and not (tmp_path / "run").exists()
    path = tmp_path / "p.yaml"
    path.write_text(f"ingest:\n  inputs: [{corpus_dir}]\n  domain_pattern: '[a-'\n")
    with pytest.raises(ConfigError, match=r"domain_pattern .* is not a valid regular"):
        load_pipeline(path)


def test_tau_has_one_default_for_the_pipeline_and_the_cli():
    from mixforge.cli.mix import plan
    from mixforge.mixers.strategies import DEFAULT_TAU, make_mix

    cli_default = next(p.default for p in plan.params if p.name == "tau")
    assert MixSection().tau == cli_default == DEFAULT_TAU
    tokens = {"a": 400, "b": 100}
    by_default = make_mix("temperature", tokens, 200).weights
    assert by_default == make_mix("temperature", tokens, 200, tau=MixSection().tau).weights


def test_help_lists_the_stages_in_the_order_the_pipeline_runs_them():
    from mixforge.layout import PIPELINE
    from mixforge.pipeline import STEPS

    out = _invoke(["--help"]).output
    listed = [line.split()[0] for line in out.split("The stages")[1].split("Around")[0]
              .splitlines()[1:] if line.strip()]
    assert listed == [s.command.split()[0] for s in PIPELINE]
    assert [s.name for s in STEPS] == [s.section for s in PIPELINE if s.section != "export"]
    commands = out.split("Commands:")[1].split()
    assert commands.index("ingest") < commands.index("dedup") < commands.index("filter") \
        < commands.index("tokenize") < commands.index("probe") < commands.index("export")


_NO_TORCH = textwrap.dedent("""
    import sys
    from click.testing import CliRunner
    import mixforge.cli
    assert "torch" not in sys.modules, "import mixforge.cli loaded torch"
    for args in {commands!r}:
        res = CliRunner().invoke(mixforge.cli.main, args)
        assert res.exit_code == 0, (args, res.output)
        assert ("torch" in sys.modules) == {expect_torch!r}, (args, "torch" in sys.modules)
    print("ok")
""")


def _run_python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_stage_commands_never_import_torch(tmp_path):
    commands = [["ingest", "--help"], ["dedup", "exact", "--help"],
                ["dedup", "fuzzy", "--help"], ["filter", "--help"], ["tokenize", "--help"]]
    out = _run_python(_NO_TORCH.format(commands=commands, expect_torch=False))
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
    # the check can see torch: the probe command does load it
    out = _run_python(_NO_TORCH.format(commands=[["probe", "sweep", "--help"]],
                                       expect_torch=True))
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
