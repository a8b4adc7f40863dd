"""Which system user the server runs as: PostgreSQL refuses to run as root.

As root, ``initdb`` and ``postgres`` are started demoted to an existing unprivileged user —
``run_as`` when given, else ``postgres`` when that account exists (Debian's server packages
create it), else ``nobody``. No account is ever created. As any other user, they run as
that user.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from typing import Any, Optional

from sematune.errors import ConfigError
from sematune.validate import require

#: Accounts tried in order when running as root and ``run_as`` is not set.
FALLBACK_USERS = ("postgres", "nobody")


@dataclass(frozen=True)
class RunUser:
    """An account to demote server processes to."""

    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        """``subprocess.Popen`` arguments that drop to this account (no shell, no sudo)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def resolve_run_user(run_as: Optional[str] = None) -> Optional[RunUser]:
    """The account to demote to, or None when this process is not root (nothing to do)."""
    if os.geteuid() != 0:
        require("target.run_as", not run_as or run_as == pwd.getpwuid(os.geteuid()).pw_name,
                f"only root can run the server as {run_as!r}")
        return None
    names = [run_as] if run_as else list(FALLBACK_USERS)
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        require("target.run_as", entry.pw_uid != 0, f"{name!r} is root; PostgreSQL refuses to run as root")
        return RunUser(name, entry.pw_uid, entry.pw_gid)
    raise ConfigError(
        "target.run_as",
        f"no account {' or '.join(map(repr, names))} exists to run PostgreSQL as (it refuses root); "
        "name an existing unprivileged user",
    )
