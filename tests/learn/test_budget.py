"""The budget check: a run that stopped on its time budget while still learning says so, with a pace-based hint."""

from __future__ import annotations

from kgplatform.learn.budget import budget_check


def history(mrrs: list[float], seconds_per_epoch: float = 10.0, every: int = 1) -> list[dict]:
    out = []
    for epoch in range(1, len(mrrs) * every + 1):
        entry = {"epoch": epoch, "seconds": epoch * seconds_per_epoch}
        if epoch % every == 0:
            entry["valid_mrr"] = mrrs[epoch // every - 1]
        out.append(entry)
    return out


def test_a_run_still_rising_at_its_budget_is_told_how_long_it_needs():
    check = budget_check(history([0.1, 0.2, 0.3, 0.35, 0.4, 0.41]), "time_budget", 60.0)
    assert check is not None and "still rising" in check["warning"]
    assert check["seconds_per_epoch"] == 10.0 and check["suggested_budget_s"] == 200  # 20 epochs at 10 s


def test_too_few_epochs_is_short_even_if_validation_fell():
    check = budget_check(history([0.3, 0.2], seconds_per_epoch=45.0), "time_budget", 90.0)
    assert check is not None and "only 2 epochs" in check["warning"] and check["suggested_budget_s"] == 900


def test_a_run_that_plateaued_or_stopped_on_patience_gets_no_warning():
    assert budget_check(history([0.1, 0.3, 0.4, 0.39, 0.38, 0.37]), "time_budget", 60.0) is None
    assert budget_check(history([0.1, 0.2]), "patience", 60.0) is None
    assert budget_check([], "time_budget", 60.0) is None
