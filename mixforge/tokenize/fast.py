"""The fast encoders, with `tokenizers`' ids: the engine choice and its load-time proof.

Three engines, tried in this order, the first proven identical wins (`build_encoder`):

* ``native`` (`native.py`, `_kernels.py`): Numba matchers of the common split regexes
  (GPT-2, cl100k/GPT-4, Llama 3) and tiktoken's merge algorithm, over the UTF-8 buffers
  of the Arrow text column: no Python per document, no string conversion. 2.6-6.6x
  tiktoken per core on the benchmark corpora (docs/benchmarks.md). Takes the recipes
  below whose regex it implements and in which no added token is matched in text.
* ``tiktoken``: the same recipe in tiktoken's Rust core (any regex, added tokens).
* ``tokenizers``: the reference itself, for everything else.

A byte-level BPE in a ``tokenizer.json`` (a regex split, GPT-2's byte-to-character
alphabet, merges in priority order) is the same machine as a tiktoken encoding: the
merges become tiktoken ranks (a merge's rank is its position, so tiktoken's "merge the
adjacent pair whose concatenation has the lowest rank" picks the same pair as
`tokenizers`' "merge the pair with the lowest merge rank"), the split regex becomes
tiktoken's pattern, added tokens become tiktoken special tokens, and an array maps ranks
back to the tokenizer's ids when the two differ.

The two algorithms can still disagree in corner cases (a concatenation that is in the
vocabulary but was produced by another pair; tiktoken's whole-piece lookup when the
tokenizer does not set ``ignore_merges``; regex dialects: Oniguruma vs fancy-regex). So
the equivalence is *proven at load time*: every vocabulary token, encoded alone, must
give itself in `tokenizers` (~0.5 s for a 65k vocabulary), and a sample of the real
documents plus planted multilingual, emoji, code and whitespace text must encode to the
same ids in both engines (for a tiktoken source, the native engine is checked against
tiktoken itself the same way). Anything unsupported or any difference means the
`tokenizers` engine is used instead; `Encoder.engine` and `Encoder.reason` say which
and why, and the stage records both in ``store.json``.

The tiktoken engine gets its speed from fewer, bigger calls: each thread joins its
documents with a private separator (an extra special token of ASCII control characters,
so ASCII text stays compact; checked absent from the text) and encodes the whole chunk
in one call to tiktoken's Rust core, which returns a uint32 buffer (no Python int per
token) and releases the GIL. Special tokens split the
text before the regex runs, so no pre-token crosses a document boundary: the ids are
those of encoding each document alone. Measured on the real corpus, 2 cores: see
docs/benchmarks.md (## tokenize).

Special-token strings inside a document (a literal ``<|endoftext|>`` in a web page) are
ordinary text by default (``specials="text"``), as nanoGPT's and llm.c's data preparation
do (tiktoken's ``encode_ordinary``): a document cannot inject a document boundary. The
reference is `tokenizers` with ``Tokenizer.encode_special_tokens = True`` (what
transformers calls ``split_special_tokens``): added tokens marked ``special`` are not
matched in text, added tokens that are not special (vocabulary extensions) still are.
(``encode(..., add_special_tokens=False)`` does *not* do this: it only skips the
post-processor's BOS/EOS.) ``specials="control"`` matches them as control tokens, as plain
``Tokenizer.encode`` does.

Lone surrogates (possible in a Python ``str``, never in Arrow) are refused, as
`tokenizers` refuses them (it raises ``TypeError``; tiktoken would silently replace them
with U+FFFD, which would change the ids): the encoder raises `InputError` naming the
document.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

from ..errors import ConfigError, InputError
from . import tokenizer_cache
from .loading import LoadedTokenizer, TiktokenRecipe, bytes_to_unicode

log = logging.getLogger(__name__)

Engine = Literal["auto", "native", "tiktoken", "tokenizers"]
Specials = Literal["text", "control"]
SPECIALS = ("text", "control")
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
SEPARATOR = "\x00\x1f<mixforge-document-end>\x1f\x00"  # ASCII: keeps ASCII text compact
# Text planted into every load-time check, beside the caller's sample: scripts, emoji
# (with skin tones and ZWJ sequences), code, long and mixed whitespace, digits, contractions.
PROBES = [
    "Hello, world! It's 2024; we've got 1234567 reasons.\n\n\tTabs\r\nand CRLF  ",
    "日本語のテキストと中文文本，한국어 텍스트。Ελληνικά, русский, العربية, עברית, हिन्दी",
    "Emoji 😀👍🏽👨‍👩‍👧‍👦 🇫🇷 ❤️ and combining e\u0301 a\u0308 \u200d\ufeff",
    "def f(x: int) -> int:\n    return x ** 2  # square\n\n\n\nclass A:\n\tpass\n",
    "    leading and trailing spaces    \n\n   \u00a0nbsp\u2003em-space\u3000ideographic",
    "I'M SHOUTING, THEY'RE HERE, DON'T. 3.14159 1,000,000 0x1F 1e-9 ½ ² ٣",
    "a" * 300 + " " + "ab" * 200 + " " + "!?" * 100,
    "",
    " ",
    "\n",
]


@dataclass
class Compat:
    """How a tokenizer.json maps onto tiktoken (or why it does not)."""

    recipe: TiktokenRecipe | None
    id_map: np.ndarray | None  # rank -> id, None when ranks are the ids
    normalizer: bool
    reason: str
    control: frozenset[str] = frozenset()  # recipe special tokens that are control tokens


def _pattern_of(pre: dict | None) -> tuple[str | None, str]:
    """The split regex of a byte-level pre-tokenizer, or None and why not."""
    if pre is None:
        return None, "no pre-tokenizer (not a byte-level BPE)"
    kind = pre.get("type")
    if kind == "ByteLevel":
        if pre.get("add_prefix_space"):
            return None, "ByteLevel add_prefix_space=true is not supported by the fast path"
        if not pre.get("use_regex", True):
            return None, "ByteLevel without a split regex"
        return GPT2_PATTERN, "ByteLevel (GPT-2 split regex)"
    if kind == "Sequence":
        steps = pre.get("pretokenizers", [])
        if (len(steps) == 2 and steps[0].get("type") == "Split"
                and steps[1].get("type") == "ByteLevel"):
            split, bl = steps
            if bl.get("add_prefix_space") or bl.get("use_regex", True):
                return None, "ByteLevel after Split must have add_prefix_space and use_regex off"
            if split.get("behavior") != "Isolated" or split.get("invert"):
                return None, f"Split behavior {split.get('behavior')} is not supported"
            pat = split.get("pattern", {})
            if "Regex" in pat:
                return pat["Regex"], "Split(regex, isolated) + ByteLevel"
            if "String" in pat:
                return re.escape(pat["String"]), "Split(string, isolated) + ByteLevel"
        return None, (f"pre-tokenizer sequence {[s.get('type') for s in steps]} is not one "
                      "Split + ByteLevel")
    return None, f"pre-tokenizer {kind} is not byte-level"


def _merges(model: dict) -> list[tuple[str, str]]:
    out = []
    for m in model.get("merges", []):
        a, b = (m if isinstance(m, list) else m.split(" ", 1))
        out.append((a, b))
    return out


def tiktoken_compat(tok: LoadedTokenizer) -> Compat:
    """Build the tiktoken recipe of a `tokenizers` byte-level BPE, or say why not."""
    if tok.tiktoken is not None:
        return Compat(tok.tiktoken, None, False, "tiktoken encoding (native)",
                      frozenset(tok.tiktoken.special_tokens))
    data = tok.spec_json
    model = data.get("model") or {}

    def no(why: str) -> Compat:
        return Compat(None, None, False, why)

    if model.get("type") != "BPE":
        return no(f"model {model.get('type')} is not BPE")
    if model.get("dropout"):
        return no(f"BPE dropout={model['dropout']} is random; the fast path is deterministic")
    for key in ("continuing_subword_prefix", "end_of_word_suffix", "byte_fallback"):
        if model.get(key):
            return no(f"BPE option {key}={model[key]!r} is not supported by the fast path")
    pattern, why = _pattern_of(data.get("pre_tokenizer"))
    if pattern is None:
        return no(why)
    norm = data.get("normalizer")
    has_norm = bool(norm) and not (norm.get("type") == "Sequence" and not norm.get("normalizers"))
    added = data.get("added_tokens", [])
    for t in added:
        if t.get("lstrip") or t.get("rstrip") or t.get("single_word"):
            return no(f"added token {t['content']!r} uses lstrip/rstrip/single_word")
    contents = sorted(t["content"] for t in added)
    for a, b in itertools.pairwise(contents):
        if b.startswith(a):  # tiktoken's special regex is leftmost-first, tokenizers' longest
            return no(f"added token {a!r} is a prefix of {b!r}")
    if has_norm:
        hf_norm = tok.hf.normalizer
        changed = [c for c in contents if hf_norm.normalize_str(c) != c]
        if changed:
            return no(f"the normalizer changes added token {changed[0]!r}")
    u2b = {c: b for b, c in bytes_to_unicode().items()}
    vocab: dict[str, int] = model.get("vocab", {})
    missing = [c for c in u2b if c not in vocab]
    if missing:
        return no(f"{len(missing)} of the 256 byte characters are not in the vocabulary")

    # one C-level translate per token: the alphabet's characters -> their bytes (as
    # latin-1), every other character below 256 -> U+0100, which latin-1 cannot encode
    trans = {ord(c): b for c, b in u2b.items()}
    trans.update({cp: 0x100 for cp in range(256) if cp not in trans})

    def to_bytes(s: str) -> bytes | None:
        try:
            return s.translate(trans).encode("latin-1")
        except UnicodeEncodeError:
            return None

    merges = _merges(model)
    results: list[tuple[bytes, int]] = []
    seen: set[str] = set()
    for a, b in merges:
        t = a + b
        if t in seen:
            return no(f"two merges produce {t!r}")
        seen.add(t)
        if t not in vocab:
            return no(f"merge result {t!r} is not in the vocabulary")
        tb = to_bytes(t)
        if tb is None:
            return no(f"merge result {t!r} is not byte-level")
        results.append((tb, vocab[t]))
    base = [(bytes([b]), vocab[c]) for c, b in u2b.items()]
    specials = {t["content"]: t["id"] for t in added}
    merge_ids = np.array([i for _, i in results], dtype=np.int64)
    monotonic = bool(np.all(np.diff(merge_ids) > 0)) if len(merge_ids) > 1 else True
    if monotonic:  # ranks can be the ids themselves: no mapping pass
        ranks = dict(base)
        ranks.update(dict(results))
        id_map = None
    else:
        ranks = {b: r for r, (b, _) in enumerate(base)}
        ranks.update({b: 256 + r for r, (b, _) in enumerate(results)})
        n = 256 + len(results)
        id_map = np.array([i for _, i in base] + [i for _, i in results]
                          + list(specials.values()), dtype=np.uint32)
        specials = {c: n + j for j, c in enumerate(specials)}
    recipe = TiktokenRecipe(f"mixforge-{tok.fingerprint[:12]}", pattern, ranks, specials)
    return Compat(recipe, id_map, has_norm,
                  f"{why}; {len(results):,} merges" + ("" if monotonic else "; id map"),
                  frozenset(tok.control_tokens()))


def _whole_token_check(tok: LoadedTokenizer, recipe: TiktokenRecipe) -> str | None:
    """tiktoken returns a vocabulary token whole when a pre-token equals it; check that
    `tokenizers` does too for every merge result (else name the first that differs).

    One `Model.tokenize` call per token: ~2-4 us each (an `encode_batch_fast` of all
    tokens measured slower: 0.04-0.09 s vs 0.016-0.04 s for 8k tokens)."""
    if tok.spec_json.get("model", {}).get("ignore_merges"):
        return None  # tokenizers then looks whole pieces up first, as tiktoken does
    b2u = bytes_to_unicode()
    model = tok.hf.model
    for piece in recipe.mergeable_ranks:
        if len(piece) < 2:
            continue
        s = "".join(b2u[x] for x in piece)
        if len(model.tokenize(s)) != 1:
            return f"vocabulary token {s!r} does not encode to itself"
    return None


@dataclass
class TokenizerParts:
    """What the engines derive from the tokenizer file alone, whatever the documents:
    built once per tokenizer, then read back from the disk cache (`tokenizer_parts`)."""

    compat: Compat
    vocab_problem: str | None  # the vocabulary part of the proof: None when it holds
    tables: dict[str, np.ndarray] | None  # the native engine's (`native.build_tables`)
    token_bytes: tuple[np.ndarray, str]  # `token_bytes.token_byte_lengths`: (int32, method)
    vocab_size: int  # `LoadedTokenizer.vocab_size` (for 65k tokens, 70 ms to compute)
    cached: bool = False  # read back from the cache (not built in this process)


def _build_parts(tok: LoadedTokenizer) -> TokenizerParts:
    from .native import build_tables, supports
    from .token_bytes import token_byte_lengths

    compat = tiktoken_compat(tok)
    recipe = compat.recipe
    problem = (_whole_token_check(tok, recipe)
               if recipe is not None and tok.tiktoken is None else None)
    tables = (build_tables(recipe.mergeable_ranks)
              if recipe is not None and problem is None and supports(recipe.pat_str) else None)
    return TokenizerParts(compat, problem, tables, token_byte_lengths(tok, tok.vocab_size),
                          tok.vocab_size)


def _ranks_arrays(ranks: dict[bytes, int]) -> dict[str, np.ndarray]:
    """A recipe's ranks as arrays (token bytes back to back, their offsets, the ranks)."""
    lengths = np.fromiter(map(len, ranks), dtype=np.int64, count=len(ranks))
    off = np.zeros(len(ranks) + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    return {"tok_data": np.frombuffer(b"".join(ranks), dtype=np.uint8), "tok_off": off,
            "ranks": np.fromiter(ranks.values(), dtype=np.int64, count=len(ranks))}


def _parts_to_entry(parts: TokenizerParts) -> tuple[dict, dict[str, np.ndarray]]:
    c, r = parts.compat, parts.compat.recipe
    data = {"compat": {"recipe": r and {"name": r.name, "pat_str": r.pat_str,
                                        "special_tokens": list(r.special_tokens.items())},
                       "normalizer": c.normalizer, "reason": c.reason,
                       "control": sorted(c.control)},
            "vocab_problem": parts.vocab_problem, "tables": parts.tables is not None,
            "token_bytes_method": parts.token_bytes[1], "vocab_size": parts.vocab_size}
    arrays = {"token_bytes": parts.token_bytes[0]}
    if c.id_map is not None:
        arrays["id_map"] = c.id_map
    if parts.tables is not None:
        arrays.update(parts.tables)
    elif r is not None:
        arrays.update(_ranks_arrays(r.mergeable_ranks))
    return data, arrays


def _parts_from_entry(tok: LoadedTokenizer, data: dict, arrays: dict[str, np.ndarray]
                      ) -> TokenizerParts:
    from .native import TABLE_ARRAYS, ranks_of

    c = data["compat"]
    recipe = None
    if tok.tiktoken is not None:
        recipe = tok.tiktoken  # a tiktoken source: its recipe is what was loaded
    elif c["recipe"] is not None:
        r = c["recipe"]
        recipe = TiktokenRecipe(r["name"], r["pat_str"], ranks_of(arrays),
                                dict(r["special_tokens"]))
    compat = Compat(recipe, arrays.get("id_map"), c["normalizer"], c["reason"],
                    frozenset(c["control"]))
    tables = ({k: arrays[k] for k in (*TABLE_ARRAYS, "pairs_key", "pairs_val")}
              if data["tables"] else None)
    return TokenizerParts(compat, data["vocab_problem"], tables,
                          (arrays["token_bytes"], data["token_bytes_method"]),
                          data["vocab_size"], cached=True)


def tokenizer_parts(tok: LoadedTokenizer) -> TokenizerParts:
    """The `TokenizerParts` of a tokenizer: from the disk cache (`tokenizer_cache`: keyed
    by the tokenizer's fingerprint, checksummed) when it holds them, else built (0.06-0.8
    s for 8k-65k vocabularies) and written there for the next run."""
    hit = tokenizer_cache.load(tok.fingerprint)
    if hit is not None:
        try:
            parts = _parts_from_entry(tok, *hit)
            tok.__dict__.setdefault("vocab_size", parts.vocab_size)  # a cached_property
            return parts
        except (KeyError, TypeError, ValueError) as e:  # a layout ENGINE_VERSION missed
            log.warning("tokenizer cache entry of %s is malformed (%r); rebuilding it",
                        tok.spec, e)
    parts = _build_parts(tok)
    tokenizer_cache.save(tok.fingerprint, *_parts_to_entry(parts))
    return parts


def _known_code_points() -> np.ndarray:
    """known[cp] is True when this Python's Unicode database assigns code point cp (the
    native engine's class table, cached on disk: `native.char_classes`)."""
    from .native import CLS_UNKNOWN, char_classes

    return (char_classes() & CLS_UNKNOWN) == 0


def _unicode_form(tok: LoadedTokenizer) -> str | None:
    """The Unicode normal form that is the tokenizer's whole normalizer (NFC, NFD, NFKC,
    NFKD, alone or as a one-step Sequence), or None."""
    spec = tok.spec_json.get("normalizer") or {}
    if spec.get("type") == "Sequence" and len(spec.get("normalizers", [])) == 1:
        spec = spec["normalizers"][0]
    form = spec.get("type")
    return form if form in ("NFC", "NFKC", "NFD", "NFKD") else None


def _normalizer(tok: LoadedTokenizer, check_known: bool = True):
    """The tokenizer's normalizer as ``str -> str``.

    `tokenizers`' NFKC runs at ~4 MB/s, as slow as the encoding itself. For a plain
    Unicode normal form, text that Python already finds normalized
    (`unicodedata.is_normalized`, a fast quick-check) is passed through unchanged. That is
    exact because Unicode guarantees a normalized string whose characters are all assigned
    stays normalized in every later version; text holding a code point this Python does not
    know (Unicode 14 for 3.11) always goes through `tokenizers`' normalizer.
    ``check_known=False`` skips that last check, for the native engine: it hands every
    document holding such a code point to the tiktoken path, which normalizes it again
    with the check (normalizing is idempotent).
    """
    import unicodedata

    hf_norm = tok.hf.normalizer.normalize_str
    form = _unicode_form(tok)
    if form is None:
        return hf_norm
    known: np.ndarray | None = None

    def normalize(text: str) -> str:
        nonlocal known
        if text.isascii():
            return text
        if unicodedata.is_normalized(form, text):
            if not check_known:
                return text
            if known is None:
                known = _known_code_points()
            cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            if known[cps].all():
                return text
        return hf_norm(text)

    return normalize


def _threads(n: int | None) -> int:
    return max(1, n or os.cpu_count() or 1)


class Encoder:
    """Encode documents to a flat id array and per-document lengths.

    Use `build_encoder`; the engine is ``native`` (fastest: `native.py`), ``tiktoken``
    or ``tokenizers`` (the reference). Picklable: a worker process rebuilds the chosen
    engine without re-checking it.

    Examples
    --------
    >>> enc = build_encoder(load_tokenizer("tok.json"))  # doctest: +SKIP
    >>> tokens, lens = enc.encode(["hello world", "bonjour"])  # doctest: +SKIP
    """

    def __init__(self, tok: LoadedTokenizer, engine: Literal["native", "tiktoken", "tokenizers"],
                 reason: str, parts: TokenizerParts | None = None, threads: int | None = None,
                 specials: Specials = "text") -> None:
        if specials not in SPECIALS:
            msg = f"specials is {specials!r}; choose text or control"
            raise ConfigError(msg)
        self.tok, self.engine, self.reason, self.specials = tok, engine, reason, specials
        self.threads = _threads(threads)
        self._hf = None
        self.vocab_size = tok.vocab_size
        self._parts = parts
        self._compat: Compat | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._core_obj = None
        self._native = None
        if engine in ("native", "tiktoken"):
            if parts is None:
                parts = self._parts = tokenizer_parts(tok)
            compat = self._compat = parts.compat
            assert compat.recipe is not None
            self._sep_rank = max([*compat.recipe.mergeable_ranks.values(),
                                  *compat.recipe.special_tokens.values()]) + 1
            # the added tokens matched in text: all of them, or (specials="text") only those
            # that are not control tokens; the rest is encoded as ordinary text
            matched = {c for c in compat.recipe.special_tokens
                       if self.specials == "control" or c not in compat.control}
            self._allowed = {*matched, SEPARATOR}
            self._plain_allowed = matched
            self._id_map = compat.id_map
            self._normalize = (_normalizer(tok) if compat.normalizer else None)
            self._normalize_light = (_normalizer(tok, check_known=False)
                                     if compat.normalizer else None)
            self._form = _unicode_form(tok) if compat.normalizer else None
            names = sorted(matched, key=len, reverse=True)
            self._special_re = re.compile("|".join(map(re.escape, names))) if names else None
            if engine == "native":
                why = native_problem(compat, specials)
                if why:
                    msg = f"the native engine cannot encode this tokenizer: {why}"
                    raise ConfigError(msg)
                from .native import NativeBPE

                self._native = NativeBPE(compat.recipe.pat_str, compat.recipe.mergeable_ranks,
                                         tables=parts.tables)
            else:
                self._core_obj = self._build_core()

    def _build_core(self):
        import tiktoken

        recipe = self._compat.recipe
        specials = {**recipe.special_tokens, SEPARATOR: self._sep_rank}
        enc = tiktoken.Encoding(recipe.name, pat_str=recipe.pat_str,
                                mergeable_ranks=recipe.mergeable_ranks,
                                special_tokens=specials)
        return enc._core_bpe

    @property
    def _core(self):
        """tiktoken's Rust core (built on first use by the native engine: only documents
        it hands back, with a code point outside its tables, go through it)."""
        with self._lock:
            if self._core_obj is None:
                self._core_obj = self._build_core()
            return self._core_obj

    def __getstate__(self) -> dict:
        return {"tok": self.tok, "engine": self.engine, "reason": self.reason,
                "parts": self._parts, "threads": self.threads, "specials": self.specials}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["tok"], state["engine"], state["reason"], state["parts"],
                      state["threads"], state["specials"])

    def token_bytes(self) -> tuple[np.ndarray, str]:
        """The UTF-8 bytes of every token id and how they were counted
        (`token_bytes.token_byte_lengths`), from the tokenizer's cached parts."""
        if self._parts is None:
            self._parts = tokenizer_parts(self.tok)
        return self._parts.token_bytes

    def info(self) -> dict:
        return {"engine": self.engine, "reason": self.reason, "specials": self.specials}

    @property
    def hf(self):
        """The reference `tokenizers.Tokenizer`, set to this encoder's special-token mode
        (its own copy: ``encode_special_tokens`` is a setting of the instance)."""
        if self._hf is None:
            from tokenizers import Tokenizer

            hf = (Tokenizer.from_str(self.tok.json_text) if self.tok.json_text is not None
                  else Tokenizer.from_str(self.tok.hf.to_str()))
            hf.encode_special_tokens = self.specials == "text"
            self._hf = hf
        return self._hf

    # ------------------------------------------------------------------ encoding
    def encode(self, texts: Sequence[str] | pa.Array | pa.ChunkedArray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Encode each text alone (no BOS/EOS); return (uint32 ids back to back, lengths).

        ``texts``: Python strings, or an Arrow string column (what the stage passes: the
        native engine reads its UTF-8 buffers in place, the others convert it to strings).
        """
        if isinstance(texts, pa.ChunkedArray | pa.Array):
            if self.engine == "native" and texts.null_count == 0:
                return self._encode_arrow(texts)
            texts = texts.to_pylist()
        texts = list(texts)
        if not texts:
            return np.zeros(0, np.uint32), np.zeros(0, np.int64)
        if self.engine == "tokenizers":
            return self._encode_hf(texts)
        if self.engine == "native":
            try:
                col = pa.array(texts, pa.large_string())
            except (pa.ArrowException, UnicodeEncodeError, TypeError):
                return self._encode_one_by_one(texts, 0)  # names the bad document
            return self._encode_arrow(col)
        n = self.threads
        if n == 1 or len(texts) == 1:
            parts = [self._encode_chunk(texts, 0)]
        else:
            bounds = _split_even([len(t) for t in texts], n)
            pool = self._get_pool()
            futs = [pool.submit(self._encode_chunk, texts[a:b], a) for a, b in bounds]
            parts = [f.result() for f in futs]
        tokens = np.concatenate([p[0] for p in parts])
        lens = np.concatenate([p[1] for p in parts])
        return tokens, lens

    def _encode_arrow(self, col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """The native engine over an Arrow string column (no nulls)."""
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            col = col.cast(pa.large_string())
        n_docs = len(col)
        if n_docs == 0:
            return np.zeros(0, np.uint32), np.zeros(0, np.int64)
        raw = col
        data, offsets = _buffers(col)
        if self._normalize_light is not None:
            normed = self._normalized(col, data, offsets)
            if normed is not None:
                col = normed
                data, offsets = _buffers(col)
        native = self._native
        assert native is not None
        n = min(self.threads, n_docs)
        cuts = np.searchsorted(offsets, offsets[0] + (offsets[-1] - offsets[0])
                               * np.arange(1, n) / n)
        bounds = [0, *np.unique(np.clip(cuts, 1, n_docs - 1)).tolist(), n_docs]
        ranges = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
        if len(ranges) == 1:
            parts = [native.encode_range(data, offsets, 0, n_docs)]
        else:
            pool = self._get_pool()
            futs = [pool.submit(native.encode_range, data, offsets, a, b) for a, b in ranges]
            parts = [f.result() for f in futs]
        tokens = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
        lens = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])
        flags = parts[0][2] if len(parts) == 1 else np.concatenate([p[2] for p in parts])
        if self._id_map is not None:
            tokens = self._id_map[tokens]
        if flags.any():  # code points outside this Python's Unicode tables: tiktoken
            idx = np.flatnonzero(flags)  # (it normalizes the raw text itself)
            ft, fl = self._encode_chunk([raw[int(i)].as_py() for i in idx], 0)
            lens = lens.copy()
            lens[idx] = fl
            doc_of = np.repeat(np.arange(n_docs), lens)
            from_native = flags[doc_of] == 0
            out = np.empty(len(doc_of), dtype=np.uint32)
            out[from_native] = tokens
            out[~from_native] = ft
            tokens = out
        return tokens, lens

    def _normalized(self, col: pa.Array, data: np.ndarray, offsets: np.ndarray
                    ) -> pa.Array | None:
        """``col`` with every document in the normalizer's output (None when none
        changes). For a Unicode normal form the quick check runs in Numba over the UTF-8
        buffer and only the spans it cannot pass go through Python
        (`native.normalize_column`, exactly `_normalizer` on each whole document); with
        another normalizer every document does."""
        if self._form is None:
            texts = col.to_pylist()
            return pa.array([self._normalize_light(t) for t in texts], pa.large_string())
        from .native import normalize_column

        out = normalize_column(self._form, data, offsets, self._normalize_light)
        if out is None:
            return None
        new_data, new_offsets = out
        return pa.LargeStringArray.from_buffers(len(col), pa.py_buffer(new_offsets),
                                                pa.py_buffer(new_data))

    def _get_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="mixforge-enc")
            return self._pool

    def _encode_chunk(self, texts: list[str], first: int) -> tuple[np.ndarray, np.ndarray]:
        raw = texts
        if self._normalize is not None:
            try:
                texts = [self._normalize(t) for t in texts]
            except TypeError:
                return self._encode_one_by_one(raw, first)
        joined = SEPARATOR.join(texts) + SEPARATOR
        if joined.count(SEPARATOR) != len(texts):  # a document holds the separator itself
            return self._encode_one_by_one(raw, first)
        if self._normalize is not None:
            if self._special_re is not None and self._special_re.search(joined):
                # an added token after normalization: tokenizers matches special tokens on
                # the raw text, so these (rare) chunks go through tokenizers itself.
                return self._encode_hf(raw)
        try:
            buf = self._core.encode_to_tiktoken_buffer(joined, self._allowed)
        except UnicodeEncodeError:
            return self._encode_one_by_one(raw, first)  # names the bad document
        arr = np.frombuffer(buf, dtype=np.uint32)
        ends = np.flatnonzero(arr == self._sep_rank)
        if len(ends) != len(texts):
            msg = f"separator count {len(ends)} != {len(texts)} documents (a bug; report it)"
            raise AssertionError(msg)
        lens = np.diff(ends, prepend=-1) - 1
        tokens = np.delete(arr, ends) if len(ends) else arr
        if self._id_map is not None:
            tokens = self._id_map[tokens]
        return tokens, lens.astype(np.int64)

    def _encode_one_by_one(self, texts: list[str], first: int) -> tuple[np.ndarray, np.ndarray]:
        out, lens = [], []
        for i, t in enumerate(texts):
            try:
                t.encode("utf-8")
            except UnicodeEncodeError as e:
                msg = "<batch>"
                raise InputError(msg, first + i, "lone_surrogate",
                                 f"character {e.start} is an unpaired surrogate; tokenizers "
                                 "refuses such text too") from e
            if self._normalize is not None:
                t = self._normalize(t)
                if self._special_re is not None and self._special_re.search(t):
                    a, _ = self._encode_hf([texts[i]])
                    out.append(a)
                    lens.append(len(a))
                    continue
            a = np.frombuffer(self._core.encode_to_tiktoken_buffer(t, self._plain_allowed),
                              dtype=np.uint32)
            if self._id_map is not None:
                a = self._id_map[a]
            out.append(a)
            lens.append(len(a))
        return np.concatenate(out), np.array(lens, dtype=np.int64)

    def _encode_hf(self, texts: list[str], hf=None) -> tuple[np.ndarray, np.ndarray]:
        hf = hf if hf is not None else self.hf
        for i, t in enumerate(texts):
            if not t.isascii():
                try:
                    t.encode("utf-8")
                except UnicodeEncodeError as e:
                    msg = "<batch>"
                    raise InputError(msg, i, "lone_surrogate",
                                     f"character {e.start} is an unpaired surrogate") from e
        encs = hf.encode_batch_fast(texts, add_special_tokens=False)
        lens = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(encs))
        tokens = np.fromiter((i for e in encs for i in e.ids), dtype=np.uint32,
                             count=int(lens.sum()))
        return tokens, lens

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Ids back to text (special tokens kept), through `tokenizers`."""
        return self.tok.hf.decode([int(i) for i in ids], skip_special_tokens=False)


