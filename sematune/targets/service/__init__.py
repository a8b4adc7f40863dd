"""``service`` target: observe a service that is already running, from its own metrics."""

from sematune.targets.service._target import ServiceTarget

__all__ = ["ServiceTarget"]
