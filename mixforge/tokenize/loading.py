"""Where a tokenizer comes from: a ``tokenizer.json``, a Hugging Face hub name (through
the local cache), or a tiktoken encoding (a ``.tiktoken`` file or a name in the local
cache). Every source is fingerprinted, so a token store names the exact tokenizer.

One spec string picks the source (what ``--tokenizer`` takes)::

    runs/r1/tokenizer/tokenizer.json      a tokenizer.json file (or a folder holding one)
    hf:org/name[@revision]                a hub repo's tokenizer.json, from the local cache
    tiktoken:cl100k_base                  a registered tiktoken encoding, from its cache
    path/to/cl100k_base.tiktoken          a tiktoken ranks file (its encoding is recognised
                                          by the file's sha256, or named with @NAME)

Nothing is downloaded unless ``allow_download`` is set: the hub path calls
``huggingface_hub.hf_hub_download(..., local_files_only=True)`` and the tiktoken path
reads tiktoken's own cache file (``$TIKTOKEN_CACHE_DIR``), so an offline machine loads
what it has and names what it lacks.

A tiktoken source also has a `tokenizers` twin (`LoadedTokenizer.hf`), rebuilt from the
ranks: the merges are recovered by running BPE on each token with the lower ranks only
(the method of transformers' TikTokenConverter). It takes ~2 s for cl100k in pure
Python, so it is built lazily (the fallback engine and the identity checks use it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError

HF_PREFIX = "hf:"
TIKTOKEN_PREFIX = "tiktoken:"
SourceKind = Literal["tokenizer.json", "hub", "tiktoken"]


@dataclass
class TiktokenRecipe:
    """What a tiktoken Encoding is made of (picklable, cheap to rebuild in a worker)."""

    name: str
    pat_str: str
    mergeable_ranks: dict[bytes, int]
    special_tokens: dict[str, int]

    def encoding(self):
        import tiktoken

        return tiktoken.Encoding(self.name, pat_str=self.pat_str,
                                 mergeable_ranks=self.mergeable_ranks,
                                 special_tokens=self.special_tokens)


@dataclass
class LoadedTokenizer:
    """A tokenizer from one source, with its fingerprint.

    ``json_text`` holds a `tokenizers` tokenizer.json; ``tiktoken`` a tiktoken recipe.
    Exactly one is set; the other view is derived on demand.
    """

    kind: SourceKind
    spec: str
    path: str | None
    fingerprint: str
    json_text: str | None = None
    tiktoken: TiktokenRecipe | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __getstate__(self) -> dict:  # the parsed views are rebuilt on demand (an int is
        # kept: a worker that needs no parse, the native engine's, then never parses)
        return {k: v for k, v in self.__dict__.items() if k not in ("hf", "spec_json")}

    @cached_property
    def spec_json(self) -> dict[str, Any]:
        """The parsed ``tokenizer.json`` (empty for a tiktoken source), parsed once."""
        return json.loads(self.json_text) if self.json_text is not None else {}

    @cached_property
    def hf(self):
        """The `tokenizers.Tokenizer` (for a tiktoken source: its rebuilt twin)."""
        from tokenizers import Tokenizer

        if self.json_text is not None:
            return Tokenizer.from_str(self.json_text)
        assert self.tiktoken is not None
        return tiktoken_to_hf(self.tiktoken)

    @cached_property
    def vocab_size(self) -> int:
        """One more than the largest id the tokenizer can produce (sizes the token dtype)."""
        if self.tiktoken is not None:
            ids = [*self.tiktoken.mergeable_ranks.values(), *self.tiktoken.special_tokens.values()]
            return max(ids) + 1
        # every model kind (BPE/WordPiece/WordLevel: a token -> id map; Unigram: a list of
        # [piece, score]) is read through `tokenizers` itself; ids may have gaps
        vocab = self.hf.get_vocab(with_added_tokens=True)
        return max(vocab.values()) + 1 if vocab else 0

    def token_id(self, token: str) -> int | None:
        """The id of a (special) token string, or None."""
        if self.tiktoken is not None:
            if token in self.tiktoken.special_tokens:
                return self.tiktoken.special_tokens[token]
            return self.tiktoken.mergeable_ranks.get(token.encode())
        return self.hf.token_to_id(token)

    def special_tokens(self) -> list[str]:
        """The added/special token strings, in id order."""
        if self.tiktoken is not None:
            return sorted(self.tiktoken.special_tokens, key=self.tiktoken.special_tokens.get)
        added = self.spec_json.get("added_tokens", [])
        return [t["content"] for t in sorted(added, key=lambda t: t["id"])]

    def control_tokens(self) -> set[str]:
        """The added tokens marked ``special`` (control tokens: BOS, EOS, pad, ...).

        These are the strings `tokenizers` stops matching in text when
        ``Tokenizer.encode_special_tokens`` is set; added tokens that are not special (a
        vocabulary extension) always match. Every tiktoken special token is a control token.
        """
        if self.tiktoken is not None:
            return set(self.tiktoken.special_tokens)
        added = self.spec_json.get("added_tokens", [])
        return {t["content"] for t in added if t.get("special")}

    def template_specials(self) -> tuple[str | None, str | None]:
        """(BOS, EOS) as the tokenizer's own post-processor frames a single sequence.

        A ``TemplateProcessing`` single template ``<s> $A </s>`` gives ``("<s>", "</s>")``;
        ``BertProcessing``/``RobertaProcessing`` give their cls/sep tokens. (None, None)
        when the tokenizer has no such post-processor (e.g. a tiktoken source).
        """
        if self.json_text is None:
            return None, None
        post = self.spec_json.get("post_processor") or {}
        steps = (post.get("processors", []) if post.get("type") == "Sequence" else [post])
        for p in steps:
            kind = (p or {}).get("type")
            if kind in ("BertProcessing", "RobertaProcessing"):
                return p["cls"][0], p["sep"][0]
            if kind == "TemplateProcessing":
                bos = eos = None
                seen_seq = False
                for item in p.get("single", []):
                    if "Sequence" in item:
                        seen_seq = True
                    elif "SpecialToken" in item:
                        key = item["SpecialToken"]["id"]
                        toks = p.get("special_tokens", {}).get(key, {}).get("tokens") or [key]
                        name = toks[0]
                        if seen_seq and eos is None:
                            eos = name
                        elif not seen_seq and bos is None:
                            bos = name
                return bos, eos
        return None, None

    def info(self) -> dict[str, Any]:
        """What a token store records about its tokenizer."""
        return {"kind": self.kind, "spec": self.spec, "path": self.path,
                "fingerprint": self.fingerprint, "vocab_size": self.vocab_size, **self.meta}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def from_file(path: str | Path, spec: str | None = None) -> LoadedTokenizer:
    """Load a ``tokenizer.json`` (or a folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        msg = f"tokenizer file {p} does not exist; train one with `mixforge tokenizer train`"
        raise ConfigError(msg)
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
        from tokenizers import Tokenizer

        hf = Tokenizer.from_str(text)
    except Exception as e:
        msg = f"{p} is not a valid tokenizers tokenizer.json: {e}"
        raise ConfigError(msg) from e
    out = LoadedTokenizer("tokenizer.json", spec or str(path), str(p), _sha256(raw), text)
    out.hf = hf  # the parse that validated it (`hf` is a cached property)
    return out


def from_hub(name: str, revision: str | None = None, cache_dir: str | None = None,
             allow_download: bool = False) -> LoadedTokenizer:
    """A hub repo's ``tokenizer.json`` through huggingface_hub's cache (offline by default)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = hf_hub_download(name, "tokenizer.json", revision=revision, cache_dir=cache_dir,
                               local_files_only=not allow_download)
    except LocalEntryNotFoundError as e:
        msg = (f"hf:{name}: no tokenizer.json in the local Hugging Face cache "
               f"({cache_dir or os.environ.get('HF_HUB_CACHE', 'the default cache')}); "
               "download it first or pass --allow-download")
        raise ConfigError(msg) from e
    except Exception as e:  # a bad repo name, a revision that does not exist
        msg = f"hf:{name}: {e}"
        raise ConfigError(msg) from e
    out = from_file(path, spec=f"{HF_PREFIX}{name}" + (f"@{revision}" if revision else ""))
    out.kind = "hub"
    out.meta["revision"] = Path(path).parent.name  # the snapshot (commit) it came from
    return out


def _constructors() -> dict[str, Any]:
    from tiktoken import registry

    registry._find_constructors()
    return dict(registry.ENCODING_CONSTRUCTORS or {})


def _tiktoken_definition(name: str) -> tuple[dict, str | None, str | None]:
    """A registered encoding's pattern and specials, plus its ranks URL and sha256,
    without reading the ranks (the constructor's loader is intercepted)."""
    ctors = _constructors()
    if name not in ctors:
        msg = f"tiktoken has no encoding {name!r}; known: {sorted(ctors)}"
        raise ConfigError(msg)
    seen: dict[str, str | None] = {}
    fn = ctors[name]
    mod = __import__(fn.__module__, fromlist=["_"])
    real = getattr(mod, "load_tiktoken_bpe", None)

    def capture(url: str, expected_hash: str | None = None) -> dict:
        seen.setdefault("url", url)
        seen.setdefault("hash", expected_hash)
        return {}

    try:
        if real is not None:
            mod.load_tiktoken_bpe = capture
        definition = fn()
    finally:
        if real is not None:
            mod.load_tiktoken_bpe = real
    return definition, seen.get("url"), seen.get("hash")


def tiktoken_cache_dir() -> Path:
    """The folder tiktoken caches its ranks files in (same rule as tiktoken.load)."""
    import tempfile

    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def _parse_ranks(raw: bytes, where: str) -> dict[bytes, int]:
    ranks = {}
    for n, line in enumerate(raw.splitlines(), 1):
        if not line:
            continue
        try:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
        except ValueError as e:
            msg = f"{where}, line {n}: not a tiktoken ranks line ('<base64> <rank>')"
            raise ConfigError(msg) from e
    return ranks


def _recipe(name: str, definition: dict, ranks: dict[bytes, int]) -> TiktokenRecipe:
    return TiktokenRecipe(name, definition["pat_str"], ranks,
                          dict(definition.get("special_tokens", {})))


def from_tiktoken_name(name: str, allow_download: bool = False) -> LoadedTokenizer:
    """A registered tiktoken encoding, read from tiktoken's local cache."""
    definition, url, sha = _tiktoken_definition(name)
    if url is None:
        msg = f"tiktoken encoding {name!r} is not built from a ranks file; use another"
        raise ConfigError(msg)
    cached = tiktoken_cache_dir() / hashlib.sha1(url.encode()).hexdigest()
    if not cached.exists() and not allow_download:
        msg = (f"tiktoken:{name}: not in the local cache (expected {cached}); set "
               "TIKTOKEN_CACHE_DIR to a folder holding it, give the .tiktoken file's path, "
               "or pass --allow-download")
        raise ConfigError(msg)
    import tiktoken.load

    raw = tiktoken.load.read_file_cached(url, sha)  # tiktoken's own path: cache, hash check
    ranks = _parse_ranks(raw, str(cached))
    return _tiktoken_loaded(f"{TIKTOKEN_PREFIX}{name}", str(cached), raw,
                            _recipe(name, definition, ranks))


def from_tiktoken_file(path: str | Path, base: str | None = None) -> LoadedTokenizer:
    """A ``.tiktoken`` ranks file; its pattern and specials come from the registered
    encoding ``base`` (default: the one whose published sha256 matches the file)."""
    p = Path(path)
    if not p.is_file():
        msg = f"tiktoken file {p} does not exist"
        raise ConfigError(msg)
    raw = p.read_bytes()
    digest = _sha256(raw)
    if base is None:
        for name in sorted(_constructors()):
            try:
                _, _, sha = _tiktoken_definition(name)
            except Exception:
                continue
            if sha == digest:
                base = name
                break
    if base is None:
        msg = (f"{p}: not a published tiktoken encoding (sha256 {digest[:12]}...); name the "
               "encoding whose pattern and special tokens it uses as PATH@NAME")
        raise ConfigError(msg)
    definition, _, _ = _tiktoken_definition(base)
    return _tiktoken_loaded(str(path), str(p), raw, _recipe(base, definition,
                                                            _parse_ranks(raw, str(p))))


def _tiktoken_loaded(spec: str, path: str, raw: bytes, recipe: TiktokenRecipe) -> LoadedTokenizer:
    h = hashlib.sha256(raw)
    h.update(recipe.pat_str.encode())
    h.update(json.dumps(recipe.special_tokens, sort_keys=True).encode())
    return LoadedTokenizer("tiktoken", spec, path, h.hexdigest(), tiktoken=recipe,
                           meta={"encoding": recipe.name})


def load_tokenizer(spec: str | Path, allow_download: bool = False,
                   cache_dir: str | None = None) -> LoadedTokenizer:
    """Load the tokenizer a spec names (see the module docstring for the forms).

    Examples
    --------
    >>> tok = load_tokenizer("runs/r1/tokenizer/tokenizer.json")  # doctest: +SKIP
    >>> tok.fingerprint[:8]  # doctest: +SKIP
    """
    s = str(spec)
    if s.startswith(HF_PREFIX):
        name, _, rev = s[len(HF_PREFIX):].partition("@")
        return from_hub(name, rev or None, cache_dir, allow_download)
    if s.startswith(TIKTOKEN_PREFIX):
        return from_tiktoken_name(s[len(TIKTOKEN_PREFIX):], allow_download)
    path, _, base = s.partition("@") if "@" in Path(s).name else (s, "", "")
    p = Path(path)
    if p.is_dir() or p.suffix == ".json":
        return from_file(p, spec=s)
    if p.is_file():
        head = p.read_bytes()[:1]
        if head in (b"{", b"["):
            return from_file(p, spec=s)
        return from_tiktoken_file(p, base or None)
    msg = (f"tokenizer {s!r} not found: give a tokenizer.json path, hf:ORG/NAME, "
           "tiktoken:NAME or a .tiktoken file")
    raise ConfigError(msg)


# --------------------------------------------------------------------------- tiktoken -> HF

def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (the byte-level BPE alphabet)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
          *range(ord("®"), ord("ÿ") + 1)]
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def _bpe_parts(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    parts = [bytes([b]) for b in token]
    while True:
        best, best_rank = -1, max_rank
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_rank:
                best, best_rank = i, r
        if best < 0:
            return parts
        parts[best:best + 2] = [parts[best] + parts[best + 1]]


def tiktoken_to_hf(recipe: TiktokenRecipe):
    """A `tokenizers` byte-level BPE equal to a tiktoken encoding (merges recovered)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    b2u = bytes_to_unicode()

    def u(b: bytes) -> str:
        return "".join(b2u[x] for x in b)

    ranks = recipe.mergeable_ranks
    vocab = {u(tok): rank for tok, rank in ranks.items()}
    merges = []
    for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(tok) < 2:
            continue
        parts = _bpe_parts(ranks, tok, rank)
        if len(parts) != 2:
            msg = f"tiktoken {recipe.name}: token rank {rank} is not a merge of two tokens"
            raise ConfigError(msg)
        merges.append((u(parts[0]), u(parts[1])))
    tok = Tokenizer(models.BPE(vocab, merges, ignore_merges=True))
    # `$` is end of text in tiktoken's fancy-regex but end of *line* in tokenizers'
    # Oniguruma (cl100k's `\s++$` would then split before every newline): use `\z`.
    # And Oniguruma reads `{1,3}+` as "{1,3}, one or more times", not as possessive: drop
    # the `+` (possessive and greedy agree there: nothing follows inside the branch).
    pattern = re.sub(r"(?<!\\)\$", r"\\z", recipe.pat_str)
    pattern = re.sub(r"(\{\d+(?:,\d*)?\})\+", r"\1", pattern)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    # `tokenizers` numbers added tokens consecutively after the vocabulary (a tokenizer.json
    # cannot set their ids), so gaps in tiktoken's special ids are filled with reserved
    # placeholder tokens, as transformers does for Llama 3's reserved tokens.
    for content, sid in sorted(recipe.special_tokens.items(), key=lambda kv: kv[1]):
        while (nxt := tok.get_vocab_size(with_added_tokens=True)) < sid:
            tok.add_special_tokens([AddedToken(f"<|mixforge_reserved_{nxt}|>", special=True,
                                               normalized=False)])
        tok.add_special_tokens([AddedToken(content, special=True, normalized=False)])
        if tok.token_to_id(content) != sid:
            msg = f"tiktoken {recipe.name}: special token {content!r} id {sid} cannot be placed"
            raise ConfigError(msg)
    return tok