def _buffers(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 data uint8, offsets int64 of the n + 1 document bounds) of a string or
    large_string Arrow array, zero copy (but for int32 offsets, widened)."""
    off_type = np.int32 if pa.types.is_string(col.type) else np.int64
    _, obuf, dbuf = col.buffers()
    offsets = np.frombuffer(obuf, dtype=off_type)[col.offset:col.offset + len(col) + 1]
    offsets = offsets.astype(np.int64, copy=False)  # one kernel signature for both
    data = np.frombuffer(dbuf if dbuf is not None else b"\0", dtype=np.uint8)
    return data, offsets


def _split_even(sizes: list[int], parts: int) -> list[tuple[int, int]]:
    """Contiguous [a, b) ranges of about equal total size (at least one item each)."""
    total = sum(sizes) or 1
    bounds, start, acc, k = [], 0, 0, 1
    for i, s in enumerate(sizes):
        acc += s
        if acc >= total * k / parts and i + 1 < len(sizes) and len(bounds) < parts - 1:
            bounds.append((start, i + 1))
            start, k = i + 1, k + 1
    bounds.append((start, len(sizes)))
    return bounds


def compare(a: Encoder, b_tokens: tuple[np.ndarray, np.ndarray],
            texts: Sequence[str]) -> str | None:
    """None when ``a`` encodes ``texts`` to ``b_tokens``; else where they first differ."""
    ta, la = a.encode(texts)
    tb, lb = b_tokens
    if np.array_equal(la, lb) and np.array_equal(ta, tb):
        return None
    offs_a, offs_b = np.cumsum(la) - la, np.cumsum(lb) - lb
    for i in range(len(texts)):
        x = ta[offs_a[i]:offs_a[i] + la[i]]
        y = tb[offs_b[i]:offs_b[i] + lb[i]]
        if not np.array_equal(x, y):
            j = next((k for k in range(min(len(x), len(y))) if x[k] != y[k]), min(len(x), len(y)))
            return (f"sample text {i} ({texts[i][:40]!r}...) differs at token {j}: "
                    f"{x[j:j + 4].tolist()} vs tokenizers {y[j:j + 4].tolist()}")
    return "lengths differ"


def native_problem(compat: Compat, specials: Specials) -> str | None:
    """Why the native engine cannot encode this recipe (None when it can)."""
    from .native import supports

    if compat.recipe is None:
        return compat.reason
    if not supports(compat.recipe.pat_str):
        return "its split regex is not one the native matchers implement"
    matched = [c for c in compat.recipe.special_tokens
               if specials == "control" or c not in compat.control]
    if matched:
        return f"added token {matched[0]!r} is matched in text (tiktoken splits on it)"
    return None


_SHARED_HF = threading.Lock()


def _reference_ids(hf_enc: Encoder, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """`tokenizers`' ids of the proof's texts, in ``hf_enc``'s special-token mode.

    On the tokenizer's own parsed `tokenizers` object (``tok.hf``), its
    ``encode_special_tokens`` switched for the call and restored (under a lock): a copy
    of its own, as the tokenizers engine keeps, means parsing the JSON again (10 ms for an
    8k vocabulary, 95 ms for 65k), a fixed cost of every run that only this proof needs.
    """
    hf = hf_enc.tok.hf
    with _SHARED_HF:
        old = hf.encode_special_tokens
        hf.encode_special_tokens = hf_enc.specials == "text"
        try:
            return hf_enc._encode_hf(texts, hf)
        finally:
            hf.encode_special_tokens = old


def build_encoder(tok: LoadedTokenizer, engine: Engine = "auto",
                  sample: Sequence[str] = (), threads: int | None = None,
                  specials: Specials = "text") -> Encoder:
    """The fastest engine that gives `tokenizers`' ids on ``sample`` and the probes.

    Tried in order: ``native`` (`native.py`), ``tiktoken``, ``tokenizers``. ``engine``
    names one to insist on it (a ConfigError if it cannot be proven identical);
    ``"tokenizers"`` skips the check; ``"auto"`` falls back with a reason.
    ``specials``: ``"text"`` (default) encodes special-token strings found in documents as
    ordinary text (`tokenizers` with ``encode_special_tokens = True``); ``"control"``
    turns them into the control tokens.

    The reference of the check is `tokenizers` for a ``tokenizer.json`` and tiktoken
    itself for a tiktoken source (its `tokenizers` twin is tested to agree).
    """
    if engine not in ("auto", "native", "tiktoken", "tokenizers"):
        msg = f"engine {engine!r}: choose auto, native, tiktoken or tokenizers"
        raise ConfigError(msg)
    if engine == "tokenizers":
        return Encoder(tok, "tokenizers", "requested", None, threads, specials)
    parts = tokenizer_parts(tok)
    hf_enc = Encoder(tok, "tokenizers", "", parts, threads, specials)
    compat = parts.compat
    problem = compat.reason if compat.recipe is None else parts.vocab_problem
    names = tok.special_tokens()[:8]
    texts = [*PROBES, *names, *(f"a{n}b {n}\n{n}{n}" for n in names), *sample]
    ref: tuple[np.ndarray, np.ndarray] | None = None
    problems: dict[str, str] = {}
    for kind in ("native", "tiktoken"):
        if engine not in ("auto", kind):
            continue
        why = problem or (native_problem(compat, specials) if kind == "native" else None)
        if why is None:
            fast = Encoder(tok, kind, compat.reason, parts, threads, specials)
            if tok.tiktoken is None:
                ref = ref or _reference_ids(hf_enc, texts)
                why = compare(fast, ref, texts)
            elif kind == "native":  # a tiktoken source is its own reference
                ref = ref or Encoder(tok, "tiktoken", "", parts, threads, specials).encode(texts)
                why = compare(fast, ref, texts)
            if why is None:
                fast.reason = (f"{compat.reason}; ids identical to "
                               f"{'tokenizers' if tok.tiktoken is None else 'tiktoken'} on "
                               f"{len(texts)} sample texts"
                               if kind == "native" or tok.tiktoken is None else compat.reason)
                log.info("tokenize engine: %s (%s)", kind, fast.reason)
                return fast
        problems[kind] = why
    if engine != "auto":
        msg = f"the {engine} engine cannot reproduce this tokenizer: {problems[engine]}"
        raise ConfigError(msg)
    hf_enc.reason = "fallback: " + "; ".join(f"{k}: {v}" for k, v in problems.items())
    log.warning("tokenize engine: tokenizers (%s)", hf_enc.reason)
    return hf_enc
