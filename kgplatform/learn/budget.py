"""Was the training budget enough? A check on a finished run's history, for the run's metrics and the CLI.

Runs on unseen graphs stop on their time budget while validation is still rising: the user sees a weak model and
few edges without knowing why. A run is called short when it stopped on the budget and either (a) ran fewer than
MIN_EPOCHS epochs, or (b) its best validation MRR came at its last evaluation (still rising). The advice is a
budget for EPOCHS_WANTED epochs at the measured pace; it is a measurement of this run, not a promise.
"""

from __future__ import annotations

MIN_EPOCHS = 5
EPOCHS_WANTED = 20


def epoch_seconds(history: list[dict]) -> float:
    """Median seconds between consecutive epochs (a race's probes and continuation have gaps between them)."""
    steps = sorted(b["seconds"] - a["seconds"] for a, b in zip(history, history[1:]) if b["epoch"] == a["epoch"] + 1)
    if not steps:
        return history[-1]["seconds"] / max(history[-1]["epoch"], 1)
    return steps[len(steps) // 2]


def budget_check(history: list[dict], stopped_reason: str | None, time_budget_s: float) -> dict | None:
    """None when the budget was not the limit; else {"warning", "epochs", "seconds_per_epoch",
    "suggested_budget_s"}."""
    if stopped_reason != "time_budget" or not history:
        return None
    history = [h for h in history if h.get("variant") == history[-1].get("variant")]  # an input race's winner
    epochs = history[-1]["epoch"]
    seconds_per_epoch = epoch_seconds(history)
    evaluated = [h for h in history if "valid_mrr" in h]
    still_rising = len(evaluated) >= 1 and evaluated[-1]["valid_mrr"] >= max(h["valid_mrr"] for h in evaluated)
    if epochs >= MIN_EPOCHS and not still_rising:
        return None
    suggested = max(time_budget_s * 2, seconds_per_epoch * EPOCHS_WANTED)
    reason = (f"only {epochs} epoch{'s' if epochs != 1 else ''}" if epochs < MIN_EPOCHS
              else "validation MRR was still rising at its last evaluation")
    return {"warning": f"training stopped at its {time_budget_s:g} s budget: {reason} ({seconds_per_epoch:.1f} s "
                       f"per epoch on this graph). A budget of about {suggested:.0f} s is likely to learn more.",
            "epochs": epochs, "seconds_per_epoch": round(seconds_per_epoch, 2),
            "suggested_budget_s": round(suggested)}
