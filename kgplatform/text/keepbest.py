"""Budgeted training with validation: the clock, and the best validated state with patience. Shared by the encoder's
fine-tuning (text/finetune.py) and the entity tagger (text/ner.py)."""

from __future__ import annotations

import copy
import time

from kgplatform.progress import ProgressFn


class KeepBest:
    """Keeps a copy of the model's state whenever validation beats the best score so far; ``exhausted`` after
    ``patience`` validations in a row without. keep_first: the first validated state is kept whatever its score
    (a new head starts random: its 'before' is no state worth going back to)."""

    def __init__(self, score: float, patience: int, keep_first: bool = False):
        self.score, self.patience, self.keep_first = score, patience, keep_first
        self.state: dict | None = None
        self.stale = 0

    def offer(self, model, score: float) -> bool:
        """True when ``score`` is the new best (the model's state is kept)."""
        if score > self.score or (self.keep_first and self.state is None):
            self.score, self.state, self.stale = score, copy.deepcopy(model.state_dict()), 0
            return True
        self.stale += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.stale >= self.patience

    def restore(self, model) -> None:
        """Load the best state kept, if any, into the model."""
        if self.state is not None:
            model.load_state_dict(self.state)


class TrainingClock:
    """A wall-clock training budget with validation every ``eval_every_s``, and the last one at its end."""

    def __init__(self, budget_s: float, eval_every_s: float):
        self.budget_s, self.eval_every_s = budget_s, eval_every_s
        self.start = self.last_eval = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def running(self) -> bool:
        return self.elapsed() < self.budget_s

    def due(self) -> bool:
        """After a step: time to validate (every eval_every_s, and once the budget is spent)."""
        return time.perf_counter() - self.last_eval >= self.eval_every_s or not self.running()

    def validated(self, progress: ProgressFn | None, stage: str) -> float:
        """Marks a validation done, reports the seconds of the budget spent; returns them."""
        self.last_eval = time.perf_counter()
        spent = round(self.last_eval - self.start, 1)
        if progress is not None:
            progress(stage, min(int(spent), int(self.budget_s)), int(self.budget_s))
        return spent
