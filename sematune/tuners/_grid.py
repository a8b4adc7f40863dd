"""The discretised action space shared by the ``qlearning`` and ``dqn`` tuners.

Each knob gets a grid: its choices if categorical, else ``grid_points`` evenly spaced values
(a log grid on a log-scale range; fewer on a small integer range). An *action* sets one knob
to one of its grid values, so the joint action space has ``sum(len(grid))`` actions — linear
in the number of knobs, which keeps any knob set tractable. ``max_actions`` caps it: numeric
grids are thinned until the actions fit, and a cap that would leave a numeric knob fewer
than 2 points fails before the run starts.
"""

from __future__ import annotations

from typing import Mapping

from sematune.osparams.base import Value
from sematune.osparams.space import ParameterSpace
from sematune.validate import integer, require


class ActionGrid:
    """Per-knob value grids and the actions "set knob ``k`` to grid value ``j``"."""

    def __init__(self, space: ParameterSpace, grid_points: int, max_actions: int) -> None:
        integer("tuner.grid_points", grid_points, 2)
        integer("tuner.max_actions", max_actions, 2)
        self.space = space
        self.names = space.names
        numeric = [p for p in space if p.domain.choices is None]
        fixed = sum(len(p.domain.choices or ()) for p in space if p.domain.choices is not None)
        points = grid_points
        if numeric:
            points = min(grid_points, (max_actions - fixed) // len(numeric))
        need = fixed + 2 * len(numeric)
        require("tuner.max_actions", points >= 2 and fixed <= max_actions,
                f"{max_actions} actions cannot hold the {fixed} categorical choices plus 2 grid points for each "
                f"of the {len(numeric)} numeric knobs (at least {need} needed); raise max_actions or tune fewer knobs")
        #: Grid points per numeric knob after the cap (small integer ranges may have fewer).
        self.points = points
        self.values: list[list[Value]] = [p.domain.grid(points) for p in space]
        self.actions: list[tuple[int, int]] = [(k, j) for k, grid in enumerate(self.values) for j in range(len(grid))]

    def __len__(self) -> int:
        return len(self.actions)

    def index(self, knob: int, value: Value) -> int:
        """The grid index nearest to ``value`` (normalised distance; an unknown choice maps to 0)."""
        domain = self.space[self.names[knob]].domain
        grid = self.values[knob]
        if domain.choices is not None:
            return next((j for j, c in enumerate(grid) if str(c) == str(value)), 0)
        unit = domain.normalise(value)
        return min(range(len(grid)), key=lambda j: abs(domain.normalise(grid[j]) - unit))

    def position(self, params: Mapping[str, Value]) -> tuple[int, ...]:
        """Per-knob grid indices of a configuration (a knob it lacks sits at index 0)."""
        return tuple(self.index(k, params[n]) if n in params else 0 for k, n in enumerate(self.names))

    def unit(self, params: Mapping[str, Value]) -> list[float]:
        """Per-knob values normalised to [0, 1] (0.5 for a choice outside the domain)."""
        out = []
        for name in self.names:
            domain = self.space[name].domain
            value = params.get(name)
            if value is None or (domain.choices is not None and value not in domain.choices):
                out.append(0.5)
            else:
                out.append(domain.normalise(value))
        return out

    def proposal(self, action: int) -> dict[str, Value]:
        """The single-knob proposal of ``action``."""
        k, j = self.actions[action]
        return {self.names[k]: self.values[k][j]}

    def describe(self, action: int) -> str:
        k, j = self.actions[action]
        return f"{self.names[k]} -> {self.values[k][j]!r}"
