"""Every tokenizer users bring: each model kind `tokenizers` has, trained in-process on real
text, tokenizes with `tokenizers`' own ids (fast engine only where proven identical);
special-token strings inside documents are ordinary text unless asked otherwise; BOS/EOS
are found for the common model families."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from mixforge.cli import main
from mixforge.executor import LocalExecutor
from mixforge.ingest import IngestConfig, ingest
from mixforge.tokenize.fast import build_encoder
from mixforge.tokenize.loading import load_tokenizer
from mixforge.tokenize.stage import (
    BOS_CANDIDATES,
    EOS_CANDIDATES,
    TokenizeConfig,
    resolve_special,
    tokenize,
)
from mixforge.tokenize.store import TokenStore

from .conftest import PLANTED

CASES = Path(__file__).parent.parent / "cases"
UNIGRAM = CASES / "hunt-1" / "tokenizers" / "unigram.json"
SPECIAL_TEXT = ["a<|endoftext|>b </s> [SEP] <s>x", "<|endoftext|>", "no special here",
                "[CLS] start <pad><pad> end [SEP]", "<unk> and <mask>"]


def _bpe_byte_fallback():  # Llama 2 / Mistral style: Metaspace, byte fallback, <s> </s>
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"),
                                           normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse()])
    specials = ["<unk>", "<s>", "</s>"]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=specials + byte_tokens,
                                  show_progress=False)
    return tok, trainer, "<s> $A"


def _unigram():  # T5 / ALBERT style: NFKC, Metaspace, </s> appended
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=["<pad>", "</s>", "<unk>"],
                                      unk_token="<unk>", show_progress=False)
    return tok, trainer, "$A </s>"


def _wordpiece():  # BERT: BertNormalizer, BertPreTokenizer, [CLS] $A [SEP]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=800, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
        show_progress=False)
    return tok, trainer, "[CLS] $A [SEP]"


def _wordlevel():  # a word vocabulary: NFD + strip accents, Whitespace + Digits
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(),
                                           normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(),
                                                 pre_tokenizers.Digits(individual_digits=True)])
    trainer = trainers.WordLevelTrainer(vocab_size=700, special_tokens=["<unk>", "<bos>",
                                                                        "<eos>"],
                                        show_progress=False)
    return tok, trainer, "<bos> $A <eos>"


def _bytelevel_prefix_space():  # RoBERTa / GPT-2 variants: ByteLevel(add_prefix_space)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    return tok, trainer, "<s> $A </s>"


def _bytelevel_split_added():  # GPT-4-style split + non-special added tokens + NFC
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}{1,3}| ?\p{L}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"),
                             behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    return tok, trainer, None


KINDS = {"bpe_byte_fallback": _bpe_byte_fallback, "unigram": _unigram,
         "wordpiece": _wordpiece, "wordlevel": _wordlevel,
         "bytelevel_prefix_space": _bytelevel_prefix_space,
         "bytelevel_split_added": _bytelevel_split_added}


@pytest.fixture(scope="module")
def kind_files(tmp_path_factory, sample_texts) -> dict[str, Path]:
    """One tokenizer.json per model kind, trained by `tokenizers`' trainers on real text."""
    out = {}
    folder = tmp_path_factory.mktemp("kinds")
    for name, make in KINDS.items():
        tok, trainer, template = make()
        tok.train_from_iterator(sample_texts, trainer=trainer)
        if template:
            names = [t for t in template.split() if t != "$A"]
            tok.post_processor = processors.TemplateProcessing(
                single=template, special_tokens=[(t, tok.token_to_id(t)) for t in names])
        if name == "bytelevel_split_added":  # vocabulary extensions (not control tokens)
            tok.add_tokens([AddedToken("<think>", normalized=False), "fn main"])
        path = folder / f"{name}.json"
        tok.save(str(path))
        out[name] = path
    return out


