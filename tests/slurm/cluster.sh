# shellcheck shell=bash
# A throwaway one-node Slurm cluster (munge, slurmctld, slurmd) in a directory
# of its own, for tests and for trying the slurm/ scripts on one machine.
# Sourced; needs root, munge and slurm-wlm (Slurm 22.05 checked).
#   source tests/slurm/cluster.sh
#   ts_cluster_start DIR [CPUS]   # exports SLURM_CONF; partition "debug", node "localhost"
#   sbatch -p debug ...; squeue; ...
#   ts_cluster_stop DIR           # stops what ts_cluster_start started (safe to call twice)
# Ports are chosen free at start; every file (state, spool, logs, munge key and
# socket) lives under DIR, so several clusters can run side by side.

# Two free TCP ports on 127.0.0.1 (bound, read, released).
ts_cluster_free_ports() {
    /usr/bin/python3 - <<'PYEOF'
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss:
    s.close()
PYEOF
}

ts_cluster_start() {
    local d=$1 cpus=${2:-$(nproc)} state
    mkdir -p "$d"/{munge,state,spool,log,run}
    chmod 0755 "$d"  # munged runs as user munge and must reach its directory
    runuser -u munge -- test -x "$d" || { echo "cluster: user munge cannot enter $d (make its parents 0755)" >&2; return 1; }
    # munge: own key, socket, pid, log and seed, run as user munge
    chown munge:munge "$d/munge"
    chmod 0755 "$d/munge"
    runuser -u munge -- mungekey -c -k "$d/munge/munge.key" || return 1
    runuser -u munge -- munged --key-file="$d/munge/munge.key" --socket="$d/munge/munge.sock" \
        --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" \
        --seed-file="$d/munge/munged.seed" || { echo "cluster: munged did not start" >&2; return 1; }
    local ports; ports=$(ts_cluster_free_ports) || return 1
    set -- $ports
    cat > "$d/slurm.conf" <<EOF
# written by tests/slurm/cluster.sh
ClusterName=ts$$
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.sock,cred_expire=5
CredType=cred/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
MailProg=/bin/true
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobRequeue=1
KillWait=5
MinJobAge=600
InactiveLimit=0
SchedulerParameters=sched_interval=2,bf_interval=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    export SLURM_CONF=$d/slurm.conf
    slurmctld -f "$SLURM_CONF" -c || { echo "cluster: slurmctld did not start" >&2; return 1; }
    slurmd -f "$SLURM_CONF" -N localhost || { echo "cluster: slurmd did not start" >&2; return 1; }
    for _ in $(seq 1 120); do  # up to 30 s
        state=$(sinfo -h -n localhost -o %t 2>/dev/null)
        [ "$state" = idle ] && return 0
        sleep 0.25
    done
    echo "cluster: node not idle after 30 s (state '$state'); slurmctld log tail:" >&2
    tail -5 "$d/log/slurmctld.log" >&2
    return 1
}

# Stops slurmd, slurmctld and munged by their PID files (TERM, then KILL after 10 s).
ts_cluster_stop() {
    local d=$1 f pid
    for f in "$d/run/slurmd.pid" "$d/run/slurmctld.pid" "$d/munge/munged.pid"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$f"
    done
}
