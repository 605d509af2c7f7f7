#!/usr/bin/env bash
# A real single-node SLURM on loopback, with one fake GPU, for the cluster test.
#   tests/cluster/slurm.sh start   install Debian's slurm + munge if missing, write the config, start the
#                                  daemons, wait until the node is idle; prints `export SLURM_CONF=…`
#   tests/cluster/slurm.sh stop    stop only the daemons this script started (by pid)
# State lives in $MSCI_SLURM_DIR (default /tmp/msci-slurm). Needs root (CI and sessions here run as root).
set -euo pipefail
DIR=${MSCI_SLURM_DIR:-/tmp/msci-slurm}
# The config goes where SLURM's tools look by default: the jobs' own srun calls do not see a
# SLURM_CONF from our environment (the snakemake plugin drops SLURM_* variables from jobs).
CONF=/etc/slurm/slurm.conf
MARK="# msci test cluster (tests/cluster/slurm.sh)"
WAIT=${MSCI_SLURM_WAIT:-60}

die() { echo "slurm.sh: $*" >&2; exit 1; }

install_packages() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null && return
  [ "$(id -u)" = 0 ] || die "slurm is not installed and installing it needs root"
  echo "slurm.sh: installing slurmctld slurmd slurm-client munge (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq >&2 || die "apt-get update failed"
  timeout 900 apt-get install -y -qq slurmctld slurmd slurm-client munge >&2 || die "apt-get install failed"
}

start_munge() {
  if pgrep -x munged >/dev/null; then return; fi  # a munged already running serves us too
  mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key
  local pidfile=/run/munge/msci-test-munged.pid
  rm -f "$pidfile"
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- munged --pid-file="$pidfile" || die "munged did not start"
  else
    munged --force --pid-file="$pidfile" || die "munged did not start"
  fi
  for _ in $(seq 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
  [ -s "$pidfile" ] || die "munged wrote no pid file"
  echo "munged $(cat "$pidfile")" >> "$DIR/started"
}

write_config() {
  local node host cpus mem
  host=$(hostname -s)
  node=$(slurmd -C | head -n1)                          # NodeName=… CPUs=… RealMemory=…
  cpus=$(echo "$node" | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
  mem=$(echo "$node" | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  mkdir -p "$DIR/spool/ctld" "$DIR/spool/d" "$DIR/log" /etc/slurm
  if [ -s "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and is not ours: refusing to overwrite a real cluster's configuration"
  fi
  cat > "$CONF" <<CONF
$MARK
ClusterName=msci-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=${MSCI_SLURMCTLD_PORT:-6817}
SlurmdPort=${MSCI_SLURMD_PORT:-6818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
GresTypes=gpu
ReturnToService=2
# Without slurmdbd, finished jobs are visible to squeue only while MinJobAge lasts: keep it long.
MinJobAge=600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SchedulerType=sched/backfill
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  # A fake GPU: File=/dev/null (Count= alone drains the node in SLURM 22.05).
  printf '%s\nNodeName=%s Name=gpu File=/dev/null\n' "$MARK" "$host" > /etc/slurm/gres.conf
}

start() {
  mkdir -p "$DIR"
  [ -f "$DIR/started" ] && stop >/dev/null 2>&1 || true
  : > "$DIR/started"
  install_packages
  start_munge
  write_config
  export SLURM_CONF=$CONF
  slurmctld -f "$CONF" || die "slurmctld did not start (see $DIR/log/slurmctld.log)"
  for _ in $(seq 50); do [ -s "$DIR/slurmctld.pid" ] && break; sleep 0.1; done
  echo "slurmctld $(cat "$DIR/slurmctld.pid")" >> "$DIR/started"
  slurmd -f "$CONF" || die "slurmd did not start (see $DIR/log/slurmd.log)"
  for _ in $(seq 50); do [ -s "$DIR/slurmd.pid" ] && break; sleep 0.1; done
  echo "slurmd $(cat "$DIR/slurmd.pid")" >> "$DIR/started"
  local t0=$SECONDS state=""
  while [ $((SECONDS - t0)) -lt "$WAIT" ]; do
    state=$(sinfo -h -o %t 2>/dev/null | head -n1 || true)
    case "$state" in idle*) echo "export SLURM_CONF=$CONF"; return 0 ;; esac
    scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
    sleep 0.5
  done
  die "node not idle after ${WAIT}s (state '${state}'; see $DIR/log/)"
}

stop() {
  [ -f "$DIR/started" ] || return 0
  tac "$DIR/started" | while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    echo "stopped $name ($pid)" >&2
  done
  rm -f "$DIR/started"
  for f in "$CONF" /etc/slurm/gres.conf; do  # our config files only
    if [ -f "$f" ] && grep -qF "$MARK" "$f"; then rm -f "$f"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop" ;;
esac
