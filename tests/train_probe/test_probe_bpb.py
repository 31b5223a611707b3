"""Exact bits per byte: the token -> byte-length table, and bpb pinned on a domain whose
documents have very different bytes per token (ASCII prose vs CJK and emoji)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from mixforge.tokenize.loading import LoadedTokenizer
from mixforge.tokenize.store import TokenStore, finalize_store, write_shard
from mixforge.tokenize.token_bytes import token_byte_lengths
from mixforge.train_probe.data import doc_windows, spread_take
from mixforge.train_probe.heldout import evaluate

ASCII = ("The quick brown fox jumps over the lazy dog and the license grants permission to "
         "use, copy, modify and distribute this software for any purpose. ") * 3
CJK = "a 日本語のテキストは一文字が三バイトです。中文字符也是三个字节。🙂👍🏽🎉 " * 3


class OneNatPerToken(torch.nn.Module):
    """A stand-in probe whose loss is 1 nat at every position (so bpb is a count)."""

    k = 1

    def token_losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.ones(y.shape, dtype=torch.float32)


def _loaded(tok: Tokenizer) -> LoadedTokenizer:
    return LoadedTokenizer("tokenizer.json", "test", None, "fp", tok.to_str())


def test_byte_level_table_sums_to_each_documents_bytes(store):
    """Byte-level BPE: a document's tokens (EOS excluded) hold exactly its UTF-8 bytes."""
    tb = store.token_bytes
    assert tb is not None and store.token_bytes_method == "byte-level"
    eos = store.meta["eos_id"]
    assert tb[eos] == 0
    for d in store.domains:
        dom = store.domain(d)
        n_bytes = dom.docs["n_bytes"].to_numpy()
        for i in range(min(dom.n_docs, 25)):
            assert int(tb[dom.doc(i).astype(np.int64)].sum()) == n_bytes[i]


def test_metaspace_and_wordpiece_tables():
    vocab = {"<unk>": 0, "</s>": 1, "▁": 2, "▁the": 3, "日本": 4, "<0xE3>": 5, "a": 6}
    tok = Tokenizer(models.BPE(vocab, [], unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.add_special_tokens(["</s>"])
    lengths, method = token_byte_lengths(_loaded(tok), 7)
    assert method == "metaspace"
    assert lengths.tolist() == [5, 0, 1, 4, 6, 1, 1]  # <unk> is a plain piece here
    wp = Tokenizer(models.WordPiece({"[UNK]": 0, "play": 1, "##ing": 2}, unk_token="[UNK]"))
    lengths, method = token_byte_lengths(_loaded(wp), 3)
    assert method == "wordpiece" and lengths.tolist()[1:] == [4, 3]


@pytest.fixture
def mixed_store(tmp_path, tiny_tokenizer):
    """One domain: an ASCII document and a CJK/emoji document, EOS after each."""
    eos = tiny_tokenizer.token_to_id("<|endoftext|>")
    ids = [[*tiny_tokenizer.encode(t).ids, eos] for t in (ASCII, CJK)]
    write_shard(tmp_path, "s0", "mixed", np.array([i for d in ids for i in d], np.uint16),
                np.array([len(d) for d in ids]), ["a", "c"], ["x:1", "x:2"],
                np.array([len(t.encode()) for t in (ASCII, CJK)]))
    tok = _loaded(tiny_tokenizer)
    finalize_store(tmp_path, tiny_tokenizer.get_vocab_size(), {"kind": "test"},
                   {"eos_id": eos}, token_bytes=token_byte_lengths(tok))
    return TokenStore(tmp_path), ids


def test_exact_bpb_on_ascii_and_cjk_documents(mixed_store, tmp_path, tiny_tokenizer):
    store, (a_ids, c_ids) = mixed_store
    first = len(tiny_tokenizer.decode([a_ids[0]]).encode())  # "T", "Th" or "The"
    n_a, n_c = len(a_ids) - 1, len(c_ids) - 1  # tokens without EOS
    b_a, b_c = len(ASCII.encode()), len(CJK.encode())
    assert b_c / n_c < 0.6 * b_a / n_a  # the two documents differ in bytes per token
    dom = store.domain("mixed")
    docs = [dom.doc(0), dom.doc(1)]
    # one window over both documents: targets are everything but the first token; the
    # two EOS targets carry no bytes and leave bpb
    win = doc_windows(docs, n_a + n_c + 1, None, "mixed")
    assert win.shape == (1, n_a + n_c + 2)
    row = evaluate(OneNatPerToken(), {"mixed": win}, store)[0]
    want = (n_a - 1 + n_c) / (math.log(2) * (b_a - first + b_c))
    assert row["bpb:mixed"] == pytest.approx(want, rel=1e-12)
    assert row["loss:mixed"] == pytest.approx(1.0)
    # the CJK document alone: its first token is "a" (1 byte)
    win_c = doc_windows([docs[1]], n_c, None, "cjk")
    row = evaluate(OneNatPerToken(), {"mixed": win_c}, store)[0]
    assert row["bpb:mixed"] == pytest.approx((n_c - 1) / (math.log(2) * (b_c - 1)),
                                             rel=1e-12)
    # the store's average bytes per token (the old yardstick) is far off for it
    approx = 1.0 / (math.log(2) * store.info("mixed")["bytes_per_token"])
    assert abs(approx / row["bpb:mixed"] - 1) > 0.3
    # without the table: the fallback, labelled as such
    old = tmp_path / "old"
    shutil.copytree(store.path, old)
    (old / "token_bytes.npy").unlink()
    meta = json.loads((old / "store.json").read_text())
    assert meta["token_bytes"]["method"] == "byte-level"
    old_store = TokenStore(old)
    assert old_store.token_bytes is None and old_store.token_bytes_method == "store-average"
    row = evaluate(OneNatPerToken(), {"mixed": win_c}, old_store)[0]
    assert row["bpb:mixed"] == pytest.approx(approx)


def test_standard_error_shrinks_with_text(store):
    dom = store.domain(store.domains[0])
    docs = [dom.doc(i) for i in range(dom.n_docs)]
    small = evaluate(OneNatPerToken(), {"d": doc_windows(docs, 32, 320, "d")}, store)[0]
    big = evaluate(OneNatPerToken(), {"d": doc_windows(docs, 32, 32 * 200, "d")}, store)[0]
    assert big["eval_tokens:d"] == 200 * 32 and small["eval_tokens:d"] == 10 * 32
    assert 0 < big["bpb_se:d"] < small["bpb_se:d"]


def test_spread_take_spreads_a_budget_over_documents():
    lens = np.array([5, 100, 3, 50])
    take = spread_take(lens, 40)
    assert take.sum() == 40 and take.tolist() == [5, 16, 3, 16]
    assert spread_take(lens, 1000).tolist() == lens.tolist()
    rng = np.random.default_rng(0)
    for _ in range(50):
        lens = rng.integers(1, 50, rng.integers(1, 20))
        budget = int(rng.integers(1, lens.sum() + 5))
        take = spread_take(lens, budget)
        assert take.sum() == min(budget, lens.sum()) and (take <= lens).all()
        assert take.max() - take[take < lens].min(initial=take.max()) <= 1
