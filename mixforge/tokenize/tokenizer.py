"""Tokenizers: load (tokenizer.json, hub name, tiktoken), train, and encode fast.

`Tokenizer` wraps a Hugging Face `tokenizers` model and, for byte-level BPEs, a tiktoken
engine built from the same merges and pre-tokenizer regex. The fast engine is used only
after it produced exactly the same ids as `tokenizers` on a check sample at load time
(real text of many scripts, code, emoji, odd whitespace); otherwise encoding falls back to
`tokenizers`, and ``engine_reason`` says why. tiktoken's rank order equals a BPE's merge
order when every merged token's id follows its merge (true of `tokenizers`' trainer and
of GPT-2-style files); the sample check is what guarantees it for a given file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger(__name__)

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
EOT = "<|endoftext|>"
CHECK_SAMPLE = [
    "Hello, world! It's 2026 and we're testing    spaces\n\n\ttabs.",
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment\r\n",
    "Ünïcödé façade naïve café — “quotes” … ½ ℃",
    "日本語のテキストと中文文本，한국어 텍스트。",
    "Русский текст и ελληνικά και עברית ועربية",
    "emoji 🚀🔥👩‍👩‍👧‍👦 flags 🇫🇷 and ZWJ sequences ✈️",
    "   leading spaces, trailing   \n   \n",
    "x" * 300 + " " + "ab" * 200,
    "1234567890 3.14159 1e-10 0xFF 1_000_000",
]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte <-> printable-unicode table (as byte-level BPEs store tokens)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
          *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def _byte_level_pattern(spec: dict) -> str | None:
    """The pre-tokenizer regex of a byte-level BPE that tiktoken can mirror, else None."""
    pre = spec.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True) \
            and not pre.get("add_prefix_space", False):
        return GPT2_PATTERN
    if pre.get("type") == "Sequence":
        parts = pre.get("pretokenizers", [])
        if (len(parts) == 2 and parts[0].get("type") == "Split"
                and parts[0].get("behavior") == "Isolated" and not parts[0].get("invert")
                and "Regex" in parts[0].get("pattern", {})
                and parts[1].get("type") == "ByteLevel" and not parts[1].get("use_regex", True)
                and not parts[1].get("add_prefix_space", False)):
            return parts[0]["pattern"]["Regex"]
    return None


def _tiktoken_from_hf(spec: dict, name: str):
    """A tiktoken Encoding with the same merges, or (None, reason)."""
    try:
        import tiktoken
    except ImportError:
        return None, "tiktoken is not installed"
    model = spec.get("model", {})
    if model.get("type") != "BPE" or model.get("byte_fallback") or model.get(
            "continuing_subword_prefix") or model.get("end_of_word_suffix"):
        return None, "not a plain byte-level BPE model"
    if spec.get("normalizer"):
        return None, f"has a normalizer ({spec['normalizer'].get('type')})"
    pattern = _byte_level_pattern(spec)
    if pattern is None:
        return None, "pre-tokenizer is not a byte-level regex split tiktoken can mirror"
    decode = {c: b for b, c in _bytes_to_unicode().items()}
    specials = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
    ranks = {}
    for token, idx in model["vocab"].items():
        if token in specials:
            continue
        try:
            ranks[bytes(decode[c] for c in token)] = idx
        except KeyError:
            return None, f"vocab token {token!r} is not byte-level"
    if len(set(ranks.values())) != len(ranks):
        return None, "two tokens share an id"
    enc = tiktoken.Encoding(name=f"mixforge-{name}", pat_str=pattern, mergeable_ranks=ranks,
                            special_tokens=specials)
    return enc, ""


@dataclass
class Tokenizer:
    """A loaded tokenizer: HF `tokenizers` model plus (when proven equal) a fast engine."""

    hf: object  # tokenizers.Tokenizer
    source: str
    fingerprint: str
    engine: str = "tokenizers"
    engine_reason: str = ""
    _fast: object = None

    @property
    def vocab_size(self) -> int:
        """One more than the largest id (ids may have gaps, e.g. cl100k's specials)."""
        return max(self.hf.get_vocab(with_added_tokens=True).values()) + 1

    def token_id(self, token: str | None) -> int | None:
        return None if token is None else self.hf.token_to_id(token)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens; identical for every engine."""
        if self._fast is not None:  # the core directly: no thread pool per document
            encode = self._fast._core_bpe.encode_ordinary
            return [encode(t) for t in texts]
        return [e.ids for e in self.hf.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=False)

    def describe(self) -> dict:
        return {"source": self.source, "fingerprint": self.fingerprint,
                "vocab_size": self.vocab_size, "engine": self.engine,
                "engine_reason": self.engine_reason}


def _check_fast(tok: Tokenizer, fast, extra: Iterable[str] = ()) -> str:
    sample = [*CHECK_SAMPLE, *extra]
    want = [e.ids for e in tok.hf.encode_batch(sample, add_special_tokens=False)]
    got = fast.encode_ordinary_batch(sample, num_threads=1)
    for text, w, g in zip(sample, want, got, strict=True):
        if w != g:
            return f"ids differ from tokenizers on {text[:40]!r}"
    return ""


def from_hf(hf, source: str, fast: bool = True) -> Tokenizer:
    """Wrap a `tokenizers.Tokenizer`, proving and enabling the tiktoken engine if possible."""
    spec_str = hf.to_str()
    fp = hashlib.sha256(spec_str.encode()).hexdigest()[:16]
    tok = Tokenizer(hf, source, fp, engine_reason="fast engine disabled")
    if fast:
        enc, reason = _tiktoken_from_hf(json.loads(spec_str), fp)
        if enc is not None:
            reason = _check_fast(tok, enc)
        if enc is not None and not reason:
            tok.engine, tok._fast = "tiktoken", enc
            tok.engine_reason = "same merges and regex; ids equal tokenizers on the check sample"
        else:
            tok.engine_reason = f"fallback to tokenizers: {reason}"
    log.info("tokenizer %s: engine %s (%s)", source, tok.engine, tok.engine_reason)
    return tok


@lru_cache(maxsize=8)
def load_tokenizer(spec: str, fast: bool = True) -> Tokenizer:
    """Load a tokenizer: a tokenizer.json path, ``hf:NAME`` (hub, through the local cache)
    or ``tiktoken:NAME`` / a ``.tiktoken`` file. Cached per process.

    Examples
    --------
    >>> tok = load_tokenizer("runs/r1/tokenizer/tokenizer.json")  # doctest: +SKIP
    >>> tok.encode_batch(["hello world"])  # doctest: +SKIP
    """
    from tokenizers import Tokenizer as HFTokenizer

    if spec.startswith("hf:"):
        try:
            hf = HFTokenizer.from_pretrained(spec[3:])
        except Exception as e:  # the hub client raises many kinds
            msg = (f"could not load {spec} from the hub or its local cache ({e}); set "
                   "HF_HOME to a cache that holds it, or pass a tokenizer.json path")
            raise ConfigError(msg) from e
        return from_hf(hf, spec, fast)
    if spec.startswith("tiktoken:") or spec.endswith(".tiktoken"):
        return _from_tiktoken(spec)
    path = Path(spec)
    if not path.is_file():
        msg = f"tokenizer {spec} not found: give a tokenizer.json, hf:NAME or tiktoken:NAME"
        raise ConfigError(msg)
    return from_hf(HFTokenizer.from_file(str(path)), str(path), fast)


def _from_tiktoken(spec: str) -> Tokenizer:
    """A tiktoken encoding as a `tokenizers` byte-level BPE (so both engines exist)."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    if spec.startswith("tiktoken:"):
        try:
            enc = tiktoken.get_encoding(spec[len("tiktoken:"):])
        except Exception as e:
            msg = (f"tiktoken encoding {spec} is not in the local cache ({e}); set "
                   "TIKTOKEN_CACHE_DIR or pass a .tiktoken file")
            raise ConfigError(msg) from e
        ranks, pattern, specials = enc._mergeable_ranks, enc._pat_str, enc._special_tokens
    else:
        ranks, pattern = load_tiktoken_bpe(spec), GPT2_PATTERN
        specials = {EOT: len(ranks)}
    hf = hf_from_ranks(ranks, pattern, specials)
    return from_hf(hf, spec)


def hf_from_ranks(ranks: dict[bytes, int], pattern: str, specials: dict[str, int]):
    """Build a `tokenizers` byte-level BPE equal to a tiktoken rank table."""
    from tokenizers import Regex, decoders, models, pre_tokenizers
    from tokenizers import Tokenizer as HFTokenizer

    enc = _bytes_to_unicode()

    def s(b: bytes) -> str:
        return "".join(enc[x] for x in b)

    vocab = {s(b): r for b, r in ranks.items()}
    vocab.update(specials)  # specials keep their own ids (added tokens reuse vocab ids)
    # Every split of a token into two lower-ranked tokens is a merge, ordered by the rank of
    # the merged token: then `tokenizers` always applies the pair whose merge has the lowest
    # rank, which is exactly tiktoken's rule.
    merges = []
    for b, r in sorted(ranks.items(), key=lambda kv: kv[1]):
        splits = [(ranks[b[:i]], ranks[b[i:]], i) for i in range(1, len(b))
                  if ranks.get(b[:i], r) < r and ranks.get(b[i:], r) < r]
        merges += [(s(b[:i]), s(b[i:])) for _, _, i in sorted(splits)]
    hf = HFTokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    # Oniguruma reads `{1,3}+` as a repeated repetition, not a possessive one; for a counted
    # repetition of one class the possessive form matches the same, so drop the `+`.
    onig_pattern = pattern.replace("}+", "}")
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(onig_pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(list(specials))
    return hf


def train_tokenizer(texts: Iterable[str], vocab_size: int,
                    special_tokens: Sequence[str] = (EOT,)):
    """Train a byte-level BPE with `tokenizers` (GPT-2 pre-tokenizer regex, no normalizer)."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    if vocab_size < 256 + len(special_tokens):
        msg = f"vocab_size {vocab_size} is below the 256 byte tokens + specials"
        raise ConfigError(msg)
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special_tokens),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    hf.train_from_iterator(texts, trainer=trainer)
    return hf


