#!/usr/bin/env bash
# Start, stop or query a throwaway single-node SLURM cluster on this machine.
#
#   scripts/slurm_cluster.sh start  DIR   # config, munge key, munged + slurmctld + slurmd, all under DIR
#   scripts/slurm_cluster.sh stop   DIR   # cancels its jobs, stops the three daemons; idempotent
#   scripts/slurm_cluster.sh status DIR   # exit 0 when all three daemons run and slurmctld answers
#
# `start` prints `export SLURM_CONF=DIR/slurm.conf` as its last line of stdout, so
#   eval "$(scripts/slurm_cluster.sh start /tmp/slurm | tail -n 1)"
# points sbatch, squeue, scontrol, sinfo at the cluster. Nothing outside DIR is written:
# not /etc/slurm, not /etc/munge, not the system munge socket. Needs the slurm-wlm
# (slurmctld, slurmd, client commands) and munge packages, and root (SlurmUser=root).
#
# Environment (all optional):
#   SLURMCTLD_PORT (6817), SLURMD_PORT (6818)  ports, on 127.0.0.1
#   SLURM_CLUSTER_TIMEOUT (30)                 seconds each wait may take
#   SLURM_CLUSTER_CPUS (nproc), SLURM_CLUSTER_MEMORY_MB (90% of MemAvailable)
set -euo pipefail

usage() {
    echo "usage: $0 {start|stop|status} DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
ACTION=$1
DIR=$2
[ -n "$DIR" ] || usage
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
DIR=${DIR%/}

CTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
TIMEOUT=${SLURM_CLUSTER_TIMEOUT:-30}
NODE=$(hostname -s)

CONF="$DIR/slurm.conf"
MUNGE_DIR="$DIR/munge"
MUNGE_SOCKET="$MUNGE_DIR/munge.socket"
MUNGE_KEY="$MUNGE_DIR/munge.key"
MUNGE_PID="$MUNGE_DIR/munged.pid"
MUNGE_LOG="$MUNGE_DIR/munged.log"
CTLD_PID="$DIR/slurmctld.pid"
CTLD_LOG="$DIR/slurmctld.log"
SLURMD_PID="$DIR/slurmd.pid"
SLURMD_LOG="$DIR/slurmd.log"

export SLURM_CONF="$CONF"

log() { echo "slurm_cluster: $*" >&2; }

die() {
    log "error: $*"
    exit 1
}

# Tail of a log file, indented, on stderr.
show_log() {
    if [ -f "$1" ]; then
        log "last lines of $1:"
        tail -n 20 "$1" | sed 's/^/    /' >&2
    else
        log "($1 was not written)"
    fi
}

# True when process $1 exists and is not a zombie (a killed daemon stays a zombie until its
# parent, often PID 1, reaps it).
alive() {
    local state
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# The pid in pid file $1 when that process is alive and its command name is $2.
live_pid() {
    local pid
    [ -f "$1" ] || return 1
    pid=$(tr -dc '0-9' <"$1")
    [ -n "$pid" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    alive "$pid" || return 1
    echo "$pid"
}

# Wait until command "$@" succeeds, at most $TIMEOUT seconds; give up at once when it
# returns 3 (the daemon it waits for died).
wait_for() {
    local deadline=$((SECONDS + TIMEOUT)) rc
    while true; do
        rc=0
        "$@" >/dev/null 2>&1 || rc=$?
        [ $rc -ne 0 ] || return 0
        [ $rc -ne 3 ] || return 1
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}

pid_gone() { ! alive "$1"; }

# Stop daemons given as pairs of pid file and command name: SIGTERM to all of them, then
# SIGKILL to those still there after $TIMEOUT s. Adds their pids to STOPPED.
STOPPED=()
stop_daemons() {
    local pids=() names=() pid i
    while [ $# -ge 2 ]; do
        if pid=$(live_pid "$1" "$2"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("$2")
        fi
        rm -f "$1"
        shift 2
    done
    for i in "${!pids[@]}"; do
        if ! wait_for pid_gone "${pids[$i]}"; then
            log "${names[$i]} (pid ${pids[$i]}) ignored SIGTERM for ${TIMEOUT}s; sending SIGKILL"
            kill -KILL "${pids[$i]}" 2>/dev/null || true
            wait_for pid_gone "${pids[$i]}" || log "${names[$i]} (pid ${pids[$i]}) still there after SIGKILL"
        fi
    done
    STOPPED+=("${pids[@]}")
}

# A process that exited stays listed (a zombie, by `pgrep` too) until its parent, here PID 1,
# reaps it, which can take seconds (about 2 s in a Firecracker VM): wait up to 5 s in all for
# pids "$@" to go, quietly.
reap_wait() {
    local deadline=$((SECONDS + 5)) pid
    for pid in "$@"; do
        while [ -e "/proc/$pid" ] && [ $SECONDS -lt $deadline ]; do
            sleep 0.1
        done
    done
}

# slurmstepd processes started by this cluster's slurmd (they inherit SLURM_CONF=$CONF).
our_stepds() {
    local pid
    for pid in $(pgrep -x slurmstepd 2>/dev/null || true); do
        if tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF "SLURM_CONF=$CONF"; then
            echo "$pid"
        fi
    done
}

no_jobs_left() {
    [ -z "$(squeue -h -o %i 2>/dev/null)" ] && [ -z "$(our_stepds)" ]
}

no_stepds_left() { [ -z "$(our_stepds)" ]; }

# All descendants of pid $1.
descendants() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null || true); do
        echo "$child"
        descendants "$child"
    done
}

do_stop() {
    # Job steps now running, to wait for at the end.
    local stepds
    stepds=$(our_stepds)
    # Jobs first, while slurmctld and slurmd can still end them cleanly.
    if live_pid "$CTLD_PID" slurmctld >/dev/null && live_pid "$SLURMD_PID" slurmd >/dev/null \
        && scontrol ping >/dev/null 2>&1; then
        scancel --quiet --full --user "$(id -un)" >/dev/null 2>&1 || true
        TIMEOUT=10 wait_for no_jobs_left || log "jobs still listed after 10s; stopping anyway"
    fi
    stop_daemons "$SLURMD_PID" slurmd "$CTLD_PID" slurmctld
    # A job step that outlived slurmd: kill it and whatever it runs.
    local stepd
    for stepd in $(our_stepds); do
        # shellcheck disable=SC2046
        kill -KILL $(descendants "$stepd") "$stepd" 2>/dev/null || true
    done
    TIMEOUT=5 wait_for no_stepds_left || log "slurmstepd processes still there: $(our_stepds | tr '\n' ' ')"
    stop_daemons "$MUNGE_PID" munged
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    # shellcheck disable=SC2086
    reap_wait $stepds "${STOPPED[@]}"
}

do_status() {
    local ok=0 name file pid
    for name in munged slurmctld slurmd; do
        case $name in
            munged) file=$MUNGE_PID ;;
            slurmctld) file=$CTLD_PID ;;
            slurmd) file=$SLURMD_PID ;;
        esac
        if pid=$(live_pid "$file" "$name"); then
            echo "$name: running (pid $pid)"
        else
            echo "$name: not running"
            ok=1
        fi
    done
    if [ $ok -eq 0 ]; then
        if scontrol ping >/dev/null 2>&1; then
            sinfo -h -N -o "node %N: %T (partition %P)"
        else
            echo "slurmctld: not answering"
            ok=1
        fi
    fi
    return $ok
}

