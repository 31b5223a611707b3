"""The plan: exact budget split, epochs, cap warnings and the explicit over-cap policies."""

from __future__ import annotations

import pytest

from mixforge.errors import ConfigError
from mixforge.mixers.mix import Mix
from mixforge.mixers.plan import plan_mix, split_budget

AVAIL = {"a": {"tokens": 1000, "docs": 10}, "b": {"tokens": 100, "docs": 5},
         "c": {"tokens": 500, "docs": 7}}


def test_split_budget_is_exact_and_proportional():
    for budget in (0, 1, 7, 1001, 123_457):
        w = {"x": 0.2, "y": 0.3, "z": 0.5}
        t = split_budget(w, budget)
        assert sum(t.values()) == budget
        assert all(abs(t[k] - w[k] * budget) < 1 for k in w)


def test_plan_rows_and_epochs():
    mix = Mix({"a": 0.5, "b": 0.25, "c": 0.25}, budget_tokens=800, epoch_cap=4)
    plan = plan_mix(mix, AVAIL, val_fraction=0.1)
    a, b = plan.row("a"), plan.row("b")
    assert (a.target, a.val, a.train) == (400, 40, 360)
    assert a.epochs == pytest.approx(360 / 960)
    assert b.epochs == pytest.approx(180 / 80) and not b.over_cap
    assert plan.train_tokens + plan.val_tokens == 800 and plan.shortfall == 0
    df = plan.table()
    assert df["domain"].to_list() == ["a", "b", "c", "TOTAL"]
    assert df.filter(df["domain"] == "TOTAL")["taken"].item() == 800
    plan.check()


def test_over_cap_warns_and_never_shrinks_silently():
    mix = Mix({"a": 0.5, "b": 0.5}, budget_tokens=1000, epoch_cap=2.0)
    plan = plan_mix(mix, AVAIL)
    assert plan.row("b").over_cap and not plan.row("a").over_cap
    assert "b: the mix asks 500 training tokens, 5.00 epochs" in plan.warnings[0]
    assert plan.train_tokens == 1000          # the budget is untouched
    with pytest.raises(ConfigError, match="beyond their epoch cap"):
        plan.check()
    exceed = plan_mix(mix, AVAIL, over_cap="exceed")
    exceed.check()
    assert exceed.train_tokens == 1000
    shrink = plan_mix(mix, AVAIL, over_cap="shrink")
    shrink.check()
    assert shrink.row("b").train == 200 and shrink.shortfall == 300
    assert shrink.warnings[0].endswith("shrunk to 200 tokens (2 epochs)")
    assert shrink.to_dict()["shortfall"] == 300


def test_per_domain_caps_and_errors():
    mix = Mix({"a": 0.5, "b": 0.5}, budget_tokens=400, epoch_cap={"b": 1.0})
    plan = plan_mix(mix, AVAIL)
    assert plan.row("b").over_cap and plan.row("a").cap == float("inf")
    with pytest.raises(ConfigError, match="does not have"):
        plan_mix(Mix({"zz": 1.0}, budget_tokens=10), AVAIL)
    with pytest.raises(ConfigError, match="no token budget"):
        plan_mix(Mix({"a": 1.0}), AVAIL)
    with pytest.raises(ConfigError, match="val_fraction"):
        plan_mix(Mix({"a": 1.0}, budget_tokens=10), AVAIL, val_fraction=1.0)
    empty = {**AVAIL, "e": {"tokens": 0, "docs": 0}}
    with pytest.raises(ConfigError, match="hold no tokens"):
        plan_mix(Mix({"e": 1.0, "a": 1.0}, budget_tokens=10), empty, over_cap="exceed").check()
