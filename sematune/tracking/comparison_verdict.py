"""The sweep report's verdict column: frozen stable windows vs the defaults interleaved with them."""

from __future__ import annotations

from typing import Optional, Sequence

from pydantic import BaseModel

from sematune.engine.decision import FROZEN, infer_decision, interleaved_blocks
from sematune.engine.records import WindowRecord
from sematune.engine.verdict import block_gain


class VerdictCell(BaseModel):
    """Frozen stable windows vs the defaults interleaved with them (a run's, or a cell's pooled)."""

    gain: Optional[float] = None
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None
    significant: bool = False
    frozen: Optional[str] = None
    n_stable: int = 0
    n_defaults: int = 0


def verdict_of(runs: Sequence[Sequence[WindowRecord]], goal: Optional[str], confidence: float, n_boot: int,
               seed: int) -> VerdictCell:
    """Frozen stable windows vs interleaved defaults, blocks pooled over ``runs``."""
    blocks = [b for run in runs for b in interleaved_blocks(run, "stable", FROZEN, defaults_first=False)]
    est = block_gain(blocks, goal or "maximize", confidence, n_boot, seed)
    frozen = {infer_decision(run).frozen for run in runs} - {None}
    return VerdictCell(gain=est.gain, ci_low=est.ci_low, ci_high=est.ci_high, significant=est.significant,
                       frozen="/".join(sorted(frozen)) or None, n_stable=est.n_tuned, n_defaults=est.n_defaults)
