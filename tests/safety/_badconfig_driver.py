"""Run many ``python -m sematune`` command lines in one process (Hydra start-up paid once).

Usage: ``python -m tests.safety._badconfig_driver cases.json results.json``; each case is a list
of command-line arguments. Each result: ``{"code": exit code, "stderr": [lines]}``.
"""

from __future__ import annotations

import io
import json
import logging
import sys

from hydra.core.global_hydra import GlobalHydra

from sematune import app, sweep_failures


def run_one(args: list[str]) -> dict:
    GlobalHydra.instance().clear()
    app._EntryState.task_started = False
    sweep_failures.clear()
    err, old_err, old_argv = io.StringIO(), sys.stderr, sys.argv
    sys.stderr, sys.argv = err, ["sematune", *args]
    code = 0
    try:
        app.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stderr, sys.argv = old_err, old_argv
        for handler in logging.getLogger().handlers[:]:  # Hydra re-creates them on the next run
            logging.getLogger().removeHandler(handler)
    return {"code": code, "stderr": [line for line in err.getvalue().splitlines() if line.strip()]}


def main() -> None:
    cases = json.loads(open(sys.argv[1], encoding="utf-8").read())
    results = [run_one(case) for case in cases]
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main()
