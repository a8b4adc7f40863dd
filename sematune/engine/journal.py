"""Crash-safe host-state journal: original bytes on disk before the first write, byte-verified restore.

The journal holds, for every file a run may change, the original bytes, what to write to
bring them back, and a checksum. It is written atomically and fsynced before any knob is
written, so a crash at any point leaves enough on disk for the next start (or
``python -m sematune.restore``) to put the host back. It is self-contained: restoring needs
no configuration, only the journal and the :class:`Host` allow-list.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import platform
from pathlib import Path
from typing import Any, Optional

from sematune.errors import HostSafetyError
from sematune.osparams.host import Host
from sematune.osparams.space import ParameterSpace

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
JOURNAL_NAME = "journal.json"
#: Passes over the files that still differ from their original bytes.
RESTORE_PASSES = 3


def default_state_dir(host: Host) -> Path:
    """``$SEMATUNE_STATE_DIR`` or ``<host_root>/var/lib/sematune``."""
    env = os.environ.get("SEMATUNE_STATE_DIR")
    return Path(env) if env else host.path("/var/lib/sematune")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON via a temp file, fsync it, rename, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class HostJournal:
    """The journal of one run (or a stale one found at start)."""

    def __init__(self, state_dir: str | os.PathLike[str], host: Host) -> None:
        self.state_dir = Path(state_dir)
        self.host = host
        self.path = self.state_dir / JOURNAL_NAME
        self.data: Optional[dict[str, Any]] = None

    # -- capture ------------------------------------------------------------------------------
    def capture(self, space: ParameterSpace, run: str = "") -> dict[str, Any]:
        """Snapshot every file ``space`` may touch and persist the journal (fsync) before returning.

        File systems the knobs need (debugfs) are mounted here, each recorded in the journal first,
        so that restore unmounts them whatever happens next.
        """
        if self.path.exists():
            raise HostSafetyError(f"a journal already exists at {self.path}; restore it first")
        self.data = self._header(run)
        for fstype, target in space.mounts():
            self.data["mounts"].append(target)
            atomic_write_json(self.path, self.data)
            try:
                self.host.mount(fstype, target)
            except OSError:
                self.data["mounts"].remove(target)
                atomic_write_json(self.path, self.data)
                raise
        entries = []
        for host_path, param in space.journal_files():
            self.host.resolve_for_write(host_path)
            original = self.host.read_bytes(host_path)
            entries.append(
                {
                    "path": host_path,
                    "knob": param.name,
                    "original": _b64(original),
                    "payload": _b64(param.restore_payload(host_path, original)),
                    "sha256": hashlib.sha256(original).hexdigest(),
                }
            )
        self.data["entries"] = entries
        atomic_write_json(self.path, self.data)
        return self.data

    def _header(self, run: str) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "created_at": _now(),
            "pid": os.getpid(),
            "run": run,
            "node": platform.node(),
            "host_root": str(self.host.root),
            "allowed_paths": list(self.host.allowed_paths),
            "mounts": [],
            "entries": [],
        }

    # -- load / restore ---------------------------------------------------------------------
    @classmethod
    def load(cls, state_dir: str | os.PathLike[str]) -> Optional["HostJournal"]:
        """The journal left in ``state_dir`` (``None`` if there is none)."""
        path = Path(state_dir) / JOURNAL_NAME
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise HostSafetyError(f"{path}: unknown journal schema {data.get('schema_version')!r}")
        journal = cls(state_dir, Host(data["host_root"], data.get("allowed_paths")))
        journal.data = data
        return journal

    def restore(self) -> dict[str, Any]:
        """Write back every changed file in reverse order, verify bytes, return the report.

        The journal file is removed only when every byte matches; otherwise it stays so the
        restore can be retried.
        """
        if self.data is None:
            raise HostSafetyError("nothing captured")
        attempted_at = _now()
        status = {entry["path"]: "unchanged" for entry in self.data["entries"]}
        errors: dict[str, dict[str, str]] = {}
        # Reverse order first; then retry what still differs, because one knob can constrain another
        # (e.g. a queue's nr_requests is capped until its I/O scheduler is back).
        for _ in range(RESTORE_PASSES):
            errors = {}
            for entry in reversed(self.data["entries"]):
                path = entry["path"]
                try:
                    if self.host.read_bytes(path) != base64.b64decode(entry["original"]):
                        self.host.write_bytes(path, base64.b64decode(entry["payload"]))
                        status[path] = "restored"
                    elif status[path] == "failed":  # put back by a side effect of a later write
                        status[path] = "restored"
                except (OSError, HostSafetyError) as exc:
                    status[path] = "failed"
                    errors[path] = {"path": path, "knob": entry["knob"], "error": str(exc)}
            if not errors:
                break
        write_errors = list(errors.values())
        results = [{"path": e["path"], "knob": e["knob"], "status": status[e["path"]]} for e in self.data["entries"]]
        mismatches = []
        # Verify after every write: later writes can undo earlier ones (side effects).
        for entry in self.data["entries"]:
            try:
                now = self.host.read_bytes(entry["path"])
            except OSError as exc:
                mismatches.append({"path": entry["path"], "knob": entry["knob"], "error": str(exc)})
                continue
            if hashlib.sha256(now).hexdigest() != entry["sha256"]:
                mismatches.append(
                    {
                        "path": entry["path"],
                        "knob": entry["knob"],
                        "expected": base64.b64decode(entry["original"]).decode(errors="replace"),
                        "found": now.decode(errors="replace"),
                    }
                )
        unmounted = self._unmount()
        verified = not write_errors and not mismatches
        report = {
            "schema_version": SCHEMA_VERSION,
            "journal_created_at": self.data["created_at"],
            "attempted_at": attempted_at,
            "verified_at": _now(),
            "host_root": self.data["host_root"],
            "control_count": len(self.data["entries"]),
            "restored_count": sum(r["status"] == "restored" for r in results),
            "restore_status": "PASS" if not write_errors else "FAIL",
            "verify_status": "PASS" if not mismatches else "FAIL",
            "write_errors": write_errors,
            "byte_mismatches": mismatches,
            "unmounted": unmounted,
            "entries": results,
        }
        if verified:
            self.path.unlink(missing_ok=True)
        else:
            log.error("host restore incomplete: %d write errors, %d byte mismatches; journal kept at %s",
                      len(write_errors), len(mismatches), self.path)
        return report

    def _unmount(self) -> list[str]:
        done = []
        for mount in self.data.get("mounts", []) if self.data else []:
            try:
                self.host.unmount(mount)
                done.append(mount)
            except OSError as exc:
                log.warning("could not unmount %s: %s", mount, exc)
        return done
