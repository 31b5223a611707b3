"""`mixforge`: a thin command line over the Python API, one module per verb.

Every verb explains itself with --help; options come from the same config dataclasses a
pipeline file uses (`mixforge.config.click_options`). A verb's module is imported only
when that verb runs (or --help lists it), and imports its stage's code inside the
command, so ``mixforge ingest --help`` never loads torch. Library code never imports
this package.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from ..errors import ConfigError, InputError, MixforgeError
from ..layout import PIPELINE
from ._common import CONTEXT

# verb -> module in this package, in the order --help lists them: the pipeline's stages
# (from `mixforge.layout.PIPELINE`, the list `mixforge run` runs), then the rest.
_STAGE_VERBS = tuple(dict.fromkeys(s.command.split()[0] for s in PIPELINE))
VERBS: dict[str, str] = {**{v: v for v in _STAGE_VERBS},
                         **{v: v for v in ("corpus", "stats", "run", "report", "demo")}}


class LazyGroup(click.Group):
    """A group whose subcommands load on first use; mixforge's errors become one line.

    A `ConfigError` exits with code 2, any other mixforge error with 1, Ctrl-C with 130
    (one line naming what was interrupted: finished shards are kept, a rerun resumes).
    """

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *(c for c in self.commands if c not in self.lazy)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy:
            module = importlib.import_module(f"{__name__}.{self.lazy[name]}")
            self.add_command(module.command, name)
        return self.commands.get(name)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        args = [a for a in sys.argv[1:] if not a.startswith("-")][:2]
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            sub = self.get_command(ctx, args[0]) if args and args[0] in self.lazy else None
            what = " ".join(args[:2] if isinstance(sub, click.Group) else args[:1]) or "mixforge"
            click.echo(f"mixforge: interrupted during `{what}`; finished shards are kept, "
                       "rerun the same command to resume", err=True)
            sys.exit(130)
        except ConfigError as e:
            click.echo(f"mixforge: config error: {e}", err=True)
            sys.exit(2)
        except (InputError, MixforgeError) as e:
            click.echo(f"mixforge: error: {e}", err=True)
            sys.exit(1)


def _stages_help() -> str:
    width = max(len(s.command) for s in PIPELINE)
    lines = [f"  {s.command:<{width}}  {s.summary}" for s in PIPELINE]
    return ("mixforge: curate corpora into token shards and find the best data mix.\n\n"
            "\b\nThe stages, in the order `mixforge run` runs them:\n" + "\n".join(lines)
            + "\n\nAround them: corpus (the local demo corpus), stats, report, demo.")


@click.group(cls=LazyGroup, lazy=VERBS, context_settings=CONTEXT, help=_stages_help())
@click.version_option(package_name="mixforge")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


__all__ = ["CONTEXT", "LazyGroup", "main"]
