"""Evaluation: per-domain held-out loss and bits per byte, and named target sets.

Bits per byte makes domains (and tokenizers) comparable: a code domain at 2.1 bytes per
token and a prose domain at 4.0 bytes per token have very different per-token losses for
the same compression. Exact: ``bpb = sum(loss of the scored targets) / (ln 2 * sum(their
UTF-8 bytes))``, the bytes summed from the store's token -> byte-length table
(``token_bytes.npy``, see tokenize/token_bytes.py) over exactly the target positions
scored in each window. Targets of 0 bytes (EOS/BOS and other special tokens) are left
out of bpb, numerator and denominator (as nanochat's ``evaluate_bpb`` does); ``loss:``
(nats per token) still averages over every position. A store without the table (made
before it existed) falls back to the domain's average bytes per token from
``store.json``: approximate (it misstated per-domain bpb by -7% to +4% on the demo run),
and the sweep's ``bpb_bytes`` column says ``store-average``.

``bpb_se:<name>`` is the standard error of the bpb, treating evaluation windows as
independent samples (delta method for a ratio of sums); windows of one document are
correlated, so it is a lower bound. ``eval_tokens:<name>`` is the tokens scored.

A target set names a weighted group of domains (``{"code": {"python_code": 1}}``); its
loss and bpb are the weighted means of its domains' figures. ``avg`` (every domain,
equal weights) is always reported. Data targets (evaluation-only stores, ``extra``) are
scored like domains and are not part of ``avg``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import ConfigError
from ..tokenize.store import TokenStore


def bits_per_byte(loss_nats: float, bytes_per_token: float) -> float:
    """Nats per token -> bits per byte.

    Examples
    --------
    >>> round(bits_per_byte(math.log(2) * 3.0, 3.0), 6)
    1.0
    """
    return loss_nats / (math.log(2) * bytes_per_token)


def check_targets(targets: dict[str, dict[str, float]], domains: list[str]) -> None:
    """Every target set names known domains with weights >= 0, not all zero."""
    for name, weights in targets.items():
        if name in domains or name == "avg":
            msg = f"target set {name!r} has the name of a domain or of 'avg'; rename it"
            raise ConfigError(msg)
        unknown = sorted(set(weights) - set(domains))
        if unknown:
            msg = (f"target set {name!r} names domain {unknown[0]!r}, not in the token "
                   f"store; domains: {domains} (for an evaluation set from data, write "
                   f"{name}=./PATH)")
            raise ConfigError(msg)
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            msg = f"target set {name!r} needs weights >= 0, not all zero; got {weights}"
            raise ConfigError(msg)


def thin_figures(row: dict, min_tokens: int | None = None) -> list[str]:
    """Lines naming each domain/target of a result row scored on too few tokens, with its
    standard error (``eval_tokens:<name>`` below ``MIN_EVAL_TOKENS``)."""
    from .data import MIN_EVAL_TOKENS

    floor = min_tokens or MIN_EVAL_TOKENS
    out = []
    for key, n in row.items():
        if key.startswith("eval_tokens:") and n is not None and n < floor:
            name = key.split(":", 1)[1]
            se = row.get(f"bpb_se:{name}")
            se_text = (f"standard error {se:.3f} bpb" if se is not None and math.isfinite(se)
                       else "no standard error: one window")
            out.append(f"{name}: bpb rests on {int(n):,} tokens ({se_text}); for more "
                       "held-out text raise --eval-tokens, --heldout-tokens, "
                       "--heldout-frac or --heldout-docs (or the domain is that small)")
    return out


def _bpb_and_se(loss_w: np.ndarray, bytes_w: np.ndarray) -> tuple[float, float]:
    """bpb of summed per-window losses (nats) over summed bytes, and its standard error."""
    total = float(bytes_w.sum())
    if total <= 0:
        return float("nan"), float("nan")
    r = float(loss_w.sum()) / total
    n = len(loss_w)
    se = (math.sqrt(float(((loss_w - r * bytes_w) ** 2).sum()) / (n * (n - 1)))
          / (total / n)) if n > 1 else float("nan")
    return r / math.log(2), se / math.log(2)


@torch.no_grad()
def evaluate(model: torch.nn.Module, windows: dict[str, np.ndarray], store: TokenStore,
             targets: dict[str, dict[str, float]] | None = None, batch_size: int = 32,
             device: str | torch.device = "cpu", autocast: bool = False,
             extra: dict[str, np.ndarray] | None = None) -> list[dict[str, float]]:
    """Held-out loss and bpb per domain, per data target and per target set, one dict
    per probe.

    ``windows``: domain -> (n, T+1) int64 held-out windows; ``extra``: data target ->
    windows of its evaluation-only store (same tokenizer as ``store``). Every probe of
    the (batched) model reads the same windows. Keys: ``loss:<name>`` (nats per token),
    ``bpb:<name>`` (bits per UTF-8 byte, exact when the store has ``token_bytes.npy``),
    ``bpb_se:<name>`` and ``eval_tokens:<name>`` for every domain and data target, and
    ``loss:``/``bpb:`` of ``avg`` (mean over domains) and of each named target set.
    """
    was_training = model.training
    model.eval()
    k = model.k
    out: list[dict[str, float]] = [{} for _ in range(k)]
    table = store.token_bytes
    tb = torch.from_numpy(table.astype(np.int64)) if table is not None else None
    for name, win in {**windows, **(extra or {})}.items():
        total = torch.zeros(k, dtype=torch.float64)
        n_tok = 0
        loss_w = torch.zeros(k, len(win), dtype=torch.float64)
        bytes_w = torch.zeros(len(win), dtype=torch.float64)
        for s in range(0, len(win), batch_size):
            chunk = torch.from_numpy(win[s:s + batch_size]).to(device)
            x = chunk[:, :-1].unsqueeze(0).expand(k, -1, -1)
            y = chunk[:, 1:].unsqueeze(0).expand(k, -1, -1)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                losses = model.token_losses(x, y)
            losses = losses.double().cpu()  # (k, b, T)
            total += losses.sum((1, 2))
            n_tok += y.shape[1] * y.shape[2]
            if tb is not None:
                nbytes = tb[chunk[:, 1:].cpu()].double()  # (b, T): bytes of each target
                loss_w[:, s:s + len(chunk)] = (losses * (nbytes > 0)).sum(2)
                bytes_w[s:s + len(chunk)] = nbytes.sum(1)
            else:
                loss_w[:, s:s + len(chunk)] = losses.sum(2)
        if tb is None:  # approximate: the domain's average bytes per token
            info = store.meta["domains"].get(name)
            if info is None:
                msg = (f"data target {name!r}: the token store {store.path} has no "
                       "token_bytes.npy, so its bytes cannot be counted; tokenize again")
                raise ConfigError(msg)
            bytes_w[:] = (win.shape[1] - 1) * info["bytes_per_token"]
        for i in range(k):
            bpb, se = _bpb_and_se(loss_w[i].numpy(), bytes_w.numpy())
            out[i][f"loss:{name}"] = float(total[i]) / n_tok
            out[i][f"bpb:{name}"] = bpb
            out[i][f"bpb_se:{name}"] = se
            out[i][f"eval_tokens:{name}"] = float(n_tok)
    names = list(windows)
    sets = {"avg": dict.fromkeys(names, 1.0), **(targets or {})}
    for row in out:
        for tname, weights in sets.items():
            wsum = sum(weights.values())
            for metric in ("loss", "bpb"):
                row[f"{metric}:{tname}"] = sum(w * row[f"{metric}:{d}"]
                                               for d, w in weights.items()) / wsum
    if was_training:
        model.train()
    return out
