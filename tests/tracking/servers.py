"""Test helpers: an ``mlflow server``/``mlflow ui`` process on loopback, always stopped, and a
PostgreSQL database for its backend store."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

from sematune.targets._process import free_port


@contextlib.contextmanager
def postgres_database(cluster_dir: Path, name: str = "mlflow", settings: dict[str, str] | None = None,
                      timeout_s: float = 300) -> Iterator[Any]:
    """The project's PostgreSQL cluster manager (demoted when root) running in ``cluster_dir``, with an
    empty database ``name``; stopped and released afterwards."""
    from sematune.targets.postgres import PostgresCluster, find_install, resolve_run_user

    cluster = PostgresCluster(find_install(), cluster_dir, user=resolve_run_user(), settings=settings)
    cluster.acquire(timeout_s=timeout_s)
    try:
        cluster.start()
        with cluster.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        yield cluster
    finally:
        cluster.stop()
        cluster.release()


def postgres_uri(cluster: object, name: str = "mlflow") -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/{name}"  # type: ignore[attr-defined]


@contextlib.contextmanager
def mlflow_server(backend_uri: str, workdir: Path, *, command: str = "server",
                  artifacts: Path | None = None, timeout_s: float = 180.0) -> Iterator[str]:
    """Start ``mlflow <command>`` on 127.0.0.1 (one worker) and yield its URL once /health answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", command, "--backend-store-uri", backend_uri,
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    if artifacts is not None:
        cmd += ["--artifacts-destination", str(artifacts)]
    log = open(workdir / f"mlflow-{command}-{port}.log", "wb")
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow {command} exited with {proc.returncode}: "
                                   f"{(workdir / log.name).read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow {command} did not answer on {url} within {timeout_s:.0f}s")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
