"""Targets: one module (or package) per workload family, all on the :class:`Target` contract.

Public names load on first use (``from sematune.targets import SyntheticTarget``), so importing
this package does not start PostgreSQL tooling or other heavy imports.
"""

from sematune._imports import lazy_exports

_NAMES = {
    "BenchmarkInterface": "sematune.targets.base",
    "BenchmarkMetrics": "sematune.targets.base",
    "Target": "sematune.targets.base",
    "CommandTarget": "sematune.targets.command",
    "PgbenchTarget": "sematune.targets.pgbench",
    "PostgresTarget": "sematune.targets.postgres",
    "RedisTarget": "sematune.targets.redis",
    "SyntheticTarget": "sematune.targets.synthetic",
    "SysbenchTarget": "sematune.targets.sysbench",
    "SysbenchCpu": "sematune.targets.sysbench",
    "SysbenchFileio": "sematune.targets.sysbench",
    "SysbenchMemory": "sematune.targets.sysbench",
    "SysbenchThreads": "sematune.targets.sysbench",
    "SysbenchOltpTarget": "sematune.targets.sysbench_oltp",
    "TpccTarget": "sematune.targets.tpcc",
}

__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
__all__ = list(_NAMES)
