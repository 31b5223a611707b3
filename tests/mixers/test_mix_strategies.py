"""Strategies: each weight checked against its formula, on planted and real counts."""

from __future__ import annotations

import math

import pytest

from mixforge.errors import ConfigError
from mixforge.mixers.mix import Mix
from mixforge.mixers.strategies import (
    make_mix,
    manual,
    natural,
    parse_weights,
    store_tokens,
    temperature,
    uniform,
    unimax,
)

COUNTS = {"a": 1000, "b": 300, "c": 50, "d": 0}


def test_natural_uniform_temperature_follow_their_formulas():
    nat = natural(COUNTS, 500).weights
    assert nat == pytest.approx({k: v / 1350 for k, v in COUNTS.items()})
    assert uniform(COUNTS, 500).weights == pytest.approx(dict.fromkeys(COUNTS, 0.25))
    for tau in (0.5, 1.0, 3.3):
        w = temperature(COUNTS, 500, tau).weights
        z = sum(n ** (1 / tau) for n in COUNTS.values())
        assert w == pytest.approx({k: n ** (1 / tau) / z for k, n in COUNTS.items()})
    assert temperature(COUNTS, 500, 1.0).weights == pytest.approx(nat)
    # higher temperature flattens: the small domain gains share
    assert temperature(COUNTS, 500, 5.0).weights["c"] > temperature(COUNTS, 500, 2.0).weights["c"]


def test_unimax_caps_small_domains_and_redistributes():
    counts = {"tiny": 10, "small": 100, "big": 10_000, "huge": 50_000}
    m = unimax(counts, 4000, epoch_cap=2.0)
    alloc = {d: w * 4000 for d, w in m.weights.items()}
    assert alloc["tiny"] == pytest.approx(20)          # capped at 2 epochs of 10
    assert alloc["small"] == pytest.approx(200)        # capped at 2 epochs of 100
    # the rest is split evenly between the domains that are not capped
    assert alloc["big"] == pytest.approx((4000 - 220) / 2)
    assert alloc["huge"] == pytest.approx(alloc["big"])
    assert all(alloc[d] <= 2.0 * counts[d] + 1e-6 for d in counts)
    assert m.provenance["strategy"] == "unimax"
    assert m.provenance["tokens_available"] == counts
    # a budget no capped allocation can fill keeps the budget (the plan will warn)
    m2 = unimax({"x": 10, "y": 20}, 1000, epoch_cap=1.0)
    assert m2.budget_tokens == 1000
    assert m2.weights == pytest.approx({"x": 1 / 3, "y": 2 / 3})


def test_unimax_without_caps_binding_is_uniform():
    m = unimax({"a": 10_000, "b": 20_000, "c": 30_000}, 300, epoch_cap=1.0)
    assert m.weights == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})


def test_manual_and_parse_weights():
    assert parse_weights("a=3, b=1") == {"a": 3.0, "b": 1.0}
    assert parse_weights(("a=1", "b=2,c=3")) == {"a": 1.0, "b": 2.0, "c": 3.0}
    with pytest.raises(ConfigError, match="NAME=NUMBER"):
        parse_weights("a=x")
    with pytest.raises(ConfigError, match="NAME=NUMBER"):
        parse_weights("a")
    assert manual({"a": 1, "b": 3}, 10, tokens=COUNTS).weights == {"a": 0.25, "b": 0.75}
    with pytest.raises(ConfigError, match="does not have"):
        manual({"zzz": 1}, 10, tokens=COUNTS)


def test_make_mix_dispatch_and_errors():
    assert make_mix("natural", COUNTS, 10).provenance["strategy"] == "natural"
    assert make_mix("temperature", COUNTS, 10, tau=2.0).provenance["params"] == {"tau": 2.0}
    with pytest.raises(ConfigError, match="choose one of"):
        make_mix("nope", COUNTS, 10)
    with pytest.raises(ConfigError, match="needs weights"):
        make_mix("manual", COUNTS, 10)
    with pytest.raises(ConfigError, match="tau"):
        temperature(COUNTS, 10, 0.0)
    with pytest.raises(ConfigError, match="hold no tokens"):
        natural({"a": 0}, 10)


def test_strategies_on_the_real_store_round_trip(token_store, tmp_path):
    tokens = store_tokens(token_store)
    assert len(tokens) == 7 and all(v > 0 for v in tokens.values())
    for name in ("natural", "uniform", "temperature", "unimax"):
        m = make_mix(name, tokens, 200_000, epoch_cap=3.0, seed=11,
                     inputs={"store": str(token_store)})
        assert math.isclose(sum(m.weights.values()), 1.0)
        for suffix in (".yaml", ".json"):
            back = Mix.load(m.save(tmp_path / f"{name}{suffix}"))
            assert back == m


def test_a_mix_file_that_is_not_yaml_is_a_config_error(tmp_path):
    import pytest

    from mixforge.errors import ConfigError
    from mixforge.mixers.mix import Mix

    bad = tmp_path / "junk.yaml"
    bad.write_text("weights: [1,2\n")
    with pytest.raises(ConfigError, match=r"junk\.yaml: not valid YAML"):
        Mix.load(bad)
