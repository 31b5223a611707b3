"""The shared fixtures hold what the other tests rely on."""

import numpy as np

from mixforge.tokenize.store import TokenStore


def test_corpus_has_seven_real_domains(corpus_dir):
    import json

    manifest = json.loads((corpus_dir / "manifest.json").read_text())
    assert len(manifest["domains"]) == 7
    assert all(v["docs"] > 0 and v["licence"] for v in manifest["domains"].values())


def test_build_corpus_on_this_machine_is_deterministic(tmp_path):
    """`mixforge corpus` itself: seven domains, each sampled, and the same bytes twice.

    Its counts depend on what the machine has installed, so only the structure is asserted
    here; the tests' data is the pinned copy (tests/data, checked by tests/pinned.py).
    """
    import json

    from mixforge.corpus import build_corpus

    a, b = tmp_path / "a", tmp_path / "b"
    build_corpus(a, max_mb=0.3)
    build_corpus(b, max_mb=0.3)
    manifest = json.loads((a / "manifest.json").read_text())
    assert len(manifest["domains"]) == 7
    for name, info in manifest["domains"].items():
        assert info["docs"] > 0 and info["licence"], name
        assert (a / info["file"]).read_bytes() == (b / info["file"]).read_bytes(), name


def test_pinned_copy_refuses_a_changed_byte(tmp_path, monkeypatch):
    import pytest

    import tests.pinned as pinned

    fake = tmp_path / "data"
    (fake / "c").mkdir(parents=True)
    (fake / "c" / "x.txt").write_bytes(b"hello")
    (fake / "SHA256SUMS").write_text(
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  c/x.txt\n")
    monkeypatch.setattr(pinned, "DATA", fake)
    assert (pinned.pinned_copy("c", tmp_path / "ok") / "x.txt").read_bytes() == b"hello"
    (fake / "c" / "x.txt").write_bytes(b"hellO")
    with pytest.raises(RuntimeError, match=r"c/x.txt: sha256"):
        pinned.pinned_copy("c", tmp_path / "bad")


def test_token_store_round_trips(token_store, ingested_table, tiny_tokenizer):
    store = TokenStore(token_store)
    assert store.dtype == np.uint16
    assert sum(store.info(d)["docs"] for d in store.domains) == ingested_table.num_rows
    dom = store.domain("fortunes")
    first = dom.docs["id"][0].as_py()
    text = next(r["text"] for r in ingested_table.to_pylist() if r["id"] == first)
    assert tiny_tokenizer.decode(dom.doc(0)[:-1].tolist()) == text
