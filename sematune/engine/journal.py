"""Crash-safe host-state journal: original bytes on disk before the first write, byte-verified restore.

The journal holds, for every file a run may change, the original bytes, what to write to
bring them back, and a checksum. It is written atomically and fsynced before any knob is
written, so a crash at any point leaves enough on disk for the next start (or
``python -m sematune.restore``) to put the host back.

A journal on disk is *untrusted input*: whoever loads it supplies the :class:`Host` (root and
allow-list come from the invoking run or command line, never from the file), every entry is
checked against that host before anything is written, and a journal that does not parse is
reported in one line, never with a traceback.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import re
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

from sematune.engine.restore_report import RestoreReport
from sematune.errors import HostSafetyError
from sematune.osparams.families import MOUNT_POINTS
from sematune.osparams.host import Host
from sematune.osparams.space import ParameterSpace

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
JOURNAL_NAME = "journal.json"
#: Next to the host lock: the state dir of the journal now guarding this host, whatever it is.
POINTER_NAME = "journal-location"
#: Passes over the files that still differ from their original bytes.
RESTORE_PASSES = 3


class JournalCorrupt(HostSafetyError):
    """A journal file that cannot be parsed or fails its own checksums."""


def canonical_state_dir(host: Host) -> Path:
    """``<host_root>/var/lib/sematune``: where a host's journal lives unless configured elsewhere."""
    return host.path("/var/lib/sematune")


def default_state_dir(host: Host) -> Path:
    """``$SEMATUNE_STATE_DIR`` or ``<host_root>/var/lib/sematune``."""
    env = os.environ.get("SEMATUNE_STATE_DIR")
    return Path(env) if env else canonical_state_dir(host)


def host_lock_dir(host: Host) -> Path:
    """One lock per host, whatever state dir a run uses: ``/run/sematune``, or a tree's canonical state dir."""
    return Path("/run/sematune") if host.is_real else canonical_state_dir(host)


def discard_hint(state_dir: Path, host: Host) -> str:
    root = "" if host.is_real else f" --host-root {host.root}"
    return f"python -m sematune.restore{root} --state-dir {state_dir} --discard"


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


_SELECTED = re.compile(rb"\[([^\]\s]+)\]")


def same_state(now: bytes, original: bytes) -> bool:
    """Equal bytes, or, for a bracketed choice file (``a [b] c``), the same selected word."""
    if now == original:
        return True
    chosen = _SELECTED.search(original)
    return chosen is not None and (m := _SELECTED.search(now)) is not None and m.group(1) == chosen.group(1)


class JournalEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    path: str
    knob: str
    original: str
    payload: str
    sha256: str


