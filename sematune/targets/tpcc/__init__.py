"""TPC-C on PostgreSQL: schema, server-side loader, stored transactions, drivers, consistency.

``TpccTarget`` is ``target=tpcc``; :func:`~sematune.targets.tpcc.consistency.check_consistency`
checks the spec's consistency conditions on a database after a run.
"""

from __future__ import annotations

from sematune.targets.tpcc._target import TpccTarget
from sematune.targets.tpcc.consistency import check_consistency

__all__ = ["TpccTarget", "check_consistency"]
