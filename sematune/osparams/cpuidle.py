"""CPU idle management: the cpuidle governor and per-CPU limits on idle-state depth."""

from __future__ import annotations

from typing import Any, Sequence

from sematune.osparams.base import Kind, OsParam, Value, select_cpus

CPUIDLE = "/sys/devices/system/cpu/cpuidle"


class _Cpuidle(OsParam):
    """What both cpuidle knobs share: their files, sandbox and documentation."""

    interface = "cpuidle"
    allowed_paths = ("/sys/devices/system/cpu/*",)
    sandbox_globs = ("/sys/devices/system/cpu/online",
                     "/sys/devices/system/cpu/cpu[0-9]*/cpuidle/state[0-9]*/name",
                     "/sys/devices/system/cpu/cpu[0-9]*/cpuidle/state[0-9]*/disable",
                     f"{CPUIDLE}/*")
    doc_location_format = "cpuidle"
    doc_files = ("`cpuidle/current_governor`; `cpuN/cpuidle/stateK/disable` for all states deeper than the "
                 "chosen one")


    @classmethod
    def doc_kind(cls, spec: dict[str, Any]) -> Kind:
        return "categorical"


class CpuidleGovernor(_Cpuidle):
    """``cpuidle/current_governor`` (``menu``, ``teo``, ``ladder``, ``haltpoll``…)."""

    def __init__(self, name: str, *, choices: Sequence[Value] | None = None, **kwargs: Any) -> None:
        super().__init__(name, choices=choices, dtype="str", **kwargs)

    def offered_choices(self) -> list[str]:
        path = f"{CPUIDLE}/available_governors"
        return self.host.read_text(path).split() if self.host.exists(path) else []

    def files(self) -> list[str]:
        return [f"{CPUIDLE}/current_governor"]

    def parse(self, text: str) -> Value:
        return text.strip()


class CpuidleStateLimit(_Cpuidle):
    """Deepest idle state a CPU may enter, by state name (``POLL``, ``C1``, ``C1E``, ``C6``…).

    The value names the deepest state left enabled: every deeper state of each selected CPU
    gets ``disable=1``, every shallower one ``disable=0``. Choices are the state names CPU
    ``cpus[0]`` offers, shallowest first.
    """

    scope = "per_core"

    def __init__(self, name: str, *, cpus: str | Sequence[int] | None = None, **kwargs: Any) -> None:
        self.cpus_spec = cpus
        self._state_dirs: dict[int, list[str]] = {}
        super().__init__(name, dtype="str", **kwargs)

    def offered_choices(self) -> list[str]:
        """The idle-state names of the first selected CPU, shallowest first."""
        return self.state_names()

    def cpus(self) -> list[int]:
        return select_cpus(self.cpus_spec, self.host, self.name)

    def _states(self, cpu: int) -> list[str]:
        """``cpuN/cpuidle/stateK`` directories, shallowest first (found once per CPU)."""
        if cpu not in self._state_dirs:
            found = self.host.glob(f"/sys/devices/system/cpu/cpu{cpu}/cpuidle/state[0-9]*")
            self._state_dirs[cpu] = sorted(found, key=lambda p: int(p.rsplit("state", 1)[1]))
        return self._state_dirs[cpu]

    def state_names(self) -> list[str]:
        cpus = self.cpus()
        if not cpus:
            return []
        return [self.host.read_text(f"{s}/name").strip() for s in self._states(cpus[0])]

    def files(self) -> list[str]:
        return [f"{s}/disable" for cpu in self.cpus() for s in self._states(cpu)]

    def probe(self) -> str | None:
        if not self.state_names():
            return "no per-CPU cpuidle states on this host (cpuidle driver 'none'?)"
        return super().probe()

    def read(self) -> Value:
        names = list(self.domain.choices or ())
        deepest = names[0]
        for name, state in zip(names, self._states(self.cpus()[0])):
            if self.host.read_text(f"{state}/disable").strip() == "0":
                deepest = name
        return deepest

    def write(self, value: Value) -> None:
        limit = list(self.domain.choices or ()).index(str(value))
        for cpu in self.cpus():
            for index, state in enumerate(self._states(cpu)):
                self.host.write_bytes(f"{state}/disable", b"1" if index > limit else b"0")
