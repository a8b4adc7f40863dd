"""Kernel module parameters under ``/sys/module/<module>/parameters`` (e.g. guest halt-polling)."""

from __future__ import annotations

import re
from typing import Any

from sematune.osparams.base import OsParam
from sematune.validate import require

_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class ModuleParam(OsParam):
    """A writable module parameter; boolean ones use choices ``[Y, N]`` with ``dtype: str``."""

    interface = "module_param"
    allowed_paths = ("/sys/module/*/parameters/*",)
    sandbox_globs = ("/sys/module/haltpoll/parameters/*", "/sys/module/kvm/parameters/halt_poll_ns")
    doc_location_format = "`{module}.{parameter}`"
    doc_files = "`/sys/module/<module>/parameters/<parameter>`"


    def __init__(self, name: str, *, module: str, parameter: str, **kwargs: Any) -> None:
        for key, value in (("module", module), ("parameter", parameter)):
            require(f"osparam.{name}.{key}", _NAME.match(value or ""),
                    f"{value!r} is not a module/parameter name")
        self.module = module
        self.parameter = parameter
        super().__init__(name, **kwargs)

    def files(self) -> list[str]:
        return [f"/sys/module/{self.module}/parameters/{self.parameter}"]

    def probe(self) -> str | None:
        if not self.host.exists(f"/sys/module/{self.module}"):
            return f"kernel module {self.module!r} is not loaded or built in"
        return super().probe()
