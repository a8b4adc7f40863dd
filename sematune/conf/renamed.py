"""Knob and set names before 0.2, kept for one release as aliases that warn.

Knob names are MLflow keys, so 0.2 gave every knob its family's prefix (``vm_``, ``net_``,
``sched_``, ``cpu_``, ``blk_``) and renamed the ``block`` set ``blk``. Each old name is registered
in Hydra's ConfigStore as ``osparam/<old>``: its defaults list pulls in the new file and it records
``osparam_renamed.<old>: <new>``, which the engine turns into a warning. Remove in 0.3.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

#: old name -> new name
RENAMED: dict[str, str] = {
    "zone_reclaim_mode": "vm_zone_reclaim_mode",
    "thp_enabled": "vm_thp_enabled",
    "thp_defrag": "vm_thp_defrag",
    "thp_shmem_enabled": "vm_thp_shmem_enabled",
    "thp_khugepaged_defrag": "vm_thp_khugepaged_defrag",
    "thp_khugepaged_pages_to_scan": "vm_thp_khugepaged_pages_to_scan",
    "busy_poll": "net_busy_poll",
    "busy_read": "net_busy_read",
    "netdev_budget": "net_netdev_budget",
    "netdev_budget_usecs": "net_netdev_budget_usecs",
    "somaxconn": "net_somaxconn",
    "netdev_max_backlog": "net_netdev_max_backlog",
    "rmem_default": "net_rmem_default",
    "wmem_default": "net_wmem_default",
    "rmem_max": "net_rmem_max",
    "wmem_max": "net_wmem_max",
    "tcp_fin_timeout": "net_tcp_fin_timeout",
    "tcp_tw_reuse": "net_tcp_tw_reuse",
    "tcp_mtu_probing": "net_tcp_mtu_probing",
    "tcp_timestamps": "net_tcp_timestamps",
    "tcp_sack": "net_tcp_sack",
    "tcp_window_scaling": "net_tcp_window_scaling",
    "tcp_fastopen": "net_tcp_fastopen",
    "tcp_congestion_control": "net_tcp_congestion_control",
    "tcp_slow_start_after_idle": "net_tcp_slow_start_after_idle",
    "tcp_max_syn_backlog": "net_tcp_max_syn_backlog",
    "tcp_autocorking": "net_tcp_autocorking",
    "numa_balancing": "sched_numa_balancing",
    "timer_migration": "sched_timer_migration",
    "latency_ns": "sched_latency_ns",
    "min_granularity_ns": "sched_min_granularity_ns",
    "wakeup_granularity_ns": "sched_wakeup_granularity_ns",
    "migration_cost_ns": "sched_migration_cost_ns",
    "nr_migrate": "sched_nr_migrate",
    "scaling_governor": "cpu_scaling_governor",
    "scaling_min_freq": "cpu_scaling_min_freq",
    "scaling_max_freq": "cpu_scaling_max_freq",
    "epp": "cpu_epp",
    "min_perf_pct": "cpu_min_perf_pct",
    "max_perf_pct": "cpu_max_perf_pct",
    "intel_no_turbo": "cpu_intel_no_turbo",
    "cpuidle_governor": "cpu_idle_governor",
    "cpuidle_max_state": "cpu_idle_max_state",
    "haltpoll_guest_halt_poll_ns": "cpu_haltpoll_guest_halt_poll_ns",
    "haltpoll_grow": "cpu_haltpoll_grow",
    "haltpoll_grow_start": "cpu_haltpoll_grow_start",
    "haltpoll_shrink": "cpu_haltpoll_shrink",
    "haltpoll_allow_shrink": "cpu_haltpoll_allow_shrink",
    "kvm_halt_poll_ns": "cpu_kvm_halt_poll_ns",
    "block": "blk",
}


def register() -> None:
    """Store one alias per old name in group ``osparam`` (idempotent)."""
    store = ConfigStore.instance()
    for old, new in RENAMED.items():
        store.store(group="osparam", name=old, package="_global_",
                    node={"defaults": [new], "osparam_renamed": {old: new}})