class JournalData(BaseModel):
    """The on-disk schema; ``host_root``/``allowed_paths`` are informative only, never used to write."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1]
    created_at: str
    pid: int = 0
    run: str = ""
    node: str = ""
    host_root: str
    allowed_paths: list[str] = []
    mounts: list[str] = []
    entries: list[JournalEntry]


def _decoded(entry: JournalEntry) -> tuple[bytes, bytes]:
    original = base64.b64decode(entry.original, validate=True)
    payload = base64.b64decode(entry.payload, validate=True)
    if hashlib.sha256(original).hexdigest() != entry.sha256:
        raise ValueError(f"checksum of {entry.path} does not match its original bytes")
    return original, payload


class HostJournal:
    """The journal of one run (or a stale one found at start)."""

    def __init__(self, state_dir: str | os.PathLike[str], host: Host) -> None:
        self.state_dir = Path(state_dir)
        self.host = host
        self.path = self.state_dir / JOURNAL_NAME
        self.data: Optional[dict[str, Any]] = None

    @property
    def pointer(self) -> Path:
        return host_lock_dir(self.host) / POINTER_NAME

    # -- capture ------------------------------------------------------------------------------
    def capture(self, space: ParameterSpace, run: str = "") -> dict[str, Any]:
        """Snapshot every file ``space`` may touch and persist the journal (fsync) before returning.

        File systems the knobs need (debugfs) are mounted here, each recorded in the journal first,
        so that restore unmounts them whatever happens next.
        """
        if self.path.exists():
            raise HostSafetyError(f"a journal already exists at {self.path}; restore it first")
        self.data = self._header(run)
        # The pointer first: a run using another state dir still finds this journal after a crash.
        atomic_write_json(self.pointer, {"state_dir": str(self.state_dir.resolve())})
        atomic_write_json(self.path, self.data)
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
    def load(cls, state_dir: str | os.PathLike[str], host: Host) -> Optional["HostJournal"]:
        """The journal left in ``state_dir`` for ``host`` (``None`` if there is none).

        Raises :class:`JournalCorrupt` (one line, with what to do) when it cannot be parsed, and
        :class:`HostSafetyError` when it was written for another host root.
        """
        path = Path(state_dir) / JOURNAL_NAME
        if not path.exists():
            return None
        hint = discard_hint(Path(state_dir), host)
        try:
            data = JournalData.model_validate_json(path.read_bytes())
            for entry in data.entries:
                _decoded(entry)
        except (ValidationError, ValueError, binascii.Error, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise JournalCorrupt(
                f"the host journal {path} is corrupt ({reason}); compare the knob files it names with "
                f"their defaults by hand (docs/safety.md), then move it aside with `{hint}`"
            ) from None
        if os.path.realpath(data.host_root) != str(host.root):
            raise HostSafetyError(
                f"the journal {path} was written for host_root {data.host_root!r}, not {str(host.root)!r}; "
                f"refusing to restore it here (if that host is yours: python -m sematune.restore "
                f"--host-root <its root> --state-dir {state_dir}; to drop it: `{hint}`)"
            )
        journal = cls(state_dir, host)
        journal.data = data.model_dump()
        return journal

    def _clear_pointer(self) -> None:
        try:
            target = json.loads(self.pointer.read_text(encoding="utf-8")).get("state_dir")
        except (OSError, ValueError, AttributeError):
            return
        if target == str(self.state_dir.resolve()):
            self.pointer.unlink(missing_ok=True)

    def _accepted(self) -> tuple[list[tuple[dict[str, Any], bytes, bytes]], list[dict[str, str]]]:
        """Entries this host may write (checked now, against the invoking host), and the refused ones."""
        assert self.data is not None
        accepted, refused = [], []
        for entry in self.data["entries"]:
            try:
                self.host.resolve_for_write(entry["path"])
            except HostSafetyError as exc:
                refused.append({"path": str(entry["path"]), "knob": str(entry["knob"]), "error": str(exc)})
                continue
            original, payload = _decoded(JournalEntry.model_validate(entry))
            # A host_root tree is plain files: its original bytes are the faithful restore.
            accepted.append((entry, original, payload if self.host.is_real else original))
        return accepted, refused

    def restore(self) -> RestoreReport:
        """Write back every changed file in reverse order, verify, return the report.

        The journal file is removed only when every entry was accepted and every file matches;
        otherwise it stays so the restore can be retried (or discarded by hand).
        """
        if self.data is None:
            raise HostSafetyError("nothing captured")
        attempted_at = _now()
        accepted, refused = self._accepted()
        for problem in refused:
            log.error("journal entry refused: %s", problem["error"])
        status = {entry["path"]: "unchanged" for entry, _, _ in accepted}
        errors: dict[str, dict[str, str]] = {}
        # Reverse order first; then retry what still differs, because one knob can constrain another
        # (e.g. a queue's nr_requests is capped until its I/O scheduler is back).
        for _ in range(RESTORE_PASSES):
            errors = {}
            for entry, original, payload in reversed(accepted):
                path = entry["path"]
                try:
                    if not same_state(self.host.read_bytes(path), original):
                        self.host.write_bytes(path, payload)
                        status[path] = "restored"
                    elif status[path] == "failed":  # put back by a side effect of a later write
                        status[path] = "restored"
                except (OSError, HostSafetyError) as exc:
                    status[path] = "failed"
                    errors[path] = {"path": path, "knob": entry["knob"], "error": str(exc)}
            if not errors:
                break
        mismatches = []
        # Verify after every write: later writes can undo earlier ones (side effects).
        for entry, original, _ in accepted:
            try:
                now = self.host.read_bytes(entry["path"])
            except OSError as exc:
                mismatches.append({"path": entry["path"], "knob": entry["knob"], "error": str(exc)})
                continue
            if not same_state(now, original):
                mismatches.append({"path": entry["path"], "knob": entry["knob"],
                                   "expected": original.decode(errors="replace"), "found": now.decode(errors="replace")})
        report = RestoreReport(
            journal_created_at=self.data["created_at"],
            attempted_at=attempted_at,
            verified_at=_now(),
            host_root=str(self.host.root),
            control_count=len(self.data["entries"]),
            restored_count=sum(s == "restored" for s in status.values()),
            write_errors=list(errors.values()),
            byte_mismatches=mismatches,
            refused=refused,
            unmounted=self._unmount(),
            entries=[{"path": e["path"], "knob": e["knob"], "status": status[e["path"]]} for e, _, _ in accepted],
        )
        if report.ok:
            self.path.unlink(missing_ok=True)
            self._clear_pointer()
        else:
            log.error("host restore incomplete: %d refused, %d write errors, %d byte mismatches; journal kept at %s",
                      len(refused), len(report.write_errors), len(mismatches), self.path)
        return report

    def _unmount(self) -> list[str]:
        done = []
        # Only mounts a shipped knob family makes, and only on the real host: the list is untrusted input.
        mounts = [m for m in (self.data or {}).get("mounts", []) if m in MOUNT_POINTS and self.host.is_real]
        for mount in mounts:
            try:
                self.host.unmount(mount)
                done.append(mount)
            except OSError as exc:
                log.warning("could not unmount %s: %s", mount, exc)
        return done


def stale_state_dirs(host: Host, state_dir: str | os.PathLike[str]) -> list[Path]:
    """Where a crashed run's journal for ``host`` may be: the configured dir, the canonical one, the pointer's."""
    dirs = [Path(state_dir), canonical_state_dir(host)]
    try:
        pointed = json.loads((host_lock_dir(host) / POINTER_NAME).read_text(encoding="utf-8")).get("state_dir")
        if isinstance(pointed, str) and pointed:
            dirs.append(Path(pointed))
    except (OSError, ValueError, AttributeError):
        pass
    unique: dict[str, Path] = {}
    for d in dirs:
        unique.setdefault(os.path.realpath(d), d)
    return list(unique.values())
