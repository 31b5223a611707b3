"""Slow, obvious twins of the mixers' kernels and samplers, to check the fast ones against."""

from __future__ import annotations


def naive_gather(src, starts, lens, dst, dst_pos, eos=None) -> None:
    """One document at a time, in Python."""
    for s, n, p in zip(starts, lens, dst_pos, strict=True):
        for j in range(int(n)):
            dst[int(p) + j] = src[int(s) + j]
        if eos is not None:
            dst[int(p) + int(n)] = eos


def naive_closest_prefix(cum, target, limit) -> int:
    """Try every prefix length; keep the closest to target within limit (shortest on ties)."""
    best, best_k = abs(target), 0
    for k in range(1, len(cum) + 1):
        total = int(cum[k - 1])
        if total > limit:
            break
        if abs(total - target) < best:
            best, best_k = abs(total - target), k
    return best_k
