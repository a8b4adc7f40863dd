"""``python -m sematune.restore``: put the host back from a journal a crashed run left behind.

Exit codes: 0 restored and byte-verified (or nothing to restore), 1 restore incomplete (the
journal is kept; fix the cause and run again), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sematune.engine.journal import HostJournal, default_state_dir
from sematune.engine.lock import HostLock, lock_dir_for
from sematune.errors import SemaTuneError
from sematune.osparams.host import Host


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sematune.restore", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", help="where the journal lives (default: $SEMATUNE_STATE_DIR or "
                        "<host-root>/var/lib/sematune)")
    parser.add_argument("--host-root", default="/", help="host root the run used (default: /)")
    parser.add_argument("--report", help="also write the restoration report (JSON) here")
    args = parser.parse_args(argv)
    try:
        host = Host(args.host_root)
        state_dir = Path(args.state_dir) if args.state_dir else default_state_dir(host)
        with HostLock(lock_dir_for(host.is_real, state_dir)):
            journal = HostJournal.load(state_dir)
            if journal is None:
                print(f"nothing to restore: no journal in {state_dir}")
                return 0
            report = journal.restore()
    except SemaTuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    text = json.dumps(report, indent=1)
    if args.report:
        Path(args.report).write_text(text, encoding="utf-8")
    ok = report["restore_status"] == "PASS" and report["verify_status"] == "PASS"
    print(f"restore {'PASS' if ok else 'FAILED'}: {report['restored_count']} of {report['control_count']} files "
          f"written back; byte verification {report['verify_status']}")
    for problem in report["write_errors"] + report["byte_mismatches"]:
        print(f"  {problem}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
