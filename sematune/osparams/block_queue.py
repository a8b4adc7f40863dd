"""Per-device block queue settings under ``/sys/block/<dev>/queue`` (scheduler, read-ahead…)."""

from __future__ import annotations

from typing import Any, Sequence

from sematune.osparams.base import Kind, OsParam, Value
from sematune.osparams.sysfs import bracketed_choice, bracketed_options
from sematune.validate import require

#: Device name prefixes that are never tuned when ``devices: auto``.
_VIRTUAL = ("loop", "ram", "zram", "dm-", "md", "sr", "nbd")


class BlockQueue(OsParam):
    """One ``queue/<attribute>`` of every selected block device, set to the same value.

    ``devices: auto`` selects every device with a request queue that is not a loop, RAM,
    zram, device-mapper, optical or network block device. The I/O scheduler is a bracketed
    choice; switching it resets the scheduler's tunables, so ``queue/iosched/*`` is journaled
    and restored as well.
    """

    interface = "block_queue"
    scope = "per_device"
    allowed_paths = ("/sys/devices/*/block/*/queue/*", "/sys/block/*/queue/*")
    sandbox_globs = ("/sys/block/*/queue/*", "/sys/block/*/queue/iosched/*")
    doc_location_format = "queue/`{attribute}`"
    doc_files = ("`/sys/block/<dev>/queue/<attribute>` of every real disk; the I/O scheduler's `iosched/*` "
                 "tunables are restored with it")


    @classmethod
    def doc_kind(cls, spec: dict[str, Any]) -> Kind:
        return "categorical" if "choices" in spec or spec.get("attribute") == "scheduler" else "continuous"

    def __init__(
        self,
        name: str,
        *,
        attribute: str,
        devices: str | Sequence[str] = "auto",
        choices: Sequence[Value] | None = None,
        **kwargs: Any,
    ) -> None:
        require(f"osparam.{name}.attribute", attribute and "/" not in attribute and not attribute.startswith("."),
                f"{attribute!r} is not a queue attribute name")
        self.attribute = attribute
        self.devices_spec = devices
        self._devices: list[str] | None = None
        self.bracketed = attribute == "scheduler"
        if self.bracketed:
            kwargs["dtype"] = "str"
        super().__init__(name, choices=choices, **kwargs)

    def offered_choices(self) -> list[str] | None:
        """The I/O schedulers the first device offers (only ``scheduler`` takes its choices from the host)."""
        if not self.bracketed:
            return None
        files = self.files()
        return bracketed_options(self.host.read_text(files[0])) if files and self.host.exists(files[0]) else []

    def devices(self) -> list[str]:
        """The selected devices (found once; the set of disks does not change during a run)."""
        if self._devices is None:
            self._devices = self._find_devices()
        return self._devices

    def _find_devices(self) -> list[str]:
        if self.devices_spec != "auto":
            devs = [self.devices_spec] if isinstance(self.devices_spec, str) else list(self.devices_spec)
            for dev in devs:
                require(f"osparam.{self.name}.devices", "/" not in dev and not dev.startswith("."),
                        f"{dev!r} is not a device name")
            return devs
        found = []
        for path in self.host.glob(f"/sys/block/*/queue/{self.attribute}"):
            dev = path.split("/")[3]
            if not dev.startswith(_VIRTUAL):
                found.append(dev)
        return found

    def files(self) -> list[str]:
        return [f"/sys/block/{dev}/queue/{self.attribute}" for dev in self.devices()]

    def related_files(self) -> list[str]:
        if not self.bracketed:
            return []
        related: list[str] = []
        for dev in self.devices():
            related.extend(self.host.glob(f"/sys/block/{dev}/queue/iosched/*"))
        return related

    def probe(self) -> str | None:
        if not self.devices():
            return f"no block device with queue/{self.attribute}"
        return super().probe()

    def parse(self, text: str) -> Value:
        return bracketed_choice(text) if self.bracketed else super().parse(text)

    def restore_payload(self, host_path: str, original: bytes) -> bytes:
        if self.bracketed and host_path.endswith("/queue/scheduler"):
            return bracketed_choice(original.decode()).encode()
        return original