def hf_ids(path: Path, texts: list[str], specials: str) -> list[list[int]]:
    """The reference: `tokenizers` itself (special-token strings as text or as control)."""
    tok = Tokenizer.from_file(str(path))
    tok.encode_special_tokens = specials == "text"
    return [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]


def ids_of(enc, texts: list[str]) -> list[list[int]]:
    tokens, lens = enc.encode(texts)
    offs = np.cumsum(lens) - lens
    return [tokens[o:o + n].tolist() for o, n in zip(offs, lens, strict=True)]


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("specials", ["text", "control"])
def test_every_model_kind_gives_tokenizers_ids(kind, specials, kind_files, sample_texts):
    path = kind_files[kind]
    tok = load_tokenizer(path)
    assert tok.vocab_size == max(Tokenizer.from_file(str(path)).get_vocab(True).values()) + 1
    texts = [*sample_texts[:120], *PLANTED, *SPECIAL_TEXT, "<think> fn main() {}"]
    enc = build_encoder(tok, sample=sample_texts[:20], threads=2, specials=specials)
    if kind in ("bytelevel_split_added",):
        # proven identical: the fast path (tiktoken: non-special added tokens are matched
        # in text, which the native engine leaves to it)
        assert enc.engine == "tiktoken", enc.reason
    if kind in ("unigram", "wordpiece", "wordlevel", "bpe_byte_fallback"):
        assert enc.engine == "tokenizers" and enc.reason.startswith("fallback")
    want = hf_ids(path, texts, specials)
    assert ids_of(enc, texts) == want
    forced = build_encoder(tok, "tokenizers", specials=specials)
    assert ids_of(forced, texts) == want


def test_special_token_strings_in_documents_are_text_by_default(kind_files):
    path = kind_files["bytelevel_split_added"]
    tok = load_tokenizer(path)
    eot = tok.token_id("<|endoftext|>")
    doc = ["a web page that quotes <|endoftext|> in its text"]
    for engine in ("auto", "tokenizers"):
        text_ids = ids_of(build_encoder(tok, engine), doc)[0]
        assert eot not in text_ids  # no injected document boundary
        control_ids = ids_of(build_encoder(tok, engine, specials="control"), doc)[0]
        assert control_ids.count(eot) == 1
        # a non-special added token still matches in both modes (a vocabulary extension)
        think = tok.token_id("<think>")
        assert think in ids_of(build_encoder(tok, engine), ["x <think> y"])[0]
    # `add_special_tokens=False` alone does not stop the match; encode_special_tokens does
    hf = Tokenizer.from_file(str(path))
    assert eot in hf.encode(doc[0], add_special_tokens=False).ids
    hf.encode_special_tokens = True
    assert eot not in hf.encode(doc[0], add_special_tokens=False).ids


