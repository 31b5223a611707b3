"""MinHash signatures over Arrow string buffers, datasketch-compatible, and LSH parameters.

One Numba call per record batch turns normalized text into token-``n``-gram shingles
(64-bit hashes) and their MinHash signature. The permutations are datasketch 2.x's
bijective affine schemes, with ``(a, b)`` drawn exactly as
``datasketch.MinHash(num_perm, seed, scheme=...)`` draws them, so for the same shingle
hashes our signatures equal datasketch's bit for bit (tested for both):

- ``affine32`` (datasketch's default, ours too): the 64-bit shingle hash is folded to 32
  bits (``h ^ h >> 32``), then ``fmix32(h) * a_k + b_k mod 2^32``; uint32 signatures.
- ``affine64``: ``fmix64(h) * a_k + b_k mod 2^64``; uint64 signatures.

Why affine32 by default: AVX2 multiplies and takes minima of eight 32-bit lanes at once
but has no 64-bit SIMD multiply, so the permutation loop runs ~6x faster (measured,
docs/benchmarks.md). The cost is 32-bit values: two different shingles collide in one
permutation with probability 2^-32, which moves a Jaccard estimate by far less than its
sampling noise (1/sqrt(num_perm) = 0.09). We did not keep datasketch's ``legacy``
scheme (mod 2^61-1, truncated): slower and biased on large sets (datasketch #212).
Signatures never leave the map step: only band hashes are shuffled.

Parameters: (bands, rows) come from a Jaccard threshold the way datasketch's
``_optimal_param`` does (minimize the weighted integrals of false-positive and
false-negative probability over b*r <= num_perm), integrated numerically with numpy
instead of scipy's ``quad`` (same optimum on every threshold we test). Our default weights
are (0.1 false positive, 0.9 false negative), not datasketch's (0.5, 0.5): with 128
permutations at threshold 0.8, (0.5, 0.5) gives 9x13 and catches a pair at Jaccard 0.85
with probability 0.69; (0.1, 0.9) gives 14x9 and catches it with 0.975, and the extra
candidates (0.44 at Jaccard 0.7) are removed by exact verification.

Examples
--------
>>> import pyarrow as pa
>>> p = MinHashParams.from_threshold(0.8, num_perm=128)
>>> (p.bands, p.rows)
(14, 9)
>>> sig, n = signatures(pa.array(["a b c d e f g", "a b c d e f g"]), p)
>>> bool((sig[0] == sig[1]).all()), n.tolist()
(True, [3, 3])
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pyarrow as pa

from ..errors import ConfigError
from . import _kernels as K
from .normalize import NormConfig, normalize, string_buffers

DEFAULT_WEIGHTS = (0.1, 0.9)


Scheme = Literal["affine32", "affine64"]
WIDTH = {"affine32": (32, np.uint32), "affine64": (64, np.uint64)}


def permutations(num_perm: int, seed: int = 1, scheme: Scheme = "affine32",
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The permutation parameters ``(a, b)`` datasketch draws for this seed and scheme.

    Mirrors ``datasketch.MinHash._init_permutations`` for the affine schemes: ``a`` odd
    (a bijection mod 2^w), ``b`` uniform, both from ``np.random.RandomState(seed)``.
    """
    if scheme not in WIDTH:
        msg = f"scheme must be one of {list(WIDTH)}, got {scheme!r}"
        raise ConfigError(msg)
    width, dtype = WIDTH[scheme]
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << (width - 1), num_perm, dtype=dtype) * dtype(2) + dtype(1)
    b = gen.randint(0, 1 << width, num_perm, dtype=dtype)
    return a, b


