#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, to try `frcnn-tui launch --slurm` without a real cluster
# and to run the SLURM tests (tests/test_slurm*.py call it). Needs root. Idempotent: with the cluster
# already up and configured as below it returns at once.
#
#   packages  slurm-wlm and munge from the distribution (apt-get; `apt-get update` only when needed)
#   munge     a 1024-byte key at /etc/munge/munge.key (kept if present), munged as user munge
#   slurm     /etc/slurm/slurm.conf: this host as controller and only node (CPUs = nproc), partition
#             `debug` (no time limit) and `short` (10 minutes, same node), no accounting (sacct has nothing); gres.conf declares gpu:2, so the GPU form of a
#             script can be checked with `sbatch --test-only` on a CPU-only machine
#   daemons   slurmctld and slurmd (restarted when the configuration changed), then waits for the node
#             to be idle
#
# With --two-nodes it also brings up a second cluster beside the first, for multi-node jobs and node
# failures: /etc/slurm-two/slurm.conf (use it with SLURM_CONF=that file), its own slurmctld on port
# 16817, and two nodes n1 and n2 (1 CPU each), each its own slurmd on this machine (Debian's build has
# MULTIPLE_SLURMD), partition `two`. The one-node cluster is not touched. n1 and n2 resolve to
# 127.0.0.1 through /etc/hosts, as node names do on a real cluster (mmengine's rendezvous uses them).
#
# On failure it prints ONE line, `slurm_local: <why>`, on stderr and exits 1 (the tests skip with it).
set -uo pipefail
# Each cluster is named by its own configuration below: one inherited from the caller (a shell or test
# talking to the second cluster) must not point the first cluster's checks at the other one.
unset SLURM_CONF
TWO_NODES=
case "${1:-}" in
  --two-nodes) TWO_NODES=1 ;;
  "") ;;
  *) printf 'slurm_local: unknown argument %s (only --two-nodes)\n' "$1" >&2; exit 2 ;;
esac

LOG=/var/log/slurm/slurm_local.log
die() { printf 'slurm_local: %s\n' "$*" >&2; exit 1; }
say() { [ -n "${QUIET:-}" ] || printf 'slurm_local: %s\n' "$*"; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts munged, slurmctld, slurmd)"
HOST="$(hostname -s)" || die "hostname -s failed"
CPUS="$(nproc)"
# RealMemory must not exceed what slurmd detects, or the node is drained; total minus 1 GiB is stable
# across runs (free memory is not, and a changing value would restart the daemons every time).
MEM_MIB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

# What both clusters' configurations say alike: process tracking, scheduling, a node back in service.
shared_conf() {
  cat <<'EOF'
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
EOF
}

desired_conf() {
  cat <<EOF
# Written by frcnn-tui's scripts/slurm_local.sh: a one-node test cluster.
ClusterName=local
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
$(shared_conf)
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MIB Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=$HOST MaxTime=00:10:00 State=UP
EOF
}

# slurmd 22.05 drops a GPU declared with Count= and no File= ("Removing file-less GPU"), and then
# drains the node (count 0 < 2). It accepts character devices: two links to /dev/null and /dev/zero
# stand in for /dev/nvidia0-1. Nothing ever opens them; they only make gpu:2 schedulable.
FAKE_GPUS=/etc/slurm/fake-gpu
desired_gres() {
  printf '# Written by frcnn-tui scripts/slurm_local.sh: two stand-in GPUs (links to /dev/null, /dev/zero).\n'
  printf 'NodeName=%s Name=gpu File=%s[0-1]\n' "$HOST" "$FAKE_GPUS"
}
fake_gpus_present() { [ "$(readlink "${FAKE_GPUS}0")" = /dev/null ] && [ "$(readlink "${FAKE_GPUS}1")" = /dev/zero ]; }

