"""The four kinds of error mixforge raises, after dolma's: config, input (fail this shard),
retryable, fatal. Each message names the file, the row or key, and the next action."""

from __future__ import annotations


class MixforgeError(Exception):
    """Base of every error mixforge raises on purpose."""


class ConfigError(MixforgeError, ValueError):
    """A bad option or config key; raised before any work starts."""


class InputError(MixforgeError):
    """Bad input data in one shard: names the file and the line or row."""

    def __init__(self, path: str, where: int | None, reason: str, detail: str = "") -> None:
        self.path, self.where, self.reason, self.detail = str(path), where, reason, detail
        loc = f"{self.path}" + (f", line/row {where}" if where is not None else "")
        msg = (
            f"{loc}: {reason}{': ' + detail if detail else ''}. "
            "Fix the input, or pass --on-error reject to count it and write it to the rejects file."
        )
        super().__init__(msg)

    def __reduce__(self):  # keep the fields when a worker process sends it back
        return (type(self), (self.path, self.where, self.reason, self.detail))


class RetryableError(MixforgeError):
    """A transient failure (I/O, a lost worker); the executor may run the shard again."""


class FatalError(MixforgeError):
    """Stop the run: continuing could corrupt outputs."""