def test_store_keeps_special_strings_as_text_unless_asked(tmp_path, kind_files):
    src = tmp_path / "in"
    src.mkdir()
    rows = [{"text": "before <|endoftext|> after"}, {"text": "plain"}]
    (src / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = kind_files["bytelevel_split_added"]
    eot = load_tokenizer(path).token_id("<|endoftext|>")
    for mode, inside in (("text", 0), ("control", 1)):
        run = tmp_path / f"run-{mode}"
        ingest(IngestConfig(inputs=[str(src)]), run, LocalExecutor(1))
        _, meta = tokenize(TokenizeConfig(tokenizer=str(path), special_tokens_in_text=mode),
                           run, LocalExecutor(1))
        assert meta["special_tokens_in_text"] == mode
        dom = TokenStore(run / "tokenize").domain(next(iter(meta["domains"])))
        docs = {dom.docs["source"][i].as_py(): dom.doc(i).tolist() for i in range(dom.n_docs)}
        first = next(v for k, v in docs.items() if k.endswith(":1"))
        assert first[-1] == eot  # the framing EOS
        assert first[:-1].count(eot) == inside


def test_case_unigram_tokenizer_tokenizes_and_inspects(tmp_path):
    """hunt-1 "unigram": a T5-style Unigram tokenizer.json crashed tokenize and inspect."""
    run = tmp_path / "u"
    ingest(IngestConfig(inputs=[str(CASES / "hunt-1" / "base")]), run, LocalExecutor(1))
    _, meta = tokenize(TokenizeConfig(tokenizer=str(UNIGRAM)), run, LocalExecutor(1))
    assert meta["vocab_size"] == 1000 and meta["engine"] == "tokenizers"
    assert meta["eos"]["token"] == "</s>"  # from the tokenizer's own template ($A </s>)
    store = TokenStore(run / "tokenize")
    hf = Tokenizer.from_file(str(UNIGRAM))
    hf.encode_special_tokens = True
    import pyarrow.parquet as pq

    from mixforge.stats import stage_files
    texts = {r["id"]: r["text"] for f in stage_files(run / "ingest")
             for r in pq.read_table(f, columns=["id", "text"]).to_pylist()}
    n = 0
    for d in store.domains:
        dom = store.domain(d)
        ids = dom.docs["id"].to_pylist()
        want = hf.encode_batch([texts[i] for i in ids], add_special_tokens=False)
        for i, w in enumerate(want):
            assert dom.doc(i).tolist() == [*w.ids, 1]
            n += 1
    assert n == len(texts) == 540
    res = CliRunner().invoke(main, ["tokenizer", "inspect", str(UNIGRAM)])
    assert res.exit_code == 0, res.output
    assert "vocab size   1,000" in res.output and "tokenizers" in res.output


def _with_specials(tmp_path: Path, names: list[str], template: str | None = None) -> object:
    vocab = {c: i for i, c in enumerate("abcdefghij ")}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="a"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(names)
    if template:
        specials = [t for t in template.split() if t != "$A"]
        tok.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(t, tok.token_to_id(t)) for t in specials])
    path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.json"
    tok.save(str(path))
    return load_tokenizer(path)


@pytest.mark.parametrize(("family", "names", "bos", "eos"), [
    ("gpt2", ["<|endoftext|>"], "<|endoftext|>", "<|endoftext|>"),
    ("llama2/mistral", ["<unk>", "<s>", "</s>"], "<s>", "</s>"),
    ("llama3", ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"],
     "<|begin_of_text|>", "<|end_of_text|>"),
    ("deepseek", ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"],
     "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("t5", ["<pad>", "</s>", "<unk>"], "<pad>", "</s>"),
    ("bert", ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], "[CLS]", "[SEP]"),
    ("qwen", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], "<|im_start|>", "<|endoftext|>"),
    ("gemma", ["<pad>", "<eos>", "<bos>", "<unk>"], "<bos>", "<eos>"),
    ("mixforge", ["<|endoftext|>", "<|bos|>"], "<|bos|>", "<|endoftext|>"),
])
def test_default_bos_eos_cover_the_common_families(tmp_path, family, names, bos, eos):
    tok = _with_specials(tmp_path, names)
    assert resolve_special(tok, "", BOS_CANDIDATES, "BOS")[0] == bos, family
    assert resolve_special(tok, "", EOS_CANDIDATES, "EOS")[0] == eos, family


def test_the_tokenizers_own_template_wins(tmp_path):
    # a template naming unusual tokens: its choice beats the list of usual names
    tok = _with_specials(tmp_path, ["<s>", "</s>", "<doc>", "</doc>"], "<doc> $A </doc>")
    assert resolve_special(tok, "", BOS_CANDIDATES, "BOS") == ("<doc>", tok.token_id("<doc>"))
    assert resolve_special(tok, "", EOS_CANDIDATES, "EOS") == ("</doc>", tok.token_id("</doc>"))


def test_a_folder_holding_a_unigram_tokenizer_loads(tmp_path):
    # a folder holding tokenizer.json (as hub snapshots are laid out) loads the same
    shutil.copy(UNIGRAM, tmp_path / "tokenizer.json")
    assert load_tokenizer(tmp_path).vocab_size == 1000