@lru_cache(maxsize=64)
def optimal_params(threshold: float, num_perm: int,
                   weights: tuple[float, float] = DEFAULT_WEIGHTS) -> tuple[int, int]:
    """(bands, rows) minimizing ``w_fp * FP + w_fn * FN`` for a Jaccard threshold.

    FP is the integral over s in [0, t] of the chance two sets of similarity s share a
    band, ``1 - (1 - s^r)^b``; FN the integral over [t, 1] of the chance they do not.
    Same search as datasketch's ``_optimal_param``, integrated by Simpson's rule.
    """
    if not 0.0 < threshold < 1.0:
        msg = f"threshold must be in (0, 1), got {threshold}"
        raise ConfigError(msg)
    wfp, wfn = weights
    grid = 2001

    def simpson(lo: float, hi: float, r: np.ndarray, b: int, miss: bool) -> np.ndarray:
        s = np.linspace(lo, hi, grid)
        w = np.ones(grid)
        w[1:-1:2], w[2:-1:2] = 4, 2
        p_miss = (1 - s[None, :] ** r) ** b
        f = p_miss if miss else 1 - p_miss
        return (f * w).sum(axis=-1) * (hi - lo) / (3 * (grid - 1))

    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1, dtype=np.float64)[:, None]
        fp = simpson(0.0, threshold, r, b, miss=False)
        fn = simpson(threshold, 1.0, r, b, miss=True)
        err = fp * wfp + fn * wfn
        i = int(np.argmin(err))
        if err[i] < best - 1e-15:
            best, opt = float(err[i]), (b, i + 1)
    return opt


@dataclass(frozen=True)
class MinHashParams:
    """Everything that decides a signature and its bands."""

    num_perm: int = 128
    bands: int = 14
    rows: int = 9
    ngram: int = 5
    seed: int = 1
    scheme: Scheme = "affine32"

    @classmethod
    def from_threshold(cls, threshold: float = 0.8, num_perm: int = 128, ngram: int = 5,
                       seed: int = 1, weights: tuple[float, float] = DEFAULT_WEIGHTS,
                       scheme: Scheme = "affine32") -> MinHashParams:
        b, r = optimal_params(threshold, num_perm, tuple(weights))
        return cls(num_perm, b, r, ngram, seed, scheme)

    def validate(self) -> None:
        if self.num_perm < 1 or self.ngram < 1:
            msg = f"num_perm and ngram must be >= 1, got {self.num_perm}, {self.ngram}"
            raise ConfigError(msg)
        if self.scheme not in WIDTH:
            msg = f"scheme must be one of {list(WIDTH)}, got {self.scheme!r}"
            raise ConfigError(msg)
        if self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm:
            msg = (f"bands x rows = {self.bands} x {self.rows} must be >= 1 and fit in "
                   f"num_perm={self.num_perm}; raise num_perm or lower bands/rows")
            raise ConfigError(msg)


@lru_cache(maxsize=16)
def _perms(num_perm: int, seed: int, scheme: Scheme) -> tuple[np.ndarray, np.ndarray]:
    return permutations(num_perm, seed, scheme)


def signatures(texts: pa.Array | pa.ChunkedArray, params: MinHashParams,
               norm: NormConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(signatures ``(n, num_perm)``, shingle counts ``(n,)``) of a text column.

    Signatures are uint32 (``affine32``) or uint64 (``affine64``).

    ``norm=None`` shingles the text as given; otherwise it is normalized first. A
    document without words has no shingles and an all-ones (empty) signature.
    """
    params.validate()
    arr = normalize(texts, norm) if norm is not None else texts
    offsets, data = string_buffers(arr)
    n = len(offsets) - 1
    a, b = _perms(params.num_perm, params.seed, params.scheme)
    sig = np.empty((n, params.num_perm), a.dtype)
    counts = np.empty(n, np.int64)
    K._minhash_from_text(offsets, data, params.ngram, a, b, sig, counts)
    return sig, counts


def signatures_from_hashes(hashes: np.ndarray, offsets: np.ndarray, num_perm: int,
                           seed: int = 1, scheme: Scheme = "affine32") -> np.ndarray:
    """Signatures of pre-computed shingle hashes (``offsets`` delimit the documents)."""
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[-1] > len(hashes):
        msg = "offsets must be a 1-d array ending at or before len(hashes)"
        raise ConfigError(msg)
    a, b = _perms(num_perm, seed, scheme)
    sig = np.empty((len(offsets) - 1, num_perm), a.dtype)
    K._minhash_from_hashes(hashes, offsets, a, b, sig)
    return sig


def band_hashes(sig: np.ndarray, params: MinHashParams) -> np.ndarray:
    """``(n, bands)`` uint64: a hash of each band's ``rows`` signature values."""
    sig = np.ascontiguousarray(sig)
    out = np.empty((sig.shape[0], params.bands), np.uint64)
    K._band_hashes(sig, params.bands, params.rows, out)
    return out


def jaccard_estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Fraction of equal signature positions (row-wise)."""
    return (np.asarray(sig_a) == np.asarray(sig_b)).mean(axis=-1)
