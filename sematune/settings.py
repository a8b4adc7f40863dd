"""Typed view of the top-level config keys that are not instantiated (loop, objective, host…)."""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sematune.engine.loop import LoopSettings
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
            return cls.model_validate(fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            raise ConfigError(key, f"{err['msg']} (got {err.get('input')!r})") from None
