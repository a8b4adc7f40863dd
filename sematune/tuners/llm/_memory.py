"""Cross-run memory: an earlier run's gist and frozen configuration, for a new run's first prompt."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from sematune.errors import ConfigError
from sematune.tracking.run_files import run_file


@dataclass(frozen=True)
class Prior:
    """What ``tuner.prior_from`` brings: the gist, the configuration frozen (as a diff) and its verdict."""

    source: str
    gist: Optional[str]
    frozen_diff: dict[str, Any] = field(default_factory=dict)
    verdict: Optional[str] = None

    def text(self) -> str:
        lines = []
        if self.gist:
            lines.append(self.gist.strip())
        if self.frozen_diff:
            changed = ", ".join(f"{k}={v.get('chosen') if isinstance(v, dict) else v}" for k, v in self.frozen_diff.items())
            lines.append(f"That run froze, against the defaults: {changed}.")
        else:
            lines.append("That run froze the defaults (no configuration beat them).")
        if self.verdict:
            lines.append(f"Its verdict: {self.verdict}.")
        return "\n".join(lines)


def load_prior(ref: str, tracking_uri: Optional[str]) -> Prior:
    """The prior of run ``ref`` (run directory or MLflow run id); a one-line ``ConfigError`` if it has none."""
    try:
        summary = json.loads(run_file(str(ref), "summary.json", tracking_uri).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError("tuner.prior_from", str(exc)) from None
    tuner = summary.get("tuner") if isinstance(summary.get("tuner"), dict) else {}
    verdict = summary.get("verdict") if isinstance(summary.get("verdict"), dict) else {}
    line = None
    if verdict.get("gain") is not None:
        low, high = verdict.get("ci_low"), verdict.get("ci_high")
        ci = f" (95% CI {low:+.1%} to {high:+.1%})" if low is not None and high is not None else ""
        line = f"{verdict['gain']:+.1%} vs interleaved defaults{ci}, " + (
            "significant" if verdict.get("significant") else "not significant")
    return Prior(source=str(ref), gist=tuner.get("gist"), frozen_diff=dict(summary.get("frozen_diff") or {}),
                 verdict=line)
