"""A rich progress bar: window, phase, last and best objective."""

from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Optional

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sematune.engine.records import WindowRecord


def _fmt(value: Optional[float]) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}"


class RunProgress:
    """Shows ``[phase] window i/N  last=… best tuning=…`` while the loop runs (only on a terminal)."""

    def __init__(self, total_windows: int, metric: str, enabled: Optional[bool] = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.metric = metric
        self._progress = Progress(
            TextColumn("[bold]{task.fields[phase]:>8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(f"{metric} last [cyan]{{task.fields[last]}}[/] best tuning [green]{{task.fields[best]}}[/]"),
            TimeElapsedColumn(),
            disable=not self.enabled,
            transient=False,
        )
        self.total = total_windows
        self._task = self._progress.add_task("windows", total=total_windows, phase="baseline", last="—", best="—")

    def __enter__(self) -> "RunProgress":
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def shrink(self, fewer: int) -> None:
        """The run needs ``fewer`` windows than planned (e.g. fewer confirmation candidates)."""
        self.total -= fewer
        self._progress.update(self._task, total=self.total)

    def update(self, record: WindowRecord, best: Optional[WindowRecord]) -> None:
        last = _fmt(record.objective) if record.status != "failed" else "[red]failed[/]"
        self._progress.update(
            self._task,
            advance=1,
            phase=record.phase,
            last=last,
            best=_fmt(best.objective if best else None),
        )


def console_log_handler() -> logging.Handler:
    """Log handler for the console: rich on a terminal (shares it with the progress bar), plain otherwise."""
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        return RichHandler(show_path=False, rich_tracebacks=False)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(levelname)s] %(message)s", "%H:%M:%S"))
    return handler
