"""Knob families read, write, parse and restore through a host_root tree (no root needed)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from sematune.errors import ConfigError, HostSafetyError
from sematune.osparams import (
    BlockQueue,
    Cpufreq,
    CpuidleGovernor,
    CpuidleStateLimit,
    Host,
    ModuleParam,
    ParameterSpace,
    SchedDebugfs,
    Sysctl,
    SysfsChoice,
    SysfsValue,
)
from tests.conftest import missing


def put(root: Path, host_path: str, text: str) -> Path:
    path = root / host_path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    put(root, "/proc/sys/vm/swappiness", "60\n")
    put(root, "/proc/sys/vm/dirty_ratio", "20\n")
    put(root, "/proc/sys/vm/dirty_bytes", "0\n")
    put(root, "/proc/sys/net/ipv4/tcp_congestion_control", "bbr\n")
    put(root, "/proc/sys/net/ipv4/tcp_available_congestion_control", "reno bbr cubic\n")
    put(root, "/proc/sys/net/ipv4/tcp_allowed_congestion_control", "reno bbr\n")
    put(root, "/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n")
    put(root, "/sys/devices/system/cpu/online", "0-1\n")
    for cpu in (0, 1):
        for i, name in enumerate(("POLL", "C1", "C6")):
            put(root, f"/sys/devices/system/cpu/cpu{cpu}/cpuidle/state{i}/name", f"{name}\n")
            put(root, f"/sys/devices/system/cpu/cpu{cpu}/cpuidle/state{i}/disable", "0\n")
        put(root, f"/sys/devices/system/cpu/cpufreq/policy{cpu}/affected_cpus", f"{cpu}\n")
        put(root, f"/sys/devices/system/cpu/cpufreq/policy{cpu}/scaling_governor", "powersave\n")
        put(root, f"/sys/devices/system/cpu/cpufreq/policy{cpu}/scaling_available_governors", "performance powersave\n")
    put(root, "/sys/devices/system/cpu/cpuidle/current_governor", "menu\n")
    put(root, "/sys/devices/system/cpu/cpuidle/available_governors", "ladder menu haltpoll\n")
    put(root, "/sys/block/vda/queue/scheduler", "none [mq-deadline] kyber bfq\n")
    put(root, "/sys/block/vda/queue/iosched/read_expire", "500\n")
    put(root, "/sys/block/vda/queue/read_ahead_kb", "8192\n")
    put(root, "/sys/block/loop0/queue/read_ahead_kb", "128\n")
    put(root, "/sys/kernel/debug/sched/base_slice_ns", "3000000\n")
    put(root, "/sys/module/haltpoll/parameters/guest_halt_poll_ns", "200000\n")
    put(root, "/sys/module/haltpoll/parameters/guest_halt_poll_allow_shrink", "Y\n")
    return root


def text(root: Path, host_path: str) -> str:
    return (root / host_path.lstrip("/")).read_text()


def test_sysctl_reads_writes_and_journals_side_effects(tree: Path) -> None:
    host = Host(tree)
    k = Sysctl("vm_dirty_ratio", host=host, key="vm.dirty_ratio", low=1, high=80, related=["vm.dirty_bytes"])
    assert k.files() == ["/proc/sys/vm/dirty_ratio"] and k.related_files() == ["/proc/sys/vm/dirty_bytes"]
    assert k.read() == 20 and k.probe() is None
    k.write(35)
    assert text(tree, "/proc/sys/vm/dirty_ratio") == "35" and k.read() == 35
    assert k.normalise(1) == 0.0 and k.describe()["interface"] == "sysctl"


def test_sysctl_choices_limited_to_what_the_kernel_offers(tree: Path) -> None:
    put(tree, "/proc/sys/net/ipv4/tcp_available_congestion_control", "reno bbr\n")
    k = Sysctl("tcp_congestion_control", host=Host(tree), key="net.ipv4.tcp_congestion_control",
               choices=["reno", "cubic", "bbr"], dtype="str", choices_from="net.ipv4.tcp_available_congestion_control")
    assert k.domain.choices == ("reno", "bbr") and k.dropped_choices == ["cubic"]
    assert k.read() == "bbr"


def test_sysctl_key_is_validated() -> None:
    with pytest.raises(ConfigError):
        Sysctl("x", key="vm/../../etc/passwd", low=0, high=1)


def test_bracketed_choice_parses_and_restores_the_selected_word(tree: Path) -> None:
    host = Host(tree)
    k = SysfsChoice("thp_enabled", host=host, path="/sys/kernel/mm/transparent_hugepage/enabled",
                    choices=["always", "madvise", "never", "bogus"])
    assert k.domain.choices == ("always", "madvise", "never")
    assert k.read() == "madvise"
    original = (tree / "sys/kernel/mm/transparent_hugepage/enabled").read_bytes()
    assert k.restore_payload(k.files()[0], original) == b"madvise"
    k.write("never")
    assert k.read() == "never"


def test_bracketed_choice_unavailable_when_no_configured_choice_is_offered(tree: Path) -> None:
    k = SysfsChoice("thp_enabled", host=Host(tree), path="/sys/kernel/mm/transparent_hugepage/enabled",
                    choices=["bogus"])
    assert "none of ['bogus']" in k.probe()


def test_block_queue_skips_virtual_devices_and_journals_iosched(tree: Path) -> None:
    host = Host(tree)
    sched = BlockQueue("blk_scheduler", host=host, attribute="scheduler")
    assert sched.devices() == ["vda"]
    assert sched.domain.choices == ("none", "mq-deadline", "kyber", "bfq")
    assert sched.read() == "mq-deadline"
    assert sched.related_files() == ["/sys/block/vda/queue/iosched/read_expire"]
    ra = BlockQueue("blk_read_ahead_kb", host=host, attribute="read_ahead_kb", low=0, high=16384)
    ra.write(256)
    assert ra.read() == 256 and text(tree, "/sys/block/loop0/queue/read_ahead_kb") == "128\n"
    with pytest.raises(ConfigError):
        BlockQueue("x", host=host, attribute="../x", low=0, high=1)


def test_cpuidle_state_limit_disables_deeper_states_per_cpu(tree: Path) -> None:
    host = Host(tree)
    k = CpuidleStateLimit("cpuidle_max_state", host=host)
    assert k.domain.choices == ("POLL", "C1", "C6") and k.scope == "per_core"
    assert k.read() == "C6"
    k.write("C1")
    for cpu in (0, 1):
        assert text(tree, f"/sys/devices/system/cpu/cpu{cpu}/cpuidle/state2/disable") == "1"
        assert text(tree, f"/sys/devices/system/cpu/cpu{cpu}/cpuidle/state1/disable") == "0"
    assert k.read() == "C1"
    assert len(k.files()) == 6


def test_cpuidle_governor_and_cpufreq_limit_choices_to_the_host(tree: Path) -> None:
    host = Host(tree)
    gov = CpuidleGovernor("cpuidle_governor", host=host, choices=["menu", "teo", "haltpoll"])
    assert gov.domain.choices == ("menu", "haltpoll") and gov.read() == "menu"
    freq = Cpufreq("scaling_governor", host=host, attribute="scaling_governor",
                   choices=["performance", "powersave", "schedutil"], cpus="1")
    assert freq.files() == ["/sys/devices/system/cpu/cpufreq/policy1/scaling_governor"]
    assert freq.domain.choices == ("performance", "powersave")
    freq.write("performance")
    assert text(tree, "/sys/devices/system/cpu/cpufreq/policy0/scaling_governor") == "powersave\n"


def test_cpufreq_absent_is_reported(tmp_path: Path) -> None:
    put(tmp_path, "/sys/devices/system/cpu/online", "0\n")
    k = Cpufreq("scaling_max_freq", host=Host(tmp_path), attribute="scaling_max_freq", low=400000, high=5000000)
    assert "no cpufreq" in k.probe()


def test_sched_debugfs_resolves_eevdf_names(tree: Path) -> None:
    host = Host(tree)
    k = SchedDebugfs("min_granularity_ns", host=host, names=["min_granularity_ns", "base_slice_ns"],
                     low=100000, high=100000000, log=True)
    assert k.files() == ["/sys/kernel/debug/sched/base_slice_ns"] and k.read() == 3000000
    gone = SchedDebugfs("latency_ns", host=host, names=["latency_ns"], low=100000, high=100000000)
    assert "none of ['latency_ns']" in gone.probe()


def test_module_param(tree: Path) -> None:
    host = Host(tree)
    k = ModuleParam("haltpoll_guest_halt_poll_ns", host=host, module="haltpoll", parameter="guest_halt_poll_ns",
                    low=0, high=400000)
    assert k.read() == 200000
    k.write(50000)
    assert k.read() == 50000
    yn = ModuleParam("haltpoll_allow_shrink", host=host, module="haltpoll", parameter="guest_halt_poll_allow_shrink",
                     choices=["Y", "N"], dtype="str")
    assert yn.read() == "Y"
    missing = ModuleParam("kvm_halt_poll_ns", host=host, module="kvm", parameter="halt_poll_ns", low=0, high=1)
    assert "not loaded" in missing.probe()


def test_space_lists_every_unavailable_knob_in_one_error(tree: Path) -> None:
    host = Host(tree)
    space = ParameterSpace([
        Sysctl("vm_swappiness", host=host, key="vm.swappiness", low=0, high=100),
        Sysctl("vm_nope", host=host, key="vm.nope", low=0, high=1),
        SysfsValue("other", host=host, path="/sys/kernel/nothing", low=0, high=1),
        ModuleParam("opt", host=host, module="kvm", parameter="halt_poll_ns", low=0, high=1, optional=True),
    ])
    with pytest.raises(ConfigError) as err:
        space.require_available(skip_unavailable=False)
    message = str(err.value)
    assert "vm_nope" in message and "other" in message and "opt" not in message and "\n" not in message
    kept = space.require_available(skip_unavailable=True)
    assert kept.names == ["vm_swappiness"]


def test_space_apply_writes_only_changes_and_reads_back(tree: Path) -> None:
    host = Host(tree)
    space = ParameterSpace([
        Sysctl("vm_swappiness", host=host, key="vm.swappiness", low=0, high=100),
        SysfsChoice("thp_enabled", host=host, path="/sys/kernel/mm/transparent_hugepage/enabled"),
    ])
    current = space.read_all()
    result = space.apply({"vm_swappiness": 10, "thp_enabled": "madvise"}, current)
    assert result.written == ["vm_swappiness"] and result.applied == {"vm_swappiness": 10, "thp_enabled": "madvise"}
    with pytest.raises(ConfigError):
        ParameterSpace([space["vm_swappiness"], space["vm_swappiness"]])


def test_allow_list_refuses_escapes(tmp_path: Path) -> None:
    root = tmp_path / "host"
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    put(root, "/proc/sys/vm/swappiness", "60\n")
    link = root / "proc/sys/vm/evil"
    link.symlink_to(outside)
    host = Host(root)
    with pytest.raises(HostSafetyError):
        host.write_bytes("/proc/sys/vm/evil", b"1")
    assert outside.read_text() == "secret\n"
    with pytest.raises(HostSafetyError):
        host.write_bytes("/proc/sys/vm/../../../outside.txt", b"1")
    put(root, "/etc/passwd", "root\n")
    with pytest.raises(HostSafetyError):
        host.write_bytes("/etc/passwd", b"x")
    with pytest.raises(ConfigError):
        host.check_allowed("/etc/passwd")
    restricted = Host(root, allowed_paths=["/proc/sys/net/*"])
    with pytest.raises(HostSafetyError):
        restricted.write_bytes("/proc/sys/vm/swappiness", b"1")
    with pytest.raises(ConfigError):
        Host(root, allowed_paths=["relative/*"])
    with pytest.raises(ConfigError):
        Host(tmp_path / "missing")


def test_writes_use_no_shell(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    def forbidden(*args, **kwargs):  # pragma: no cover - must not be called
        raise AssertionError("knob writes must not spawn processes")

    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(os, "system", forbidden)
    Sysctl("vm_swappiness", host=Host(tree), key="vm.swappiness", low=0, high=100).write(7)
    assert text(tree, "/proc/sys/vm/swappiness") == "7"


# -- the real host (root, the host lock; every file journaled and restored byte for byte) ------------------
@pytest.fixture
def real_host(tmp_path: Path):
    """The real host under the one host lock (waits for another engineer's / run's lock)."""
    from sematune._pidlock import HostLock
    from sematune.engine.journal import host_lock_dir

    host = Host("/")
    lock = HostLock(host_lock_dir(host))
    lock.acquire(timeout_s=600)
    try:
        yield host
    finally:
        lock.release()


def real_space(compose, host: Host, knobs: str) -> ParameterSpace:
    from sematune.components import build_space

    space = build_space(compose(f"osparam=[{knobs}]", "host_root=/"), host, skip_unavailable=True)
    for name in knobs.split(","):
        if name not in space:
            missing(f"this host has no {name}")
    return space


def journaled_bytes(host: Host, space: ParameterSpace) -> dict[str, bytes]:
    return {path: host.read_bytes(path) for path, _ in space.journal_files() if host.exists(path)}


@contextmanager
def journaled(host: Host, space: ParameterSpace, state: Path) -> Iterator[dict[str, bytes]]:
    """Capture ``space`` like a run does; on exit restore it and check the report and every byte."""
    from sematune.engine.journal import HostJournal

    before = journaled_bytes(host, space)
    journal = HostJournal(state, host)
    journal.capture(space)
    try:
        yield before
    finally:
        report = journal.restore()
    assert report.ok, report
    assert journaled_bytes(host, space) == before


@pytest.mark.host_mutation
def test_real_io_scheduler_switch_is_restored_with_its_tunables(real_host: Host, compose, tmp_path: Path) -> None:
    space = real_space(compose, real_host, "blk_scheduler")
    knob = space["blk_scheduler"]
    with journaled(real_host, space, tmp_path / "state") as before:
        default = knob.read()
        assert any("/iosched/" in path for path in before) == (default != "none")  # its tunables are journaled
        other = next(c for c in ("kyber", "none", "mq-deadline", "bfq") if c in knob.domain.choices and c != default)
        result = space.apply({"blk_scheduler": other})
        assert result.write_errors == {} and result.applied == {"blk_scheduler": other}
        for device in knob.devices():
            assert f"[{other}]" in real_host.read_text(f"/sys/block/{device}/queue/scheduler")
        assert journaled_bytes(real_host, space) != before


@pytest.mark.host_mutation
def test_real_nr_requests_is_capped_without_a_scheduler_and_restored(real_host: Host, compose,
                                                                      tmp_path: Path) -> None:
    """Without an I/O scheduler the hardware queue depth caps nr_requests: the kernel's own EINVAL is
    recorded (not raised), and the restore puts both back although their order matters."""
    space = real_space(compose, real_host, "blk_scheduler,blk_nr_requests")
    device = space["blk_nr_requests"].devices()[0]
    depth = int(real_host.read_text(f"/sys/block/{device}/mq/0/nr_tags"))
    wanted = depth * 2
    if not space["blk_nr_requests"].domain.contains(wanted):
        missing(f"{device}'s hardware queue depth {depth} leaves no capped value in the knob's domain")
    with journaled(real_host, space, tmp_path / "state"):
        result = space.apply({"blk_scheduler": "none", "blk_nr_requests": wanted})
        assert "Invalid argument" in result.write_errors["blk_nr_requests"]
        assert result.applied == {"blk_scheduler": "none", "blk_nr_requests": depth}
        assert "blk_nr_requests" not in result.written


@pytest.mark.host_mutation
def test_real_cpuidle_governor_switch_is_restored(real_host: Host, compose, tmp_path: Path) -> None:
    space = real_space(compose, real_host, "cpu_idle_governor")
    knob = space["cpu_idle_governor"]
    with journaled(real_host, space, tmp_path / "state") as before:
        default = knob.read()
        other = next(c for c in knob.domain.choices if c != default)
        assert space.apply({"cpu_idle_governor": other}).write_errors == {}
        assert real_host.read_text("/sys/devices/system/cpu/cpuidle/current_governor").strip() == other
        assert journaled_bytes(real_host, space) != before
