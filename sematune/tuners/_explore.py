"""ε-greedy exploration with a geometric decay, shared by the ``qlearning`` and ``dqn`` tuners."""

from __future__ import annotations

import random
from typing import Sequence

from sematune.validate import is_number, require



class EpsilonGreedy:
    """``ε(t) = max(end, start × decay^t)`` after ``t`` decisions; ties broken at random (seeded)."""

    def __init__(self, start: float, end: float, decay: float, rng: random.Random) -> None:
        require("tuner.epsilon_start", is_number(start) and 0 <= start <= 1, f"must be in [0, 1], got {start!r}")
        require("tuner.epsilon_end", is_number(end) and 0 <= end <= 1, f"must be in [0, 1], got {end!r}")
        require("tuner.epsilon_end", not (is_number(start) and is_number(end)) or end <= start,
                f"must not exceed epsilon_start ({start!r}), got {end!r}")
        require("tuner.epsilon_decay", is_number(decay) and 0 < decay <= 1, f"must be in (0, 1], got {decay!r}")
        self.start, self.end, self.decay = float(start), float(end), float(decay)
        self.rng = rng
        self.steps = 0

    @property
    def epsilon(self) -> float:
        return max(self.end, self.start * self.decay ** self.steps)

    def choose(self, values: Sequence[float]) -> tuple[int, bool]:
        """An index into ``values`` (the action values) and whether it was a random pick."""
        explore = self.rng.random() < self.epsilon
        self.steps += 1
        if explore:
            return self.rng.randrange(len(values)), True
        best = max(values)
        ties = [i for i, v in enumerate(values) if v == best]
        return ties[self.rng.randrange(len(ties))] if len(ties) > 1 else ties[0], False

    def describe(self) -> dict[str, float]:
        return {"epsilon_start": self.start, "epsilon_end": self.end, "epsilon_decay": self.decay}
