"""The docs follow the code: the CLI reference is regenerated from --help."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cli_reference_is_up_to_date():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts/gen_cli_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "docs/cli.md").read_text() == gen.render(), (
        "docs/cli.md is stale: run `python scripts/gen_cli_docs.py`")


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_example_configs_are_valid(tmp_path):
    import shutil

    from mixforge.pipeline import load_pipeline

    for example in sorted((ROOT / "examples").glob("*.yaml")):
        copy = tmp_path / "examples" / example.name
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(example, copy)
        cfg = load_pipeline(copy)  # every key and type checked
        assert cfg.ingest is not None and cfg.ingest.inputs, example.name


def test_readme_layout_shows_every_subpackage():
    layout = (ROOT / "README.md").read_text().split("## Layout")[1].split("```")[1]
    packages = [p.name for p in sorted((ROOT / "mixforge").iterdir())
                if (p / "__init__.py").exists()]
    missing = [p for p in packages if f"  {p}/" not in layout]
    assert packages and not missing, f"README's Layout misses {missing}"


def test_the_example_pipeline_filters_the_local_corpus_with_its_policy(tmp_path):
    import shutil

    from mixforge.corpus import FILTER_POLICY
    from mixforge.pipeline import load_pipeline

    copy = tmp_path / "pipeline.yaml"
    shutil.copy(ROOT / "examples" / "pipeline.yaml", copy)
    assert load_pipeline(copy).filter.policy == FILTER_POLICY
