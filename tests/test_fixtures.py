"""The shared fixtures hold what the other tests rely on."""

import numpy as np

from mixforge.tokenize.store import TokenStore


def test_corpus_has_seven_real_domains(corpus_dir):
    import json

    manifest = json.loads((corpus_dir / "manifest.json").read_text())
    assert len(manifest["domains"]) == 7
    assert all(v["docs"] > 0 and v["licence"] for v in manifest["domains"].values())


def test_token_store_round_trips(token_store, ingested_table, tiny_tokenizer):
    store = TokenStore(token_store)
    assert store.dtype == np.uint16
    assert sum(store.info(d)["docs"] for d in store.domains) == ingested_table.num_rows
    dom = store.domain("fortunes")
    first = dom.docs["id"][0].as_py()
    text = next(r["text"] for r in ingested_table.to_pylist() if r["id"] == first)
    assert tiny_tokenizer.decode(dom.doc(0)[:-1].tolist()) == text
