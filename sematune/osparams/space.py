"""The parameter space of a run: an ordered set of knobs with availability, reads and writes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from sematune.osparams.base import OsParam, Value
from sematune.validate import require

log = logging.getLogger(__name__)


@dataclass
class ApplyResult:
    """What one apply did: the values read back, failed writes, and how long it took."""

    applied: dict[str, Value]
    write_errors: dict[str, str] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    seconds: float = 0.0


class ParameterSpace:
    """An ordered collection of :class:`OsParam` keyed by name."""

    def __init__(self, params: Sequence[OsParam]) -> None:
        self._params: dict[str, OsParam] = {}
        for param in params:
            require(f"osparam.{param.name}", param.name not in self._params, "is defined twice")
            self._params[param.name] = param

    # -- collection -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[OsParam]:
        return iter(self._params.values())

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __getitem__(self, name: str) -> OsParam:
        return self._params[name]

    @property
    def names(self) -> list[str]:
        return list(self._params)

    def subset(self, names: Sequence[str]) -> "ParameterSpace":
        return ParameterSpace([self._params[n] for n in names])

    def describe(self) -> list[dict[str, Any]]:
        return [p.describe() for p in self]

    # -- availability -------------------------------------------------------------------------
    def unavailable(self) -> dict[str, str]:
        """``{name: reason}`` for every knob this host lacks."""
        missing = {}
        for param in self:
            reason = param.probe()
            if reason:
                missing[param.name] = reason
        return missing

    def require_available(self, skip_unavailable: bool) -> "ParameterSpace":
        """The usable space: raise one error naming every missing knob, or drop them with a warning."""
        missing = self.unavailable()
        optional = {n: r for n, r in missing.items() if self[n].optional}
        if optional:
            log.warning("dropping optional knob(s) this host lacks: %s",
                        "; ".join(f"{n} ({r})" for n, r in optional.items()))
        missing = {n: r for n, r in missing.items() if n not in optional}
        if not missing:
            kept = [n for n in self.names if n not in optional]
            require("osparam", kept, "no knob of the set is available on this host")
            return self.subset(kept) if optional else self
        listing = "; ".join(f"{name} ({reason})" for name, reason in missing.items())
        require("osparam", skip_unavailable,
                f"{len(missing)} knob(s) unavailable on this host: {listing}. "
                "Remove them or set osparam_skip_unavailable=true")
        log.warning("dropping %d unavailable knob(s): %s", len(missing), listing)
        kept = [n for n in self.names if n not in missing and n not in optional]
        require("osparam", kept, f"no knob of the set is available on this host: {listing}")
        return self.subset(kept)

    def knobs_needing_root(self) -> list[str]:
        return [p.name for p in self if p.needs_root()]

    def mounts(self) -> list[tuple[str, str]]:
        """Every ``(fstype, mount point)`` a knob of this space needs, once each."""
        return list(dict.fromkeys(m for p in self for m in p.mounts()))

    def journal_files(self) -> list[tuple[str, OsParam]]:
        """Every (host path, knob) a run may change, related files before each knob's own files."""
        seen: set[str] = set()
        entries: list[tuple[str, OsParam]] = []
        for param in self:
            for path in [*param.related_files(), *param.files()]:
                if path not in seen:
                    seen.add(path)
                    entries.append((path, param))
        return entries

    # -- values ---------------------------------------------------------------------------------
    def read_all(self) -> dict[str, Value]:
        return {p.name: p.read() for p in self}

    def apply(self, values: Mapping[str, Value], current: Mapping[str, Value] | None = None) -> ApplyResult:
        """Write every value that differs from ``current``, then read back all knobs.

        A failed write (``EINVAL`` for a value outside this kernel's domain, say) is recorded
        and the other knobs are still written; the read-back says what the kernel holds.
        """
        start = time.perf_counter()
        errors: dict[str, str] = {}
        written: list[str] = []
        for name, value in values.items():
            if current is not None and current.get(name) == value:
                continue
            try:
                self._params[name].write(value)
                written.append(name)
            except OSError as exc:
                errors[name] = f"write {value!r} failed: {exc.strerror or exc}"
        applied = self.read_all()
        return ApplyResult(applied=applied, write_errors=errors, written=written, seconds=time.perf_counter() - start)
