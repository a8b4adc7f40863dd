"""The typed result of a host restore: what was written back, refused and verified."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class RestoreReport:
    """One restore of a journal. ``ok`` is the only thing callers need to check."""

    journal_created_at: str
    attempted_at: str
    verified_at: str
    host_root: str
    control_count: int
    restored_count: int
    write_errors: list[dict[str, str]] = field(default_factory=list)
    byte_mismatches: list[dict[str, str]] = field(default_factory=list)
    #: Journal entries refused because they lie outside the invoking host's root or allow-list.
    refused: list[dict[str, str]] = field(default_factory=list)
    unmounted: list[str] = field(default_factory=list)
    entries: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every entry accepted, written back and byte-verified."""
        return not (self.write_errors or self.byte_mismatches or self.refused)

    @property
    def restore_status(self) -> str:
        return "PASS" if not (self.write_errors or self.refused) else "FAIL"

    @property
    def verify_status(self) -> str:
        return "PASS" if not self.byte_mismatches and not self.refused else "FAIL"

    def problems(self) -> list[dict[str, str]]:
        return [*self.refused, *self.write_errors, *self.byte_mismatches]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``restoration_report.json``); keeps the ``*_status`` keys old readers use."""
        return {
            "schema_version": SCHEMA_VERSION,
            "ok": self.ok,
            "restore_status": self.restore_status,
            "verify_status": self.verify_status,
            **asdict(self),
        }

    def headline(self) -> str:
        return (f"host restore {'PASS' if self.ok else 'FAILED'}: {self.restored_count} of {self.control_count} "
                f"files written back, bytes {self.verify_status}"
                + (f", {len(self.refused)} journal entries refused" if self.refused else ""))
