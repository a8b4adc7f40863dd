"""Single sysfs files: a plain value, or a bracketed choice such as ``always [madvise] never``."""

from __future__ import annotations

import re
from typing import Any, Sequence

from sematune.osparams.base import Kind, OsParam, Value

_BRACKETED = re.compile(r"\[([^\]]+)\]")


def bracketed_choice(text: str) -> str:
    """The selected word of ``a [b] c`` (or the whole stripped text when there is none)."""
    match = _BRACKETED.search(text)
    return match.group(1) if match else text.strip()


def bracketed_options(text: str) -> list[str]:
    """Every word of ``a [b] c`` without brackets."""
    return [w.strip("[]") for w in text.split()]


class SysfsValue(OsParam):
    """A sysfs file holding one number or word."""

    interface = "sysfs"
    allowed_paths = ("/sys/kernel/mm/transparent_hugepage/*", "/sys/devices/system/cpu/*")
    sandbox_globs = ("/sys/kernel/mm/transparent_hugepage/*", "/sys/kernel/mm/transparent_hugepage/khugepaged/*",
                     "/sys/devices/system/cpu/intel_pstate/*")
    doc_location_format = "`{path}`"
    doc_files = "one sysfs file with a number or word"


    def __init__(self, name: str, *, path: str, related: Sequence[str] = (), **kwargs: Any) -> None:
        self.path = path
        self.related = list(related)
        super().__init__(name, **kwargs)

    def files(self) -> list[str]:
        return [self.path]

    def related_files(self) -> list[str]:
        return [p for p in self.related if self.host.exists(p)]


class SysfsChoice(SysfsValue):
    """A sysfs file that lists its options and brackets the selected one.

    Without ``choices`` every option the file offers is searchable; configured choices the
    file does not offer are dropped (and the knob is unavailable if none is left).
    """

    interface = "sysfs_choice"
    doc_files = "a sysfs file listing options with the selected one in brackets"

    @classmethod
    def doc_kind(cls, spec: dict[str, Any]) -> Kind:
        return "categorical"

    def __init__(self, name: str, *, path: str, choices: Sequence[Value] | None = None, **kwargs: Any) -> None:
        super().__init__(name, path=path, choices=choices, dtype="str", **kwargs)

    def offered_choices(self) -> list[str]:
        try:
            return bracketed_options(self.host.read_text(self.path)) if self.host.exists(self.path) else []
        except OSError:
            return []

    def parse(self, text: str) -> Value:
        return bracketed_choice(text)

    def restore_payload(self, host_path: str, original: bytes) -> bytes:
        return bracketed_choice(original.decode()).encode()
