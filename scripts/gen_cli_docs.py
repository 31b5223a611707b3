"""Write docs/cli.md from the CLI's own --help (run: python scripts/gen_cli_docs.py).

tests/test_docs.py fails when docs/cli.md is out of date, so the reference never drifts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

from mixforge.cli import main

OUT = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def commands(group: click.Group, prefix: list[str]):
    """Every command path under ``group``, in the order its --help lists them."""
    yield prefix
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from commands(cmd, [*prefix, name])
        else:
            yield [*prefix, name]


def render() -> str:
    runner = CliRunner()
    parts = ["# CLI reference\n\nGenerated from `--help` by `scripts/gen_cli_docs.py`; "
             "do not edit by hand.\n"]
    for path in commands(main, []):
        res = runner.invoke(main, [*path, "--help"], terminal_width=100)
        title = " ".join(["mixforge", *path])
        parts.append(f"## `{title}`\n\n```text\n{res.output.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.exists() and OUT.read_text() == text else 1)
    OUT.write_text(text)
    print(f"wrote {OUT}")
