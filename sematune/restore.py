"""``python -m sematune.restore``: put the host back from a journal a crashed run left behind.

The host root comes from ``--host-root`` and the allow-list is the built-in one: the journal's
own copies of both are never used, and entries outside them are refused. Killed MLflow runs the
journal names are marked KILLED when ``--tracking-uri`` is given (or the journal's store is a
local SQLite file).

Exit codes: 0 restored and byte-verified (or nothing to restore, or discarded), 1 restore
incomplete or journal unusable (it is kept; fix the cause and run again, or ``--discard``),
2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sematune._pidlock import HostLock
from sematune.engine.journal import HostJournal, JournalCorrupt, default_state_dir, host_lock_dir, stale_state_dirs
from sematune.errors import SemaTuneError
from sematune.osparams.host import Host
from sematune.tracking.stale_runs import mark_open_runs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sematune.restore", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", help="where the journal lives (default: $SEMATUNE_STATE_DIR or "
                        "<host-root>/var/lib/sematune)")
    parser.add_argument("--host-root", default="/", help="host root the run used (default: /)")
    parser.add_argument("--report", help="also write the restoration report (JSON) here")
    parser.add_argument("--tracking-uri", help="MLflow store of the crashed run (marks it KILLED)")
    parser.add_argument("--discard", action="store_true",
                        help="move an unusable journal aside without writing the host (check the knobs by hand)")
    return parser


def _discard(state_dir: Path) -> int:
    path = state_dir / "journal.json"
    if not path.exists():
        print(f"nothing to discard: no journal in {state_dir}")
        return 0
    aside = path.with_name(path.name + ".discarded")
    path.replace(aside)
    print(f"journal moved aside to {aside}; the host was not written")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.host_root == "":
            print("error: --host-root: empty (use / for the real host)", file=sys.stderr)
            return 2
        host = Host(args.host_root)
        state_dir = Path(args.state_dir) if args.state_dir else default_state_dir(host)
        with HostLock(host_lock_dir(host)):
            if args.discard:
                return _discard(state_dir)
            journal = HostJournal.load(state_dir, host)
            if journal is None:
                print(f"nothing to restore: no journal in {state_dir}")
                mark_open_runs(stale_state_dirs(host, state_dir), args.tracking_uri)
                return 0
            report = journal.restore()
            if report.ok:
                mark_open_runs(stale_state_dirs(host, state_dir), args.tracking_uri)
    except JournalCorrupt as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SemaTuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.report:
        Path(args.report).write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
    print(report.headline().replace("host restore", "restore"))
    for problem in report.problems():
        print(f"  {problem}", file=sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
