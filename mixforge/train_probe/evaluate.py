"""Evaluation: per-domain held-out loss and bits per byte, and named target sets.

Bits per byte makes domains (and tokenizers) comparable: a code domain at 2.1 bytes per
token and a prose domain at 4.0 bytes per token have very different per-token losses for
the same compression. ``bpb = loss_nats / (ln 2 * bytes_per_token)``, with the domain's
bytes per token from the token store's ``store.json`` (bytes of the domain's text over
its tokens, EOS included), i.e. ``loss * tokens / (bytes * ln 2)``.

A target set names a weighted group of domains (``{"code": {"python_code": 1}}``); its
loss and bpb are the weighted means of its domains' figures. ``avg`` (every domain,
equal weights) is always reported.
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
                   f"store; domains: {domains}")
            raise ConfigError(msg)
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            msg = f"target set {name!r} needs weights >= 0, not all zero; got {weights}"
            raise ConfigError(msg)


@torch.no_grad()
def evaluate(model: torch.nn.Module, windows: dict[str, np.ndarray], store: TokenStore,
             targets: dict[str, dict[str, float]] | None = None, batch_size: int = 32,
             device: str | torch.device = "cpu", autocast: bool = False
             ) -> list[dict[str, float]]:
    """Held-out loss and bpb per domain and per target set, one dict per probe.

    Every probe of the (batched) model reads the same held-out windows. Keys:
    ``loss:<domain>``, ``bpb:<domain>``, ``loss:avg``, ``bpb:avg``, and
    ``loss:<target>``/``bpb:<target>`` for each named target set.
    """
    was_training = model.training
    model.eval()
    k = model.k
    out: list[dict[str, float]] = [{} for _ in range(k)]
    for name, win in windows.items():
        total = torch.zeros(k, dtype=torch.float64)
        n_tok = 0
        for s in range(0, len(win), batch_size):
            chunk = torch.from_numpy(win[s:s + batch_size]).to(device)
            x = chunk[:, :-1].unsqueeze(0).expand(k, -1, -1)
            y = chunk[:, 1:].unsqueeze(0).expand(k, -1, -1)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                losses = model.token_losses(x, y)
            total += losses.double().sum((1, 2)).cpu()
            n_tok += y.shape[1] * y.shape[2]
        bpt = store.info(name)["bytes_per_token"]
        for i in range(k):
            loss = float(total[i]) / n_tok
            out[i][f"loss:{name}"] = loss
            out[i][f"bpb:{name}"] = bits_per_byte(loss, bpt)
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
