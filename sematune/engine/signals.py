"""Turn SIGTERM/SIGHUP into an exception (so ``finally`` restores the host) and shield restores."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from types import FrameType
from typing import Any, Iterator, Optional

from sematune.errors import RunInterrupted

log = logging.getLogger(__name__)

_HANDLED = (signal.SIGTERM, signal.SIGHUP)
_SHIELDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise(signum: int, frame: Optional[FrameType]) -> None:
    raise RunInterrupted(signum)


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """While active, SIGTERM and SIGHUP raise :class:`RunInterrupted` (SIGINT raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise) for s in _HANDLED}
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.signal(signal.SIGINT, previous_int)


@contextlib.contextmanager
def shielded(what: str) -> Iterator[list[int]]:
    """Ignore (but remember) SIGINT/SIGTERM/SIGHUP while ``what`` runs, e.g. a host restore."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def note(signum: int, frame: Any) -> None:
        # No logging here: the handler may interrupt a write to the same stream (reentrant call).
        received.append(signum)

    previous = {s: signal.signal(s, note) for s in _SHIELDED}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            log.warning("signal %d received while %s; that was finished first", received[0], what)
