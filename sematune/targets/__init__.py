"""Targets: one module (or package) per workload family, all on the :class:`Target` contract.

Public names load on first use (``from sematune.targets import SyntheticTarget``), so importing
this package does not start PostgreSQL tooling or other heavy imports.
"""

from sematune._imports import lazy_exports

_NAMES = {
    "sematune.targets.base": "BenchmarkInterface BenchmarkMetrics Target",
    "sematune.targets.command": "CommandTarget",
    "sematune.targets.pgbench": "PgbenchTarget",
    "sematune.targets.postgres": "PostgresTarget",
    "sematune.targets.redis": "RedisTarget",
    "sematune.targets.service": "ServiceTarget",
    "sematune.targets.synthetic": "SyntheticTarget",
    "sematune.targets.sysbench": "SysbenchTarget SysbenchCpu SysbenchFileio SysbenchMemory SysbenchThreads",
    "sematune.targets.sysbench_oltp": "SysbenchOltpTarget",
    "sematune.targets.tpcc": "TpccTarget",
}

__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
__all__ = sorted(__dir__())
