"""``python -m sematune.osparams.sandbox DIR``: copy the host's knob files into a ``host_root`` tree.

The copy holds the current text of every file the named knob sets would touch (and the files
needed to resolve them: CPU lists, cpuidle states, block queues, choice lists), so
``python -m sematune host_root=DIR`` takes a full tour — journal, writes, restore — without
root and without touching the host. Knobs the host lacks are skipped.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from sematune.osparams.families import SANDBOX_GLOBS
from sematune.osparams.host import Host

def make_sandbox(dest: str | Path, source: Host | None = None) -> int:
    """Copy every readable file matching :data:`SANDBOX_GLOBS` under ``dest``; return the count."""
    source = source or Host("/")
    dest = Path(dest)
    copied = 0
    for pattern in SANDBOX_GLOBS:
        for host_path in source.glob(pattern):
            local = source.path(host_path)
            if local.is_dir():
                continue
            try:
                data = source.read_bytes(host_path)
            except OSError:
                continue
            target = dest / host_path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            # Keep read-only files read-only so knob probes see the host as it is.
            target.chmod(0o644 if local.stat().st_mode & 0o222 else 0o444)
            copied += 1
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sematune.osparams.sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="directory to create (must be empty or absent)")
    parser.add_argument("--force", action="store_true", help="replace an existing directory")
    args = parser.parse_args(argv)
    dest = Path(args.dir)
    if dest.exists() and any(dest.iterdir()):
        if not args.force:
            print(f"error: {dest} is not empty (use --force to replace it)", file=sys.stderr)
            return 2
        shutil.rmtree(dest)
    count = make_sandbox(dest)
    print(f"copied {count} knob files into {dest}; try: python -m sematune host_root={dest} experiment=quick")
    return 0


if __name__ == "__main__":
    sys.exit(main())
