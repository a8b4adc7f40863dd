"""Typed view of the top-level config keys that are not instantiated (loop, objective, host…)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sematune.engine.loop_settings import LoopSettings
from sematune.engine.scoring import Constraint
from sematune.errors import ConfigError


class ObjectiveSettings(BaseModel):
    """``objective.*``; ``null`` fields fall back to the target's default objective."""

    model_config = ConfigDict(extra="forbid")

    metric: Optional[str] = None
    goal: Optional[Literal["maximize", "minimize"]] = None


class TrackingSettings(BaseModel):
    """``tracking.*``: where MLflow runs go."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    tracking_uri: str = "sqlite:///mlflow.db"
    experiment: str = "sematune"
    async_logging: bool = True


class HostSettings(BaseModel):
    """``host.*``: the write allow-list and where the journal and lock live."""

    model_config = ConfigDict(extra="forbid")

    allowed_paths: Optional[list[str]] = None
    state_dir: Optional[str] = None


class RunSettings(BaseModel):
    """Everything in ``config.yaml`` besides ``target``, ``tuner`` and ``osparam``."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    host_root: str = "/"
    osparam_skip_unavailable: bool = False
    probes: bool = True
    loop: LoopSettings = Field(default_factory=LoopSettings)
    objective: ObjectiveSettings = Field(default_factory=ObjectiveSettings)
    constraint: Optional[Constraint] = None
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    resume: bool = False
    sweep_name: Optional[str] = None
    host: HostSettings = Field(default_factory=HostSettings)

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> "RunSettings":
        """Validate; the first problem becomes a one-line :class:`ConfigError` naming its key."""
        fields = {k: v for k, v in data.items() if k not in ("target", "tuner", "osparam", "osparam_renamed")}
        try:
            settings = cls.model_validate(fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            raise ConfigError(key, f"{err['msg']} (got {_short(err.get('input'))})") from None
        settings.check()
        return settings

    def check(self) -> None:
        """What pydantic's field types do not say: finite numbers, a real host root, a usable state dir."""
        for key, value in _numbers(self):
            if not math.isfinite(value):
                raise ConfigError(key, f"must be a finite number (got {value!r})")
        if not self.host_root.strip():
            raise ConfigError("host_root", "empty (use / for the real host, or a sandbox tree's path)")
        if self.constraint is not None and self.constraint.penalty < 0:
            raise ConfigError("constraint.penalty", f"must be ≥ 0 (got {self.constraint.penalty!r})")
        if self.tracking.enabled and not self.tracking.tracking_uri.strip():
            raise ConfigError("tracking.tracking_uri", "empty (use e.g. sqlite:///mlflow.db, or tracking.enabled=false)")
        if self.host.state_dir is not None:
            check_state_dir(self.host.state_dir)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:119] + "…"


def _numbers(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, float]]:
    for name, value in model:
        if isinstance(value, BaseModel):
            yield from _numbers(value, f"{prefix}{name}.")
        elif isinstance(value, float):
            yield f"{prefix}{name}", value


#: Pseudo file systems a journal can never live on.
_PSEUDO_FS = ("/proc", "/sys", "/dev")


def check_state_dir(path: str) -> None:
    """``host.state_dir`` must be (or be creatable as) a writable directory on a real file system."""
    if not path.strip():
        raise ConfigError("host.state_dir", "empty (leave it unset for <host_root>/var/lib/sematune)")
    resolved = os.path.realpath(os.path.expanduser(path))
    if any(resolved == fs or resolved.startswith(fs + "/") for fs in _PSEUDO_FS):
        raise ConfigError("host.state_dir", f"{path!r} is on a pseudo file system; use a directory on disk")
    existing = Path(resolved)
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError("host.state_dir", f"{path!r} cannot be created or written ({existing} is not a writable directory)")
