"""Shared lifecycle of the PostgreSQL-backed targets (tpcc, pgbench, sysbench_oltp).

``pre_execute``: lock the cached cluster → start it → build the workload's template database
once → clone a fresh database for this run → start the workload. ``cleanup`` (also after a
failure in ``pre_execute``): stop the workload → drop the clone → stop the server → unlock.
"""

from __future__ import annotations

import logging
import os
import shutil
from abc import abstractmethod
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from sematune.errors import TargetError
from sematune.targets._process import ChildProcess, Completed, run_command
from sematune.targets.base import Target
from sematune.targets.postgres._cluster import RESERVED_SETTINGS, PostgresCluster
from sematune.targets.postgres._databases import (
    clone_database, drop_database, drop_stale_clones, ensure_template, prewarm,
)
from sematune.targets.postgres._install import PgInstall, find_install, staged_for
from sematune.targets.postgres._user import RunUser, resolve_run_user
from sematune.validate import require

log = logging.getLogger(__name__)

CACHE_ENV = "SEMATUNE_PG_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$SEMATUNE_PG_CACHE_DIR``, else /var/cache/sematune/postgres as root, else ~/.cache/sematune/postgres.

    As root the server runs as an unprivileged user, which cannot enter root's home (0700).
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.geteuid() == 0:
        return Path("/var/cache/sematune/postgres")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sematune" / "postgres"


def _traversable(path: Path, user: RunUser) -> Optional[Path]:
    """The first ancestor of ``path`` that ``user`` cannot enter, or None."""
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        st = parent.stat()
        if st.st_uid == user.uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == user.gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return parent
    return None


