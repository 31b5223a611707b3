"""Slow, obvious twins of the curate kernels (pure Python ints, sets and dicts)."""

from __future__ import annotations

import unicodedata

M64 = (1 << 64) - 1
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
MUL2 = 0x9E3779B97F4A7C15
SHINGLE_SEED, BAND_SEED = 0x243F6A8885A308D3, 0x13198A2E03707344
FM1, FM2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53
ASCII_SPACE = " \t\n\v\f\r"


def fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * FM1) & M64
    h ^= h >> 33
    h = (h * FM2) & M64
    return h ^ (h >> 33)


def normalize(text: str, nfkc=True, lowercase=True, punctuation=True, whitespace=True) -> str:
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    if lowercase:
        text = text.lower()
    if punctuation:
        out, prev = [], False
        for c in text:
            p = unicodedata.category(c)[0] in "PS"
            if p and not prev:
                out.append(" ")
            elif not p:
                out.append(c)
            prev = p
        text = "".join(out)
    if whitespace:
        text = " ".join(text.split())
    return text


# scripts written without spaces: each code point is a token of its own
UNSPACED = [(0x0E00, 0x0FFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x19E0, 0x19FF),
            (0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B),
            (0x3040, 0x30FF), (0x3100, 0x312F), (0x31A0, 0x31BF), (0x31F0, 0x31FF),
            (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F),
            (0xF900, 0xFAFF), (0xFF66, 0xFF9F), (0x20000, 0x3FFFF)]


def unspaced(c: str) -> bool:
    return any(lo <= ord(c) <= hi for lo, hi in UNSPACED)


def words(text: str) -> list[bytes]:
    """Tokens: runs of non-ASCII-whitespace characters, each character of a script
    written without spaces being a token of its own."""
    out, cur = [], []
    for c in text:
        if c in ASCII_SPACE or unspaced(c):
            if cur:
                out.append("".join(cur).encode())
                cur = []
            if unspaced(c):
                out.append(c.encode())
        else:
            cur.append(c)
    if cur:
        out.append("".join(cur).encode())
    return out


def fnv1a(b: bytes) -> int:
    h = FNV_OFFSET
    for c in b:
        h = ((h ^ c) * FNV_PRIME) & M64
    return h


def shingles(text: str, n: int) -> list[int]:
    wh = [fmix64(fnv1a(w)) for w in words(text)]
    grams = [wh[i:i + n] for i in range(len(wh) - n + 1)] if len(wh) >= n else (
        [wh] if wh else [])
    out = []
    for g in grams:
        s = SHINGLE_SEED
        for w in g:
            s = fmix64(s ^ w)
        out.append(s)
    return out


def doc_hash128(text: str) -> tuple[int, int]:
    b = text.encode()
    h1, h2 = FNV_OFFSET, 0
    for c in b:
        h1 = ((h1 ^ c) * FNV_PRIME) & M64
        h2 = ((h2 + c + 1) * MUL2) & M64
    n = len(b)
    return fmix64(h1 ^ n), fmix64(h2 ^ ((n * FM2) & M64))


RAW_KEY_MARK = 0x5BD1E9955BD1E995


def exact_key(text: str, **flags) -> tuple[int, int]:
    """The exact-dedup key: of the normalized text, or of the raw text when that is empty."""
    norm = normalize(text, **flags)
    if norm:
        return doc_hash128(norm)
    hi, lo = doc_hash128(text)
    return hi, lo ^ RAW_KEY_MARK


M32 = (1 << 32) - 1


def fmix32(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    return h ^ (h >> 16)


def minhash(hashes: list[int], a: list[int], b: list[int], scheme: str = "affine32",
            ) -> list[int]:
    if scheme == "affine64":
        mask, xs = M64, [fmix64(h) for h in hashes]
    else:
        mask, xs = M32, [fmix32((h ^ (h >> 32)) & M32) for h in hashes]
    sig = [mask] * len(a)
    for x in xs:
        for k in range(len(a)):
            sig[k] = min(sig[k], (x * int(a[k]) + int(b[k])) & mask)
    return sig


def band_hashes(sig: list[int], bands: int, rows: int) -> list[int]:
    out = []
    for bi in range(bands):
        h = fmix64(BAND_SEED ^ bi)
        for r in range(bi * rows, (bi + 1) * rows):
            h = fmix64(h ^ sig[r])
        out.append(h)
    return out


def components(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """The smallest member of each element's connected component (BFS)."""
    adj: dict[int, set[int]] = {i: set() for i in range(n)}
    for u, v in edges:
        adj[u].add(v)
        adj[v].add(u)
    comp = [-1] * n
    for s in range(n):
        if comp[s] >= 0:
            continue
        seen, todo = {s}, [s]
        while todo:
            x = todo.pop()
            for y in adj[x] - seen:
                seen.add(y)
                todo.append(y)
        for x in seen:
            comp[x] = min(seen)
    return comp


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0