daemon_running() {  # NAME PIDFILE: the pid file names a live process of that name
  local pid
  pid="$(cat "$2" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
node_state() { sinfo -h -n "$HOST" -o %t 2>/dev/null | head -1; }
# Exactly idle/mixed/allocated: a trailing '*' means not responding, drain/down need a resume.
node_idle() { node_state | grep -qxE 'idle|mix|alloc'; }
conf_current() {
  [ "$(cat /etc/slurm/slurm.conf 2>/dev/null)" = "$(desired_conf)" ] &&
    [ "$(cat /etc/slurm/gres.conf 2>/dev/null)" = "$(desired_gres)" ]
}

stop_daemon() {  # NAME PIDFILE: stop it by its pid file and wait until it is gone
  local pid
  daemon_running "$1" "$2" || return 0
  pid="$(cat "$2")"
  kill "$pid" 2>/dev/null
  for _ in $(seq 100); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
}

# -- the second cluster (--two-nodes): its own configuration, controller port, state and daemons.
TWO_DIR=/etc/slurm-two
TWO_CONF=$TWO_DIR/slurm.conf
TWO_NODE_NAMES="n1 n2"
desired_two_conf() {
  cat <<EOF
# Written by frcnn-tui's scripts/slurm_local.sh --two-nodes: two nodes on this one machine.
ClusterName=two
SlurmctldHost=$HOST
SlurmctldPort=16817
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld-two
SlurmdSpoolDir=/var/spool/slurmd-%n
SlurmctldPidFile=/run/slurm/slurmctld-two.pid
SlurmdPidFile=/run/slurm/slurmd-%n.pid
$(shared_conf)
# A node whose slurmd stops answering is down after 10 s (300 by default), its jobs NODE_FAIL.
SlurmdTimeout=10
# Job ids far from the first cluster's: the batch script derives its rendezvous port from the id.
FirstJobId=10000
SlurmctldLogFile=/var/log/slurm/slurmctld-two.log
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=n1 NodeHostname=$HOST NodeAddr=127.0.0.1 Port=17001 CPUs=1 RealMemory=1024 State=UNKNOWN
NodeName=n2 NodeHostname=$HOST NodeAddr=127.0.0.1 Port=17002 CPUs=1 RealMemory=1024 State=UNKNOWN
PartitionName=two Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP
EOF
}
two_state() { SLURM_CONF=$TWO_CONF sinfo -h -n "$1" -o %t 2>/dev/null | head -1; }
two_nodes_idle() {
  local node
  for node in $TWO_NODE_NAMES; do two_state "$node" | grep -qxE 'idle|mix|alloc' || return 1; done
}

two_nodes_up() {
  local node resumed=
  for node in $TWO_NODE_NAMES; do
    getent hosts "$node" >/dev/null ||
      printf '127.0.0.1 %s  # frcnn-tui slurm_local.sh --two-nodes\n' "$node" >>/etc/hosts ||
      die "cannot add $node to /etc/hosts"
  done
  if [ "$(cat "$TWO_CONF" 2>/dev/null)" != "$(desired_two_conf)" ]; then
    say "writing $TWO_CONF (nodes n1, n2 on this machine, partition two)"
    for node in $TWO_NODE_NAMES; do stop_daemon slurmd "/run/slurm/slurmd-$node.pid"; done
    stop_daemon slurmctld /run/slurm/slurmctld-two.pid
    mkdir -p "$TWO_DIR" /var/spool/slurmctld-two && desired_two_conf >"$TWO_CONF" || die "cannot write $TWO_CONF"
  fi
  if ! daemon_running slurmctld /run/slurm/slurmctld-two.pid; then
    /usr/sbin/slurmctld -f "$TWO_CONF" >>"$LOG" 2>&1 ||
      die "slurmctld -f $TWO_CONF did not start (see /var/log/slurm/slurmctld-two.log)"
  fi
  for _ in $(seq 100); do SLURM_CONF=$TWO_CONF scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.2; done
  for node in $TWO_NODE_NAMES; do
    mkdir -p "/var/spool/slurmd-$node"
    daemon_running slurmd "/run/slurm/slurmd-$node.pid" ||
      /usr/sbin/slurmd -f "$TWO_CONF" -N "$node" >>"$LOG" 2>&1 ||
      die "slurmd -N $node did not start (see /var/log/slurm/slurmd-$node.log)"
  done
  for _ in $(seq 120); do
    two_nodes_idle && break
    if [ -z "$resumed" ]; then  # a node left down (a killed slurmd, an older configuration) answers again
      for node in $TWO_NODE_NAMES; do
        [[ "$(two_state "$node")" =~ ^(drain|drng|down|fail)$ ]] &&
          SLURM_CONF=$TWO_CONF scontrol update NodeName="$node" State=RESUME >>"$LOG" 2>&1 && resumed=1
      done
    fi
    sleep 0.5
  done
  two_nodes_idle ||
    die "nodes n1, n2 are not idle after 60 s: $(SLURM_CONF=$TWO_CONF sinfo -h -o '%N %t %E' 2>&1 | tr '\n' ' ')"
  say "second cluster up (SLURM_CONF=$TWO_CONF: nodes n1, n2 idle, partition two)"
}

finish() {
  say "cluster up (node $HOST idle, partition debug)"
  [ -z "$TWO_NODES" ] || two_nodes_up
  exit 0
}

# Fast path: everything up and configured as above.
if command -v slurmctld >/dev/null && conf_current && fake_gpus_present && munge_ok &&
   daemon_running slurmctld /run/slurm/slurmctld.pid && daemon_running slurmd /run/slurm/slurmd.pid &&
   node_idle; then
  finish
fi

mkdir -p /var/log/slurm /var/spool/slurmctld /var/spool/slurmd /run/slurm /etc/slurm

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  say "installing slurm-wlm and munge (log: $LOG)"
  export DEBIAN_FRONTEND=noninteractive
  command -v apt-get >/dev/null || die "slurm-wlm is not installed and there is no apt-get to install it"
  # The package lists may never have been fetched on a fresh machine: update only then.
  if ! apt-cache show slurm-wlm munge >/dev/null 2>&1; then
    apt-get update >>"$LOG" 2>&1 || die "apt-get update failed (see $LOG)"
  fi
  apt-get install -y --no-install-recommends slurm-wlm munge >>"$LOG" 2>&1 ||
    die "apt-get install slurm-wlm munge failed (see $LOG)"
fi

# munge: one key, kept once written (every node of a real cluster shares it).
KEY=/etc/munge/munge.key
if [ ! -s "$KEY" ] || [ "$(stat -c %s "$KEY")" -lt 32 ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of="$KEY" bs=1024 count=1 status=none || die "cannot write $KEY"
fi
chown munge:munge "$KEY" && chmod 400 "$KEY" || die "cannot set the owner/mode of $KEY"
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge_ok; then
  runuser -u munge -- /usr/sbin/munged >>"$LOG" 2>&1 || die "munged did not start (see /var/log/munge/munged.log)"
  for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
  munge_ok || die "munge -n | unmunge fails after starting munged"
fi

if ! conf_current; then
  say "writing /etc/slurm/slurm.conf and gres.conf (node $HOST: $CPUS CPUs, gpu:2)"
  # A daemon started with an older configuration would keep it: restart both.
  stop_daemon slurmd /run/slurm/slurmd.pid
  stop_daemon slurmctld /run/slurm/slurmctld.pid
  desired_conf >/etc/slurm/slurm.conf && desired_gres >/etc/slurm/gres.conf || die "cannot write /etc/slurm"
fi
ln -sfn /dev/null "${FAKE_GPUS}0" && ln -sfn /dev/zero "${FAKE_GPUS}1" || die "cannot link ${FAKE_GPUS}0-1"

if ! daemon_running slurmctld /run/slurm/slurmctld.pid; then
  /usr/sbin/slurmctld >>"$LOG" 2>&1 || die "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
fi
# slurmd registers once at start-up; started before the controller answers, the node stays
# "not responding" until the next ping (about a minute).
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.2; done
if ! daemon_running slurmd /run/slurm/slurmd.pid; then
  /usr/sbin/slurmd >>"$LOG" 2>&1 || die "slurmd did not start (see /var/log/slurm/slurmd.log)"
fi

resumed=
for _ in $(seq 120); do
  node_idle && break
  state="$(node_state)"
  # A node left drained or down by an earlier configuration is returned to service once it answers.
  if [ -z "$resumed" ] && [[ "$state" =~ ^(drain|drng|down|fail)$ ]]; then
    scontrol update NodeName="$HOST" State=RESUME >>"$LOG" 2>&1 && resumed=1
  fi
  sleep 0.5
done
node_idle || die "node $HOST is not idle after 60 s: $(sinfo -h -n "$HOST" -o '%t %E' 2>&1 | head -1)"
finish
