"""Shared fixtures: sandboxed host trees, per-test state dirs, marker opt-in, CLI runner."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator, Optional

import psutil
import pytest

from sematune.osparams.host import Host
from sematune.osparams.sandbox import make_sandbox

REPO = Path(__file__).resolve().parents[1]
OPT_IN = {
    "benchmark_smoke": "--run-benchmark-smoke",
    "host_mutation": "--run-host-mutation",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    for marker, flag in OPT_IN.items():
        parser.addoption(flag, action="store_true", default=False, help=f"run tests marked {marker}")
    parser.addoption("--run-all", action="store_true", default=False, help="run every opt-in marker")


_RUN_ALL = False


def pytest_configure(config: pytest.Config) -> None:
    global _RUN_ALL
    _RUN_ALL = bool(config.getoption("--run-all")) or os.environ.get("SEMATUNE_TEST_ALL") == "1"


def run_all() -> bool:
    """True under ``--run-all`` (what ``make test`` and CI run): nothing may be skipped then."""
    return _RUN_ALL


def missing(reason: str) -> None:
    """Skip the current test because ``reason`` is missing — or fail it under ``--run-all``.

    CI runs ``--run-all`` on a VM set up by ``make setup``; a package, binary or privilege
    missing there is a broken set-up, which a skip would hide.
    """
    if run_all():
        pytest.fail(f"missing under --run-all: {reason} (make setup installs it)", pytrace=False)
    pytest.skip(reason)


def requires(module: Optional[str] = None, *, binary: str | tuple[str, ...] = (), root: bool = False,
             reason: str = "") -> Optional[ModuleType]:
    """Check an optional module / binary / root privilege; see :func:`missing` for what happens without.

    Returns the imported module when ``module`` is given.
    """
    imported = None
    if module is not None:
        try:
            imported = importlib.import_module(module)
        except ImportError as exc:
            missing(reason or f"optional module {module} ({exc})")
    for name in (binary,) if isinstance(binary, str) else binary:
        if shutil.which(name) is None:
            missing(reason or f"binary {name} (apt-get install it)")
    if root and os.geteuid() != 0:
        missing(reason or "root")
    return imported


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    everything = run_all()
    for item in items:
        for marker, flag in OPT_IN.items():
            if marker in item.keywords and not (everything or config.getoption(flag)):
                item.add_marker(pytest.mark.skip(reason=f"{marker}: opt in with {flag} or SEMATUNE_TEST_ALL=1"))


@pytest.fixture(autouse=True)
def _requirements(request: pytest.FixtureRequest) -> None:
    """Apply ``@pytest.mark.requires(...)`` (see :func:`requires`); ``host_mutation`` requires root.

    Without what they need, tests skip — or fail under ``--run-all``.
    """
    for mark in request.node.iter_markers("requires"):
        requires(*mark.args, **mark.kwargs)
    if "host_mutation" in request.keywords:
        requires(root=True, reason="host_mutation needs root")


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private journal/lock directory, so tests never share the real host's state."""
    path = tmp_path / "state"
    monkeypatch.setenv("SEMATUNE_STATE_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def host_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of this host's knob files, made once per session."""
    root = tmp_path_factory.mktemp("host-snapshot")
    make_sandbox(root)
    return root


@pytest.fixture
def sandbox(host_snapshot: Path, tmp_path: Path) -> Path:
    """A writable host_root tree with this host's knob files (fresh for every test)."""
    root = tmp_path / "host"
    shutil.copytree(host_snapshot, root, symlinks=True)
    return root


@pytest.fixture
def sandbox_host(sandbox: Path) -> Host:
    return Host(sandbox)


def cli_args(args: list[str], module: str = "sematune") -> list[str]:
    """A run's windows are not re-measured for foreign CPU (``loop.foreign_cpu_limit=null``) unless
    the test sets the key itself: CLI tests check the workload path, and a busy test machine must
    not turn their windows "contaminated" (the re-measure path has tests of its own)."""
    if module in ("sematune", "tests.instrumented") and not any(
            a.lstrip("+~").startswith("loop=") or "foreign_cpu_limit" in a for a in args):
        return [*args, "loop.foreign_cpu_limit=null"]
    return list(args)


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie counts); a process exiting mid-check counts as gone."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300,
            module: str = "sematune") -> subprocess.CompletedProcess[str]:
    """Run ``python -m <module> args`` in ``cwd`` and capture its output (see :func:`cli_args`)."""
    args = cli_args(args, module)
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                **(env or {})}
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=full_env, text=True,
                          capture_output=True, timeout=timeout)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One empty MLflow SQLite store (schema migrated) per session: creating one costs seconds of CPU."""
    from sematune.tracking.mlflow_tracker import mlflow_client

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    mlflow_client(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def cli(tmp_path: Path, state_dir: Path, mlflow_template: Path) -> Iterator:
    """``cli(*args)`` runs SemaTune in a fresh working dir (with a copy of the empty MLflow store
    ``cli.mlflow_template`` as ``mlflow.db``) and a private state dir."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(mlflow_template, work / "mlflow.db")

    def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 300, module: str = "sematune"):
        return run_cli(list(args), work, {"SEMATUNE_STATE_DIR": str(state_dir), **(env or {})}, timeout, module)

    _run.cwd = work  # type: ignore[attr-defined]
    _run.mlflow_template = mlflow_template  # type: ignore[attr-defined]
    yield _run


@pytest.fixture
def compose():
    """``compose(*overrides)`` → the composed config (no Hydra run; for in-process tests)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    def _compose(*overrides: str):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="sematune.conf", version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides))

    yield _compose
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def pg_cache_dir() -> Iterator[Path]:
    """The PostgreSQL cluster/template cache shared by the database targets' tests in a session.

    ``$SEMATUNE_PG_CACHE_DIR`` when set (kept afterwards), else a fresh temp dir that the
    unprivileged server account can enter (mode 0755; pytest's own tmp dirs are 0700), removed
    at the end of the session.
    """
    import tempfile

    if os.environ.get("SEMATUNE_PG_CACHE_DIR"):
        yield Path(os.environ["SEMATUNE_PG_CACHE_DIR"])
        return
    path = Path(tempfile.mkdtemp(prefix="sematune-pg-cache-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
