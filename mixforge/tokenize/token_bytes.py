"""Token -> UTF-8 byte length: the denominator of exact bits per byte.

Bits per byte divides the loss of the tokens scored by the bytes *those* tokens stand
for. A domain's average bytes per token hides that its documents differ (an ASCII and a
CJK document of one domain differ ~3x), so evaluation sums this table over the target
positions it actually scores (train_probe/heldout.py). The table is built once, at
tokenize time, and stored as ``token_bytes.npy`` (int32, one entry per id below
``vocab_size``) beside ``store.json``; ``store.json`` names the ``method``.

How each kind of tokenizer is counted (``method``):

- ``byte-level`` (GPT-2/tiktoken-style byte-level BPE: a ``ByteLevel`` pre-tokenizer or
  decoder, or a tiktoken encoding): exact. A token is a byte string (each character of a
  ``tokenizer.json`` piece is one byte in GPT-2's byte-to-character alphabet), so its
  length is its byte count; a document's tokens (without specials) sum to the document's
  UTF-8 bytes.
- ``metaspace`` (SentencePiece-style: ``▁`` for a space, ``<0xHH>`` byte-fallback
  pieces): ``▁`` counts as the one byte of a space, ``<0xHH>`` as one byte, anything else
  as its UTF-8 length. Exact except for the space a tokenizer with ``add_prefix_space``
  adds before the first word: +1 byte a document (or a pre-tokenized word) that the text
  does not hold.
- ``wordpiece`` (``##`` continuation pieces): ``##`` is stripped; the space between words
  is not a token, so a document's count is short by its number of word gaps. Approximate.
- ``piece-utf8`` (anything else, e.g. a WordLevel model): the UTF-8 length of each
  piece's string. Approximate.

Special tokens (added tokens marked special, tiktoken special tokens, and ids no piece
maps to) are 0 bytes: they stand for no text. Evaluation excludes positions whose target
is 0 bytes (EOS, BOS) from bits per byte, as careful evaluations do (nanochat's
``evaluate_bpb``); the plain per-token loss still counts them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..rundir import atomic_path
from .loading import LoadedTokenizer, bytes_to_unicode

TOKEN_BYTES = "token_bytes.npy"
EXACT_METHODS = ("byte-level",)
_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")


def _components(node: dict | None) -> list[dict]:
    """A pre-tokenizer/decoder/normalizer node and, for a Sequence, its members."""
    if not node:
        return []
    out = [node]
    for key in ("pretokenizers", "decoders", "normalizers"):
        for child in node.get(key) or []:
            out += _components(child)
    return out


def _scheme(model_json: dict) -> str:
    types = {c.get("type") for part in ("pre_tokenizer", "decoder")
             for c in _components(model_json.get(part))}
    model = model_json.get("model") or {}
    if "ByteLevel" in types:
        return "byte-level"
    if "Metaspace" in types or model.get("byte_fallback") or any(
            c.get("type") == "Replace" and "▁" in json.dumps(c.get("pattern", ""))
            for c in _components(model_json.get("decoder"))):
        return "metaspace"
    if model.get("type") == "WordPiece":
        return "wordpiece"
    return "piece-utf8"


def _piece_len(piece: str, scheme: str, inverse: dict[str, int]) -> int:
    if scheme == "byte-level":
        try:
            return len(bytes(inverse[ch] for ch in piece))
        except KeyError:  # a piece outside the byte alphabet (a malformed vocabulary)
            return len(piece.encode("utf-8"))
    if scheme == "metaspace":
        if _BYTE_PIECE.fullmatch(piece):
            return 1
        return len(piece.replace("▁", " ").encode("utf-8"))
    if scheme == "wordpiece" and piece.startswith("##"):
        piece = piece[2:]
    return len(piece.encode("utf-8"))


def token_byte_lengths(tok: LoadedTokenizer, vocab_size: int | None = None
                       ) -> tuple[np.ndarray, str]:
    """The UTF-8 bytes each token id stands for, and the counting method (see the
    module docstring).

    Returns ``(lengths, method)``: ``lengths`` is int32 of shape ``(vocab_size,)``
    (default: the tokenizer's), 0 for special tokens and unused ids.

    Examples
    --------
    >>> lengths, method = token_byte_lengths(load_tokenizer("tiktoken:gpt2"))  # doctest: +SKIP
    >>> method, int(lengths[220])  # doctest: +SKIP
    ('byte-level', 1)
    """
    size = vocab_size or tok.vocab_size
    out = np.zeros(size, dtype=np.int32)
    if tok.tiktoken is not None:
        for piece, i in tok.tiktoken.mergeable_ranks.items():
            if i < size:
                out[i] = len(piece)
        return out, "byte-level"
    model_json = tok.spec_json
    scheme = _scheme(model_json)
    inverse = {c: b for b, c in bytes_to_unicode().items()}
    vocab = (model_json.get("model") or {}).get("vocab") or {}
    items = (((p[0], i) for i, p in enumerate(vocab)) if isinstance(vocab, list)  # Unigram
             else vocab.items())
    for piece, i in items:
        if 0 <= i < size:
            out[i] = _piece_len(piece, scheme, inverse)
    for added in model_json.get("added_tokens", []):
        i = added["id"]
        if 0 <= i < size:
            out[i] = 0 if added.get("special", True) else len(added["content"].encode())
    return out, scheme


def write_token_bytes(store_dir: str | Path, lengths: np.ndarray) -> Path:
    """Write ``token_bytes.npy`` into a store folder atomically; return its path."""
    path = Path(store_dir) / TOKEN_BYTES
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(lengths, dtype=np.int32))
    return path
