"""CPU frequency scaling per cpufreq policy: governor, min and max frequency."""

from __future__ import annotations

from typing import Any, Sequence

from sematune.osparams.base import OsParam, Value, parse_cpu_list, select_cpus
from sematune.validate import require

_ATTRIBUTES = ("scaling_governor", "scaling_min_freq", "scaling_max_freq", "energy_performance_preference")
_OFFERED = {
    "scaling_governor": "scaling_available_governors",
    "energy_performance_preference": "energy_performance_available_preferences",
}


class Cpufreq(OsParam):
    """``cpufreq/policyN/<attribute>`` for every policy covering a selected CPU (``cpus``).

    Governor and EPP choices are limited to what the driver offers
    (intel_pstate, amd_pstate, acpi-cpufreq…); hosts without cpufreq report it unavailable.
    """

    interface = "cpufreq"
    scope = "per_core"
    allowed_paths = ("/sys/devices/system/cpu/*",)
    sandbox_globs = ("/sys/devices/system/cpu/online", "/sys/devices/system/cpu/cpufreq/policy*/*")
    doc_location_format = "`{attribute}`"
    doc_files = "`cpufreq/policy*/<attribute>` of policies covering the selected CPUs"


    def __init__(
        self,
        name: str,
        *,
        attribute: str,
        cpus: str | Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        require(f"osparam.{name}.attribute", attribute in _ATTRIBUTES,
                f"{attribute!r} is not one of {_ATTRIBUTES}")
        self.attribute = attribute
        self.cpus_spec = cpus
        self._files: list[str] | None = None
        if attribute in _OFFERED:
            kwargs["dtype"] = "str"
        super().__init__(name, **kwargs)
        offered = self._offered()
        if offered and self.domain.choices is not None:
            self.restrict_choices(offered, self.domain.choices)

    def _offered(self) -> list[str]:
        files = self.files()
        if not files or self.attribute not in _OFFERED:
            return []
        path = files[0].rsplit("/", 1)[0] + "/" + _OFFERED[self.attribute]
        return self.host.read_text(path).split() if self.host.exists(path) else []

    def files(self) -> list[str]:
        if self._files is None:
            self._files = self._find_files()
        return self._files

    def _find_files(self) -> list[str]:
        wanted = set(select_cpus(self.cpus_spec, self.host, self.name))
        paths = []
        for policy in self.host.glob("/sys/devices/system/cpu/cpufreq/policy*"):
            affected = f"{policy}/affected_cpus"
            cpus = set(parse_cpu_list(self.host.read_text(affected).replace(" ", ","))) if self.host.exists(affected) else set()
            if cpus & wanted:
                paths.append(f"{policy}/{self.attribute}")
        return paths

    def probe(self) -> str | None:
        if not self.host.exists("/sys/devices/system/cpu/cpufreq"):
            return "this host has no cpufreq (no frequency scaling driver)"
        return super().probe()

    def parse(self, text: str) -> Value:
        return text.strip() if self.attribute in _OFFERED else super().parse(text)
