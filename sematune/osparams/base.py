"""The OS-parameter contract: metadata, domain, typed read/write through a :class:`Host`.

A knob has a stable ``name``, a ``kind`` (``continuous`` or ``categorical``), a ``scope``
(``global``, ``per_core`` or ``per_device``) and a conservative domain: a range (optionally
on a log scale) or a list of choices. Subclasses — one module per Linux interface — say
which files hold the value and how text maps to a value; this base does the rest.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal, Sequence, Union

from sematune.errors import ConfigError
from sematune.osparams.host import Host
from sematune.validate import require

Value = Union[int, float, str]
Kind = Literal["continuous", "categorical"]
Scope = Literal["global", "per_core", "per_device"]


class Domain:
    """Where a knob may move: a numeric range or a list of choices."""

    def __init__(
        self,
        key: str,
        *,
        low: float | None = None,
        high: float | None = None,
        log: bool = False,
        dtype: str = "int",
        choices: Sequence[Value] | None = None,
    ) -> None:
        self.key = key
        self.log = bool(log)
        self.dtype = dtype
        require(f"{key}.dtype", dtype in ("int", "float", "str"),
                f"must be int, float or str, not {dtype!r}")
        if choices is not None:
            require(key, low is None and high is None,
                    "give either low/high or choices, not both")
            values = list(choices)
            require(f"{key}.choices", values, "is empty")
            require(f"{key}.choices", len(set(map(str, values))) == len(values), f"has duplicates: {values}")
            self.choices: tuple[Value, ...] | None = tuple(values)
            self.low = self.high = None
            return
        self.choices = None
        require(key, low is not None and high is not None, "needs low and high (a range) or choices")
        require(key, all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)),
                f"low/high must be numbers, got {low!r} and {high!r}")
        require(f"{key}.dtype", dtype != "str", "a range needs dtype int or float")
        require(key, math.isfinite(low) and math.isfinite(high), "low/high must be finite")
        require(key, low < high, f"empty or inverted range: low={low} >= high={high}")
        require(f"{key}.log", not (self.log and low <= 0), f"a log-scale range needs low > 0, got low={low}")
        self.low, self.high = (int(low), int(high)) if dtype == "int" else (float(low), float(high))

    @classmethod
    def empty(cls, key: str, dtype: str = "str") -> "Domain":
        """A categorical domain with no choices: for a knob whose host offers none (it is unavailable)."""
        domain = cls.__new__(cls)
        domain.key, domain.log, domain.dtype = key, False, dtype
        domain.choices, domain.low, domain.high = (), None, None
        return domain

    @property
    def kind(self) -> Kind:
        return "categorical" if self.choices is not None else "continuous"

    def coerce(self, raw: Any) -> Value:
        """Turn a proposed value into this domain's type; raise ``ValueError`` if impossible."""
        if self.choices is not None:
            for choice in self.choices:
                if raw == choice and type(raw) is type(choice):
                    return choice
            text = str(raw).strip().lower()
            for choice in self.choices:
                if text == str(choice).lower():
                    return choice
            if isinstance(raw, float) and raw.is_integer():
                return self.coerce(int(raw))
            raise ValueError(f"{raw!r} is not one of {list(self.choices)}")
        if isinstance(raw, bool):
            raise ValueError(f"{raw!r} is not a number")
        try:
            number = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{raw!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{raw!r} is not finite")
        return int(round(number)) if self.dtype == "int" else number

    def clip(self, value: Value) -> Value:
        """Clamp a coerced numeric value into the range (categoricals pass through)."""
        if self.choices is not None:
            return value
        assert self.low is not None and self.high is not None
        return min(max(value, self.low), self.high)  # type: ignore[type-var]

    def contains(self, value: Value) -> bool:
        if self.choices is not None:
            return value in self.choices
        assert self.low is not None and self.high is not None
        return self.low <= value <= self.high  # type: ignore[operator]

    def normalise(self, value: Value) -> float:
        """Map a value to [0, 1] (log-aware; categoricals by index)."""
        if self.choices is not None:
            n = len(self.choices)
            return self.choices.index(value) / (n - 1) if n > 1 else 0.0
        assert self.low is not None and self.high is not None
        v = min(max(float(value), self.low), self.high)
        if self.log:
            return (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (v - self.low) / (self.high - self.low)

    def denormalise(self, unit: float) -> Value:
        """Inverse of :meth:`normalise`; ``unit`` is clamped into [0, 1]."""
        u = min(max(float(unit), 0.0), 1.0)
        if self.choices is not None:
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        assert self.low is not None and self.high is not None
        if self.log:
            v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            v = self.low + u * (self.high - self.low)
        return self.clip(int(round(v)) if self.dtype == "int" else v)

    def grid(self, points: int) -> list[Value]:
        """``points`` evenly spaced values (log grid for log ranges); all choices for categoricals."""
        if self.choices is not None:
            return list(self.choices)
        if points < 2:
            raise ValueError("a grid needs at least 2 points")
        values: list[Value] = []
        for i in range(points):
            v = self.denormalise(i / (points - 1))
            if v not in values:
                values.append(v)
        return values

    def describe(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "dtype": self.dtype}


class OsParam(ABC):
    """One host setting. Subclasses implement :meth:`files` and the text codec."""

    #: Linux interface family, e.g. ``sysctl`` (documentation and tags).
    interface: ClassVar[str] = "abstract"
    scope: ClassVar[Scope] = "global"
    #: Host path globs this family may write (the built-in allow-list is their union).
    allowed_paths: ClassVar[tuple[str, ...]] = ()
    #: Host path globs a sandbox copies for this family (``python -m sematune.osparams.sandbox``).
    sandbox_globs: ClassVar[tuple[str, ...]] = ()
    #: Pseudo file systems' mount points this family may need mounted (recorded by the journal).
    mount_points: ClassVar[tuple[str, ...]] = ()
    #: Which files a knob of this family uses, for the interface table of docs/osparams.md.
    doc_files: ClassVar[str] = ""
    #: The file or key column of docs/osparams.md, formatted with the knob's YAML fields.
    doc_location_format: ClassVar[str] = ""

    @classmethod
    def doc_location(cls, spec: dict[str, Any]) -> str:
        """The file or key column of docs/osparams.md for a knob's YAML ``spec``."""
        return cls.doc_location_format.format(**spec)

    @classmethod
    def doc_kind(cls, spec: dict[str, Any]) -> Kind:
        """``categorical`` or ``continuous`` for a knob's YAML ``spec``."""
        return "categorical" if "choices" in spec else "continuous"

    def __init__(
        self,
        name: str,
        *,
        host: Host | None = None,
        description: str = "",
        low: float | None = None,
        high: float | None = None,
        log: bool = False,
        dtype: str = "int",
        choices: Sequence[Value] | None = None,
        unit: str = "",
        optional: bool = False,
    ) -> None:
        require("osparam", name and name.replace("_", "").isalnum(),
                f"knob name {name!r} must be letters, digits and '_'")
        self.name = name
        self.host = host or Host("/")
        self.description = description
        self.unit = unit
        #: Dropped with a warning (instead of failing the run) when this host lacks it.
        self.optional = bool(optional)
        self.dropped_choices: list[Value] = []
        self.unoffered: str | None = None
        offered = self.offered_choices()
        if offered is not None:
            choices = self._host_choices(offered, list(choices) if choices else None)
            if not choices:
                self.domain = Domain.empty(f"osparam.{self.name}", dtype)
                return
        self.domain = self._build_domain(low=low, high=high, log=log, dtype=dtype, choices=choices)

    def _build_domain(self, **kwargs: Any) -> Domain:
        return Domain(f"osparam.{self.name}", **kwargs)

    def offered_choices(self) -> list[str] | None:
        """The choices this host offers, for a family whose choices come from the host (else ``None``).

        Called before the domain is built; the configured ``choices`` are limited to these.
        """
        return None

    def _host_choices(self, offered: Sequence[str], configured: list[Value] | None) -> list[Value]:
        wanted = configured or list(offered)
        keep = [c for c in wanted if str(c) in offered]
        self.dropped_choices = [c for c in wanted if str(c) not in offered]
        if keep:
            return keep
        if offered:
            self.unoffered = f"the host offers {list(offered)}, none of {wanted}"
        return wanted

    def restrict_choices(self, offered: Sequence[str], configured: Sequence[Value] | None) -> None:
        """Limit the choices to what the host ``offered`` (all of it when none are configured).

        For families whose domain is a range or configured choices (checked after the domain is
        built); when the host offers none of them the domain is left alone and :attr:`unoffered`
        says why, which :meth:`probe` reports.
        """
        choices = self._host_choices(offered, list(configured) if configured else None)
        if choices and self.unoffered is None:
            self.domain.choices = tuple(choices)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # -- metadata ------------------------------------------------------------------------------
    @property
    def kind(self) -> Kind:
        return self.domain.kind

    def describe(self) -> dict[str, Any]:
        """Metadata for docs, prompts and tracking."""
        return {
            "name": self.name,
            "interface": self.interface,
            "kind": self.kind,
            "scope": self.scope,
            "unit": self.unit,
            "optional": self.optional,
            "description": self.description,
            "files": self.files() if self.probe() is None else [],
            **self.domain.describe(),
        }

    # -- files ----------------------------------------------------------------------------------
    @abstractmethod
    def files(self) -> list[str]:
        """Host paths this knob writes (all of them for per-core / per-device knobs)."""

    def mounts(self) -> list[tuple[str, str]]:
        """``(fstype, mount point)`` pairs this knob needs mounted before its files exist.

        The journal mounts them (recorded first, unmounted on restore) before it reads any file.
        """
        return []

    def related_files(self) -> list[str]:
        """Other host paths a write may change as a side effect; journaled and restored too."""
        return []

    def restore_payload(self, host_path: str, original: bytes) -> bytes:
        """What to write to ``host_path`` to bring back ``original`` (its bytes as read)."""
        return original

    def probe(self) -> str | None:
        """``None`` when this host has the knob, else a one-line reason it does not."""
        try:
            paths = self.files()
        except (OSError, LookupError, ValueError) as exc:
            return str(exc)
        if not paths:
            return "no files on this host"
        if self.unoffered:
            return self.unoffered
        for path in paths:
            if not self.host.exists(path):
                return f"{path} does not exist on this host"
            try:
                self.host.read_bytes(path)
            except OSError as exc:
                return f"{path} is not readable: {exc.strerror or exc}"
            if not self.host.path(path).stat().st_mode & 0o222:
                return f"{path} is read-only on this host"
        return None

    def needs_root(self) -> bool:
        """True when some file is not writable by this process (reads may still work)."""
        return any(not self.host.writable(p) for p in self.files())

    # -- values ---------------------------------------------------------------------------------
    def parse(self, text: str) -> Value:
        """Decode a file's text into a value of this knob's type."""
        word = text.strip()
        if self.domain.dtype == "str":
            return word
        number = float(word)
        value: Value = int(number) if self.domain.dtype == "int" and number.is_integer() else number
        if self.domain.choices is not None:
            try:
                return self.domain.coerce(value)
            except ValueError:
                return value
        return value

    def format(self, value: Value) -> str:
        """Encode a value as the text the kernel expects."""
        if isinstance(value, float) and self.domain.dtype == "int":
            value = int(round(value))
        return str(value)

    def read(self) -> Value:
        """The value the kernel holds now (the first file for per-core/per-device knobs)."""
        return self.parse(self.host.read_text(self.files()[0]))

    def write(self, value: Value) -> None:
        """Write ``value`` to every file of this knob."""
        payload = self.format(value).encode()
        for path in self.files():
            self.host.write_bytes(path, payload)

    # -- domain shortcuts ---------------------------------------------------------------------
    def coerce(self, raw: Any) -> Value:
        return self.domain.coerce(raw)

    def clip(self, value: Value) -> Value:
        return self.domain.clip(value)

    def normalise(self, value: Value) -> float:
        return self.domain.normalise(value)

    def denormalise(self, unit: float) -> Value:
        return self.domain.denormalise(unit)


def online_cpus(host: Host) -> list[int]:
    """CPU ids listed in ``/sys/devices/system/cpu/online`` (falls back to ``os.cpu_count``)."""
    path = "/sys/devices/system/cpu/online"
    if host.exists(path):
        return parse_cpu_list(host.read_text(path))
    return list(range(os.cpu_count() or 1))


def parse_cpu_list(text: str | int | Sequence[int]) -> list[int]:
    """Parse ``"0-3,6"`` (or a list of ints) into sorted CPU ids."""
    if isinstance(text, int):
        return [text]
    if not isinstance(text, str):
        return sorted({int(c) for c in text})
    cpus: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
            raise ValueError(f"{part!r} is not a CPU id or range (CPU ids are integers ≥ 0, ranges are like 0-3)")
        if sep and int(hi) < int(lo):
            raise ValueError(f"range {part!r} runs backwards (write {hi}-{lo})")
        cpus.update(range(int(lo), int(hi) + 1) if sep else (int(lo),))
    return sorted(cpus)


def select_cpus(spec: str | int | Sequence[int] | None, host: Host, name: str) -> list[int]:
    """The CPUs a per-core knob ``name`` covers: ``spec`` checked against the online CPUs, or all of them."""
    online = online_cpus(host)
    if spec is None:
        return online
    key = f"osparam.{name}.cpus"
    try:
        wanted = parse_cpu_list(spec)
    except (TypeError, ValueError) as exc:
        raise ConfigError(key, str(exc)) from None
    require(key, not any(c < 0 for c in wanted), f"CPU ids are integers ≥ 0 (got {spec!r})")
    missing = sorted(set(wanted) - set(online))
    require(key, not missing, f"CPU(s) {missing} are not online on this host (online: {online})")
    return wanted