class PostgresTarget(Target):
    """A target whose workload runs against a fresh clone of a cached template database."""

    def __init__(
        self,
        *,
        pg_bin_dir: Optional[str] = None,
        cache_dir: Optional[str] = None,
        run_as: Optional[str] = None,
        server_settings: Optional[Mapping[str, Any]] = None,
        lock_timeout_s: float = 600.0,
        prewarm: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        require("target.lock_timeout_s", not (lock_timeout_s < 0), f"must be >= 0, got {lock_timeout_s}")
        for key, value in dict(server_settings or {}).items():
            require(f"target.server_settings.{key}", 
                    str(key).replace("_", "").replace(".", "").isalnum() and value is not None,
                    f"not a PostgreSQL setting name/value: {value!r}")
            require(f"target.server_settings.{key}", key not in RESERVED_SETTINGS,
                    "is managed by SemaTune (loopback, free port)")
        self.pg_bin_dir = pg_bin_dir or None
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.run_user = resolve_run_user(run_as)
        self.server_settings = {str(k): str(v) for k, v in dict(server_settings or {}).items()}
        self.lock_timeout_s = float(lock_timeout_s)
        self.prewarm = bool(prewarm)
        self.cluster: Optional[PostgresCluster] = None
        self.dbname: Optional[str] = None
        self.install: Optional[PgInstall] = None
        self.template_build_s: Optional[float] = None
        self.clone_s: Optional[float] = None
        self._client: Optional[ChildProcess] = None

    # -- what a workload provides ---------------------------------------------------------------
    @abstractmethod
    def template_name(self) -> str:
        """Name of the template database (encodes the workload, its size and schema version)."""

    @abstractmethod
    def build_template(self, dbname: str) -> None:
        """Create and load the workload's data into the empty database ``dbname``."""

    def start_workload(self) -> None:
        """Called once the run's database exists (e.g. start a continuous driver)."""

    def stop_workload(self) -> None:
        """Stop whatever :meth:`start_workload` started; must be idempotent."""

    # -- lifecycle ------------------------------------------------------------------------------
    def _make_cluster(self) -> PostgresCluster:
        install = find_install(self.pg_bin_dir)
        if self.run_user is not None:
            blocked = _traversable(self.cache_dir, self.run_user)
            if blocked is not None:
                raise TargetError(
                    f"the PostgreSQL server runs as {self.run_user.name!r} (it refuses root), which cannot enter "
                    f"{blocked}; set target.cache_dir (or ${CACHE_ENV}) to a directory whose parents are "
                    "world-traversable, e.g. /var/cache/sematune/postgres"
                )
            for path in (self.cache_dir, self.cache_dir / install.key):
                path.mkdir(parents=True, exist_ok=True)
                if path.stat().st_mode & 0o755 != 0o755:  # enterable whatever the umask
                    path.chmod(path.stat().st_mode | 0o755)
            install = staged_for(install, self.run_user.uid, self.run_user.gid, self.cache_dir / "bin")
        self.install = install
        return PostgresCluster(
            install,
            self.cache_dir / install.key,
            user=self.run_user,
            settings=self.server_settings,
            pin_preexec=self._pin_preexec if self.pin_to_cores else None,
        )

    def pre_execute(self) -> bool:
        try:
            self.cluster = self._make_cluster()
            self.cluster.acquire(self.lock_timeout_s)
            self.cluster.start()
            drop_stale_clones(self.cluster)
            self.template_build_s = ensure_template(self.cluster, self.template_name(), self.build_template)
            self.dbname, self.clone_s = clone_database(self.cluster, self.template_name())
            log.info("run database %s cloned from %s in %.2f s", self.dbname, self.template_name(), self.clone_s)
            if self.prewarm:
                prewarm(self.cluster, self.dbname)
            with self.cluster.connect() as conn:  # every run starts right after a checkpoint
                conn.execute("CHECKPOINT")
            self.start_workload()
        except BaseException:
            self.cleanup()
            raise
        return True

    def cleanup(self) -> None:
        """Stop the workload, drop the run's database, stop the server, release the lock."""
        try:
            self.stop_workload()
        except Exception:
            log.exception("stopping the workload failed")
        client, self._client = self._client, None
        if client is not None:
            client.stop()
        cluster, self.cluster = self.cluster, None
        if cluster is None:
            return
        try:
            if self.dbname and cluster.running:
                drop_database(cluster, self.dbname)
        except Exception as exc:
            log.warning("could not drop %s (dropped at the next start): %s", self.dbname, exc)
        finally:
            self.dbname = None
            try:
                cluster.stop()
            finally:
                self._keep_server_log(cluster)
                cluster.release()

    def _keep_server_log(self, cluster: PostgresCluster) -> None:
        if self._results_dir is None or not cluster.started or not cluster.log_file.exists():
            return
        try:
            shutil.copyfile(cluster.log_file, self.results_dir / "postgres.log")
        except OSError as exc:
            log.debug("could not copy the server log: %s", exc)

    def processes(self) -> list[int]:
        pids = self.cluster.processes() if self.cluster is not None else []
        client = self._client
        if client is not None and client.alive:
            pids.append(client.pid)
        return pids

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"cache_dir": str(self.cache_dir)}
        if self.install is not None:
            info["pg_version"] = self.install.version
            info["pg_bin_dir"] = str(self.install.bin_dir)
        if self.dbname:
            info["template"] = self.template_name()
        if self.template_build_s is not None:
            info["template_build_s"] = round(self.template_build_s, 3)
        if self.clone_s is not None:
            info["clone_s"] = round(self.clone_s, 3)
        if self.run_user is not None:
            info["server_user"] = self.run_user.name
        return info

    # -- helpers for subclasses -----------------------------------------------------------------
    def _require_cluster(self) -> PostgresCluster:
        if self.cluster is None or not self.cluster.running or not self.dbname:
            raise TargetError(f"{type(self).__name__}: the PostgreSQL server is not running (pre_execute first)")
        return self.cluster

    def run_client(self, argv: Sequence[str], out_dir: Path, *, name: str, timeout_s: float) -> Completed:
        """Run a client program to completion (pinned by ``pin_to_cores``); output in ``out_dir``.

        The child is visible in :meth:`processes` while it runs and is stopped if the window is
        interrupted (timeout, SIGTERM, Ctrl-C).
        """
        self._require_cluster()
        done = run_command(
            self._wrap_with_taskset(argv), timeout_s=timeout_s, cwd=out_dir,
            stdout=out_dir / f"{name}.out", stderr=out_dir / f"{name}.err", on_start=self._set_client,
        )
        self._client = None
        done.save(out_dir / f"{name}.json")
        return done

    def _set_client(self, child: ChildProcess) -> None:
        self._client = child