# Exit status 3 when the daemon of pid file $1 and name $2 wrote its pid file and died.
died() {
    [ -s "$1" ] && ! live_pid "$1" "$2" >/dev/null
}

munge_works() {
    died "$MUNGE_PID" munged && return 3
    munge -n -S "$MUNGE_SOCKET" | unmunge -S "$MUNGE_SOCKET"
}

# Checks `scontrol ping` only while our slurmctld lives: another cluster's slurmctld on the same
# port could answer.
ctld_up() {
    died "$CTLD_PID" slurmctld && return 3
    live_pid "$CTLD_PID" slurmctld >/dev/null && scontrol ping | grep -q 'is UP'
}

node_idle() {
    local state
    died "$SLURMD_PID" slurmd && return 3
    died "$CTLD_PID" slurmctld && return 3
    state=$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null) || return 1
    [ "$state" = idle ]
}

sched_ran() { grep -q 'SchedulerParameters=' "$CTLD_LOG"; }

# Ports already in use by a listening socket (needs `ss`, from iproute2; skipped without it).
port_busy() {
    command -v ss >/dev/null || return 1
    ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

write_conf() {
    local cpus mem_mb
    cpus=${SLURM_CLUSTER_CPUS:-$(nproc)}
    mem_mb=${SLURM_CLUSTER_MEMORY_MB:-$(awk '/^MemAvailable:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)}
    cat >"$CONF" <<EOF
# Single-node test cluster written by scripts/slurm_cluster.sh; everything lives under $DIR.
ClusterName=sematune
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$CTLD_LOG
SlurmdLogFile=$SLURMD_LOG
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$DIR/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SlurmctldTimeout=10
SlurmdTimeout=10
InactiveLimit=0
MinJobAge=600
KillWait=2
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    : >"$DIR/plugstack.conf"
}

fail_start() {
    log "error: $1"
    show_log "$2"
    do_stop
    exit 1
}

do_start() {
    local cmd
    for cmd in munged munge unmunge slurmctld slurmd sinfo scontrol squeue scancel; do
        command -v "$cmd" >/dev/null || die "$cmd not found (install the slurm-wlm and munge packages)"
    done
    [ "$(id -u)" -eq 0 ] || die "must run as root (the cluster runs with SlurmUser=root)"
    # A Unix socket path holds at most 107 bytes (sun_path is 108, with the NUL).
    [ ${#MUNGE_SOCKET} -le 107 ] || die "DIR is too long: the munge socket path $MUNGE_SOCKET has ${#MUNGE_SOCKET} bytes, a Unix socket path at most 107"

    # A cluster from the same DIR may still be up: stop it.
    if live_pid "$MUNGE_PID" munged >/dev/null || live_pid "$CTLD_PID" slurmctld >/dev/null \
        || live_pid "$SLURMD_PID" slurmd >/dev/null; then
        log "a cluster from $DIR is running; stopping it first"
        do_stop
    fi

    local port
    for port in "$CTLD_PORT" "$SLURMD_PORT"; do
        ! port_busy "$port" || die "port $port is in use (another slurmctld or slurmd?); choose others with SLURMCTLD_PORT and SLURMD_PORT"
    done

    mkdir -p "$DIR" "$DIR/state" "$DIR/spool" "$MUNGE_DIR"
    chmod 0755 "$DIR" "$MUNGE_DIR"
    chmod 0700 "$DIR/state" "$DIR/spool"
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    # The daemons append to their logs: keep the previous run's as *.log.prev.
    local f
    for f in "$MUNGE_LOG" "$CTLD_LOG" "$SLURMD_LOG"; do
        if [ -f "$f" ]; then mv -f "$f" "$f.prev"; fi
    done

    if [ ! -s "$MUNGE_KEY" ]; then
        rm -f "$MUNGE_KEY"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$MUNGE_KEY" >/dev/null
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
        fi
    fi
    chmod 0400 "$MUNGE_KEY"
    write_conf

    # munged 0.5.15 runs as root without --force; --force also lets it start when a directory
    # above DIR is group- or world-writable without the sticky bit, which it refuses otherwise.
    munged --force --socket="$MUNGE_SOCKET" --key-file="$MUNGE_KEY" --pid-file="$MUNGE_PID" \
        --log-file="$MUNGE_LOG" --seed-file="$MUNGE_DIR/munged.seed" >>"$MUNGE_LOG" 2>&1 \
        || fail_start "munged failed to start" "$MUNGE_LOG"
    wait_for munge_works || fail_start "munged does not answer on $MUNGE_SOCKET" "$MUNGE_LOG"

    # -c: a clean start, no jobs or node state from an earlier run in DIR/state.
    slurmctld -c -f "$CONF" >>"$CTLD_LOG" 2>&1 || fail_start "slurmctld failed to start" "$CTLD_LOG"
    wait_for ctld_up || fail_start "slurmctld is not up (waited at most ${TIMEOUT}s)" "$CTLD_LOG"

    slurmd -f "$CONF" -N "$NODE" >>"$SLURMD_LOG" 2>&1 || fail_start "slurmd failed to start" "$SLURMD_LOG"
    if ! wait_for node_idle; then
        log "node $NODE is not idle (waited at most ${TIMEOUT}s): $(sinfo -h -N -o '%N %T %E' 2>&1 || true)"
        show_log "$CTLD_LOG"
        fail_start "slurmd did not register" "$SLURMD_LOG"
    fi
    # slurmctld's scheduler makes its first pass about 3 s after slurmctld starts (it logs its
    # SchedulerParameters then); a job submitted before waits for it. Wait for it here, so that
    # the first job starts as fast as the next ones (about 1 s).
    wait_for sched_ran || log "warning: no scheduler pass logged in $CTLD_LOG yet; carrying on"
    log "cluster up: node $NODE idle in partition debug; logs in $DIR"
    echo "export SLURM_CONF=$CONF"
}

case "$ACTION" in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    *) usage ;;
esac