def test_the_load_time_proof_catches_a_special_token_mismatch(trained, trained_json,
                                                            monkeypatch, tmp_path):
    # make the fast engine believe no added token is a control token: it would then turn
    # "<|endoftext|>" in text into the control token while tokenizers keeps it as text
    from mixforge.tokenize import fast

    real = fast.tiktoken_compat

    def lying(tok):
        c = real(tok)
        return fast.Compat(c.recipe, c.id_map, c.normalizer, c.reason, frozenset())

    assert build_encoder(trained, specials="text").engine == "native"
    monkeypatch.setenv("MIXFORGE_CACHE", str(tmp_path))  # no cached parts: built again
    monkeypatch.setattr(fast, "tiktoken_compat", lying)
    enc = build_encoder(trained, specials="text")
    assert enc.engine == "tokenizers" and "differs" in enc.reason
    assert ids_of(enc, SPECIAL_TEXT) == hf_ids(trained_json, SPECIAL_TEXT, "text")


def test_a_128k_pretrained_tokenizer_has_its_bos_found():
    # DeepSeek's 128k byte-level BPE: its EOS was found, its BOS was not
    from .conftest import real_file

    tok = load_tokenizer(real_file("deepseek_tokenizer.json"))
    assert tok.vocab_size > 1 << 16
    assert resolve_special(tok, "", BOS_CANDIDATES, "BOS") == ("<｜begin▁of▁sentence｜>", 0)
    assert resolve_special(tok, "", EOS_CANDIDATES, "EOS") == ("<｜end▁of▁sentence｜>", 1)


NORMALIZERS = {
    "none": lambda: None,
    "nfkd": normalizers.NFKD,
    "lowercase": normalizers.Lowercase,
    "strip": lambda: normalizers.Strip(left=True, right=True),
    "nfkc_lower": lambda: normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]),
    "replace": lambda: normalizers.Replace(Regex(r"\s+"), " "),
}
PRE_TOKENIZERS = {
    "bytelevel": lambda: pre_tokenizers.ByteLevel(add_prefix_space=False),
    "punct_ws": lambda: pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Punctuation(),
                                                 pre_tokenizers.ByteLevel(use_regex=False)]),
    "scripts": lambda: pre_tokenizers.Sequence([pre_tokenizers.UnicodeScripts(),
                                                pre_tokenizers.ByteLevel()]),
    "char_delim": lambda: pre_tokenizers.Sequence([pre_tokenizers.CharDelimiterSplit(" "),
                                                   pre_tokenizers.ByteLevel()]),
}


@pytest.mark.parametrize("pre", sorted(PRE_TOKENIZERS))
@pytest.mark.parametrize("norm", sorted(NORMALIZERS))
def test_normalizers_and_pre_tokenizers_of_every_kind(norm, pre, sample_texts, tmp_path):
    """Byte-level BPEs (fast-path candidates: the proof must decide) with each normalizer
    and pre-tokenizer, plus special and non-special added tokens, in both modes."""
    tok = Tokenizer(models.BPE())
    if NORMALIZERS[norm]() is not None:
        tok.normalizer = NORMALIZERS[norm]()
    tok.pre_tokenizer = PRE_TOKENIZERS[pre]()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(sample_texts[:150], trainer=trainer)
    tok.add_tokens([AddedToken("<think>", normalized=False), AddedToken("Hello", normalized=True)])
    path = tmp_path / "t.json"
    tok.save(str(path))
    loaded = load_tokenizer(path)
    texts = [*sample_texts[:60], *PLANTED, *SPECIAL_TEXT, "  x <think> HELLO hello Hello  ",
             " <|endoftext|> ", "\t</s>\n"]
    for specials in ("text", "control"):
        enc = build_encoder(loaded, sample=sample_texts[:10], threads=2, specials=specials)
        assert ids_of(enc, texts) == hf_ids(path, texts, specials), (specials, enc.reason)
