"""The disk cache of the tokenizer's parts (`tokenizer_cache`): a hit gives the bytes a
miss gives, a damaged or foreign entry is rebuilt, a changed tokenizer file is a miss, and
no usable cache folder only means no cache."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from mixforge.executor import LocalExecutor
from mixforge.tokenize import fast, tokenizer_cache
from mixforge.tokenize.fast import build_encoder, tokenizer_parts
from mixforge.tokenize.loading import load_tokenizer
from mixforge.tokenize.stage import TokenizeConfig, tokenize


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder of this test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MIXFORGE_CACHE", str(folder))
    return folder


def refuse(tok):
    msg = "built, not read from the cache"
    raise AssertionError(msg)


def entries(cache: Path) -> list[Path]:
    return sorted((cache / tokenizer_cache.FOLDER).glob("*.npz"))


def store_files(run: Path) -> dict[str, bytes]:
    """The store's files (markers and _stage.json hold timings: left out)."""
    root = run / "tokenize"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "_markers" not in p.parts and p.name != "_stage.json"}


def test_stage_output_is_byte_identical_with_and_without_the_cache(
        tmp_path, ingested_run, trained_json, cache, monkeypatch):
    cfg = TokenizeConfig(tokenizer=str(trained_json))

    def stage(name: str) -> dict[str, bytes]:
        run = tmp_path / name
        shutil.copytree(ingested_run, run)
        _, meta = tokenize(cfg, run, LocalExecutor(1))
        assert meta["engine"] == "native" and "identical" in meta["engine_reason"]
        return store_files(run)

    miss = stage("miss")
    assert len(entries(cache)) == 1 and any(k.endswith(".bin") for k in miss)
    with monkeypatch.context() as m:
        m.setattr(fast, "_build_parts", refuse)  # a hit reads everything from the entry
        hit = stage("hit")
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("MIXFORGE_CACHE", str(tmp_path / "a-file"))  # cannot hold a folder
    none = stage("none")
    assert hit == miss
    assert none == miss


def test_a_hit_gives_the_parts_of_a_miss(trained, sample_texts, cache, monkeypatch):
    built = tokenizer_parts(trained)
    monkeypatch.setattr(fast, "_build_parts", refuse)
    read = tokenizer_parts(trained)
    assert read.cached and not built.cached
    a, b = built.compat, read.compat
    assert (a.reason, a.normalizer, a.control) == (b.reason, b.normalizer, b.control)
    assert a.recipe.mergeable_ranks == b.recipe.mergeable_ranks
    assert list(a.recipe.special_tokens.items()) == list(b.recipe.special_tokens.items())
    assert a.recipe.pat_str == b.recipe.pat_str and read.vocab_problem == built.vocab_problem
    assert built.tables.keys() == read.tables.keys()
    assert all(np.array_equal(built.tables[k], read.tables[k]) for k in built.tables)
    assert np.array_equal(built.token_bytes[0], read.token_bytes[0])
    assert built.token_bytes[1] == read.token_bytes[1]
    assert read.vocab_size == built.vocab_size == trained.vocab_size
    enc = build_encoder(trained, sample=sample_texts[:8], threads=2)
    tokens, lens = enc.encode(sample_texts)
    ref = enc.hf.encode_batch(sample_texts, add_special_tokens=False)
    assert lens.tolist() == [len(e.ids) for e in ref]
    assert tokens.tolist() == [i for e in ref for i in e.ids]


def _flip_a_byte(path: Path, other: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x40  # inside an array's bytes (zip members are stored)
    path.write_bytes(bytes(raw))


def _truncate(path: Path, other: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _change_an_array(path: Path, other: Path) -> None:
    # a well-formed .npz whose arrays no longer match the checksum it carries
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["ranks"] = arrays["ranks"].copy()
    arrays["ranks"][300] += 1
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _another_tokenizers_entry(path: Path, other: Path) -> None:
    shutil.copy(other, path)  # intact, checksum right, but made for another key


@pytest.mark.parametrize("damage", [_flip_a_byte, _truncate, _change_an_array,
                                    _another_tokenizers_entry])
def test_a_damaged_or_foreign_entry_is_rebuilt(trained, tmp_path, cache, damage, caplog):
    tokenizer_parts(trained)
    path = tokenizer_cache.entry_path(trained.fingerprint)
    other = tmp_path / "other.json"
    data = json.loads(Path(trained.path).read_text())
    data["added_tokens"][0]["content"] = "<|some-other-token|>"
    other.write_text(json.dumps(data))
    tokenizer_parts(load_tokenizer(other))
    other_entry = tokenizer_cache.entry_path(load_tokenizer(other).fingerprint)
    good = tokenizer_parts(trained)
    assert good.cached
    damage(path, other_entry)
    with caplog.at_level(logging.WARNING, logger="mixforge.tokenize.tokenizer_cache"):
        rebuilt = tokenizer_parts(trained)
    assert not rebuilt.cached and "rebuilding" in caplog.text
    assert rebuilt.compat.recipe.mergeable_ranks == good.compat.recipe.mergeable_ranks
    assert all(np.array_equal(good.tables[k], rebuilt.tables[k]) for k in good.tables)
    assert tokenizer_parts(trained).cached  # and written back whole


def test_a_changed_tokenizer_file_or_engine_version_is_a_miss(trained, tmp_path, cache,
                                                              monkeypatch):
    tokenizer_parts(trained)
    data = json.loads(Path(trained.path).read_text())
    merges = data["model"]["merges"]
    data["model"]["merges"] = merges[:-1]  # one merge fewer: another tokenizer
    changed = tmp_path / "tokenizer.json"
    changed.write_text(json.dumps(data))
    tok = load_tokenizer(changed)
    parts = tokenizer_parts(tok)
    assert not parts.cached and len(entries(cache)) == 2
    assert len(parts.compat.recipe.mergeable_ranks) == len(
        tokenizer_parts(trained).compat.recipe.mergeable_ranks) - 1
    assert build_encoder(tok, sample=["hello world"]).engine == "native"  # still proven
    monkeypatch.setattr(tokenizer_cache, "ENGINE_VERSION", tokenizer_cache.ENGINE_VERSION + 1)
    assert not tokenizer_parts(trained).cached and len(entries(cache)) == 3


def test_code_point_table_is_a_checksummed_entry(tmp_path, monkeypatch):
    """The Unicode tables use the same entry format: written once, read back equal, and a
    damaged entry is rebuilt (not trusted)."""
    from mixforge.tokenize import native

    monkeypatch.setenv("MIXFORGE_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "_TABLES", {})
    built = native.char_classes()
    (entry,) = (tmp_path / "unicode").glob("classes-*.npz")
    monkeypatch.setattr(native, "_TABLES", {})
    calls = []
    monkeypatch.setattr(native, "_build_classes", lambda: calls.append(1) or built.copy())
    assert np.array_equal(native.char_classes(), built) and calls == []  # read back
    raw = bytearray(entry.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    entry.write_bytes(bytes(raw))
    monkeypatch.setattr(native, "_TABLES", {})
    assert np.array_equal(native.char_classes(), built) and calls == [1]  # rebuilt
