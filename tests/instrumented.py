"""``python -m tests.instrumented ARGS``: ``python -m sematune ARGS`` with test instruments attached.

* ``SEMATUNE_TEST_WRITE_LOG=<file>``: a spy on :meth:`Host.write_bytes`, the single write path —
  every call appends one JSON line ``{"path": host path, "data": text}`` *before* the write,
  so writes that fail (or are later undone by a restore) are listed too.
* ``SEMATUNE_TEST_FAIL=<where>:<window>``: from that window on, ``target`` (the synthetic
  target's ``execute_window``) or ``tuner`` (``suggest_parameters`` of the run's tuner class)
  raises ``RuntimeError`` — a failure after real knob writes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_write_log(path: Path) -> list[dict[str, str]]:
    """The spy's entries, in call order ([] when nothing was written)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _spy_on_writes(log_path: str) -> None:
    from sematune.osparams.host import Host

    real = Host.write_bytes

    def write_bytes(self: Host, host_path: str, data: bytes) -> None:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"path": host_path, "data": data.decode(errors="replace")}) + "\n")
        real(self, host_path, data)

    Host.write_bytes = write_bytes  # type: ignore[method-assign]


def _fail_from(where: str, window: int) -> None:
    if where == "target":
        from sematune.targets.synthetic import SyntheticTarget

        real_window = SyntheticTarget.execute_window

        def execute_window(self: SyntheticTarget, window_number: int, duration: float) -> Any:
            if window_number >= window:
                raise RuntimeError(f"injected target failure in window {window_number}")
            return real_window(self, window_number, duration)

        SyntheticTarget.execute_window = execute_window  # type: ignore[method-assign]
    elif where == "tuner":
        from sematune.tuners.fixed import FixedTuner
        from sematune.tuners.random_search import RandomTuner

        for cls in (FixedTuner, RandomTuner):
            _raise_in_suggest(cls, window)
    else:
        raise SystemExit(f"SEMATUNE_TEST_FAIL: unknown place {where!r}")


def _raise_in_suggest(cls: type, window: int) -> None:
    real_suggest = cls.suggest_parameters

    def suggest_parameters(self: Any, metrics: Any, current: Any, iteration: int, *a: Any, **k: Any) -> Any:
        if iteration >= window:
            raise RuntimeError(f"injected tuner failure in window {iteration}")
        return real_suggest(self, metrics, current, iteration, *a, **k)

    cls.suggest_parameters = suggest_parameters


def main() -> None:
    if os.environ.get("SEMATUNE_TEST_WRITE_LOG"):
        _spy_on_writes(os.environ["SEMATUNE_TEST_WRITE_LOG"])
    if os.environ.get("SEMATUNE_TEST_FAIL"):
        where, window = os.environ["SEMATUNE_TEST_FAIL"].split(":")
        _fail_from(where, int(window))
    from sematune.app import main as sematune_main

    sematune_main()


if __name__ == "__main__":
    main()
