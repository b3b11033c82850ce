# shellcheck shell=bash
# Two Slurm "nodes" on one machine: two network namespaces joined by a veth
# pair (private addresses that exist only inside them), each with its own host
# name (a UTS namespace) and its own slurmd; slurmctld runs on the first. munge
# is shared through its socket (a file). Sourced; needs root, iproute2,
# util-linux (unshare), munge and slurm-wlm (Slurm 22.05 checked).
#   source tests/cluster/nodes.sh
#   ts_nodes_start DIR          # exports SLURM_CONF, TS_NS_A/B, TS_VETH_A/B, TS_ADDR_A/B
#   ts_on A sbatch ...          # any command on node A (its network and host name)
#   ts_nodes_stop DIR           # everything ts_nodes_start made (safe to call twice)
# Node names nodea/nodeb, addresses 10.213.77.1/.2 on the veth; nothing is
# routed elsewhere: each namespace has only its loopback and its end of the pair.
# SlurmdTimeout is 10 s: a slurmd silent that long is marked DOWN and its jobs
# end (requeued when they allow it).

TS_ADDR_A=10.213.77.1
TS_ADDR_B=10.213.77.2

# ts_on A|B CMD...: run CMD in that node's network namespace with its host name
ts_on() {
    local n=$1 ns host
    shift
    if [ "$n" = A ]; then ns=$TS_NS_A host=nodea; else ns=$TS_NS_B host=nodeb; fi
    # nsenter, not 'ip netns exec': that remounts /sys, hiding the cgroup file
    # systems slurmd needs; only the network and the host name are the node's
    nsenter --net=/run/netns/"$ns" unshare --uts -- sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
}

ts_nodes_start() {
    local d=$1 state
    export TS_NS_A=tsA$$ TS_NS_B=tsB$$ TS_VETH_A=tsva$$ TS_VETH_B=tsvb$$
    mkdir -p "$d"/{munge,state,spool,log,run} || return 1
    chmod 0755 "$d"
    runuser -u munge -- test -x "$d" || { echo "nodes: user munge cannot enter $d (make its parents 0755)" >&2; return 1; }
    ip netns add "$TS_NS_A" && ip netns add "$TS_NS_B" || { echo "nodes: cannot make network namespaces" >&2; return 1; }
    ip link add "$TS_VETH_A" type veth peer name "$TS_VETH_B" || { echo "nodes: cannot make a veth pair" >&2; return 1; }
    ip link set "$TS_VETH_A" netns "$TS_NS_A" && ip link set "$TS_VETH_B" netns "$TS_NS_B" || return 1
    ip -n "$TS_NS_A" addr add $TS_ADDR_A/24 dev "$TS_VETH_A" && ip -n "$TS_NS_B" addr add $TS_ADDR_B/24 dev "$TS_VETH_B" || return 1
    local ns
    for ns in "$TS_NS_A" "$TS_NS_B"; do ip -n "$ns" link set lo up || return 1; done
    ip -n "$TS_NS_A" link set "$TS_VETH_A" up && ip -n "$TS_NS_B" link set "$TS_VETH_B" up || return 1

    chown munge:munge "$d/munge"
    chmod 0755 "$d/munge"
    runuser -u munge -- mungekey -c -k "$d/munge/munge.key" || return 1
    runuser -u munge -- munged --key-file="$d/munge/munge.key" --socket="$d/munge/munge.sock" \
        --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" \
        --seed-file="$d/munge/munged.seed" || { echo "nodes: munged did not start" >&2; return 1; }
    # fixed ports: the namespaces are ours alone
    cat > "$d/slurm.conf" << EOF
# written by tests/cluster/nodes.sh
ClusterName=tsn$$
SlurmctldHost=nodea($TS_ADDR_A)
SlurmctldPort=6817
SlurmdPort=6818
SrunPortRange=60001-60100
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.sock,cred_expire=5
CredType=cred/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/%n
TmpFS=$d/tmp/%n
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd-%n.log
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
SlurmdTimeout=10
MessageTimeout=5
SchedulerParameters=sched_interval=2,bf_interval=2
NodeName=nodea NodeAddr=$TS_ADDR_A CPUs=2 State=UNKNOWN
NodeName=nodeb NodeAddr=$TS_ADDR_B CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=nodea,nodeb Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    export SLURM_CONF=$d/slurm.conf
    ts_on A slurmctld -f "$SLURM_CONF" -c || { echo "nodes: slurmctld did not start" >&2; return 1; }
    ts_node_slurmd_start A || return 1
    ts_node_slurmd_start B || return 1
    for _ in $(seq 1 120); do  # up to 30 s
        state=$(ts_on A sinfo -h -o %t 2> /dev/null | sort -u | tr '\n' ' ')
        [ "$state" = "idle " ] && [ "$(ts_on A sinfo -h -o %D)" = 2 ] && return 0
        sleep 0.25
    done
    echo "nodes: nodes not idle after 30 s (state '$state'); slurmctld log tail:" >&2
    tail -5 "$d/log/slurmctld.log" >&2
    return 1
}

# ts_node_slurmd_start A|B: (re)starts that node's slurmd
ts_node_slurmd_start() {
    local name=nodea
    [ "$1" = B ] && name=nodeb
    mkdir -p "$(dirname "$SLURM_CONF")"/{spool,tmp}/$name  # per node: PMIx's directories go under TmpFS
    ts_on "$1" slurmd -f "$SLURM_CONF" -N $name || { echo "nodes: slurmd $name did not start" >&2; return 1; }
}

# Every process in a node's network namespace, killed at once (SIGKILL).
ts_node_kill_all() {
    local ns=$TS_NS_A
    [ "$1" = B ] && ns=$TS_NS_B
    local pids; pids=$(ip netns pids "$ns" 2> /dev/null)
    [ -n "$pids" ] && kill -KILL $pids 2> /dev/null
    return 0
}

# Stops slurmd (both), slurmctld and munged by PID file (TERM, then KILL after 10 s),
# kills whatever is left in the namespaces, deletes them (and so the veth pair).
ts_nodes_stop() {
    local d=$1 f pid ns
    for f in "$d"/run/slurmd-*.pid "$d/run/slurmctld.pid" "$d/munge/munged.pid"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        kill -TERM "$pid" 2> /dev/null || { rm -f "$f"; continue; }
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2> /dev/null || break
            sleep 0.25
        done
        kill -KILL "$pid" 2> /dev/null || true
        rm -f "$f"
    done
    for ns in ${TS_NS_A:-} ${TS_NS_B:-}; do
        ip netns pids "$ns" > /dev/null 2>&1 || continue
        pids=$(ip netns pids "$ns" 2> /dev/null)
        [ -n "$pids" ] && kill -KILL $pids 2> /dev/null
        ip netns delete "$ns" 2> /dev/null
    done
    ip link delete "${TS_VETH_A:-none}" 2> /dev/null  # only if it escaped its namespace
    return 0
}
