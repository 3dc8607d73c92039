# cluster.sh — a private one-node Slurm cluster for tests (sourced).
#
#   slurm_cluster_start DIR   install slurm-wlm and munge if missing, write
#                             DIR/slurm.conf for this machine (localhost, all
#                             cores, free ports, state and logs under DIR),
#                             start munged, slurmctld and slurmd, wait until
#                             the node is idle; exports SLURM_CONF.
#   slurm_cluster_stop        stop the daemons it started, by pid, and wait
#                             for them (and for any job processes) to end.
#
# Nothing outside DIR is touched: the munge key, the munge socket, the Slurm
# state, spool, pid and log files and the jobs' TmpFS (where slurmd's PMIx
# plugin makes its per-step directories, spmix_appdir_UID_JOB.STEP, /tmp by
# default) all live there, so two test clusters running at once (each
# numbering its jobs from 1) share no path; the ports are picked free.
# When a daemon cannot run here the reason is printed and the caller fails.

SLURM_DIR=""
SLURM_PIDS=()

slurm_log() { echo "[slurm] $*" >&2; }

slurm_install() {
  local need=() p
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null ||
    need+=(slurm-wlm)
  command -v munged >/dev/null || need+=(munge)
  ((${#need[@]})) || return 0
  slurm_log "installing: ${need[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  for p in slurmctld slurmd sbatch munged; do
    command -v "$p" >/dev/null || { slurm_log "cannot run Slurm here: $p is not installed after apt-get"; return 1; }
  done
  # The packages' own services are not ours: the test starts private daemons.
  for p in slurmctld slurmd munge; do
    systemctl stop "$p" 2>/dev/null || true
  done
}

# Two free TCP ports on 127.0.0.1.
slurm_free_ports() {
  /usr/bin/python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# Print the last lines of the daemons' logs (after a failure).
slurm_show_logs() {
  local f
  for f in "$SLURM_DIR"/munged.log "$SLURM_DIR"/slurmctld.log "$SLURM_DIR"/slurmd.log; do
    [ -f "$f" ] && { echo "--- $f (last lines)" >&2; tail -n 15 "$f" >&2; }
  done
  return 0
}

# Start a daemon in the foreground-mode (-D) as a background job of this
# shell, so its pid is ours to stop.
slurm_spawn() {
  local name=$1; shift
  "$@" >"$SLURM_DIR/$name.out" 2>&1 &
  SLURM_PIDS+=($!)
  sleep 0.3
  if ! kill -0 $! 2>/dev/null; then
    slurm_log "cannot run Slurm here: $name exited at start:"
    cat "$SLURM_DIR/$name.out" >&2
    slurm_show_logs
    return 1
  fi
}

slurm_cluster_start() {
  SLURM_DIR=$1
  mkdir -p "$SLURM_DIR"/{state,spool,munge,tmp}
  chmod 700 "$SLURM_DIR" "$SLURM_DIR/munge"
  slurm_install || return 1
  local ports cpus mem
  read -r -a ports <<<"$(slurm_free_ports)"
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)

  # munge: a private key and socket.
  dd if=/dev/urandom of="$SLURM_DIR/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$SLURM_DIR/munge/munge.key"
  slurm_spawn munged munged -F --force --socket="$SLURM_DIR/munge/munge.sock" \
    --key-file="$SLURM_DIR/munge/munge.key" --pid-file="$SLURM_DIR/munge/munged.pid" \
    --log-file="$SLURM_DIR/munged.log" --seed-file="$SLURM_DIR/munge/munge.seed" || return 1
  local i
  for i in $(seq 50); do [ -S "$SLURM_DIR/munge/munge.sock" ] && break; sleep 0.1; done
  [ -S "$SLURM_DIR/munge/munge.sock" ] || { slurm_log "cannot run Slurm here: munged made no socket"; slurm_show_logs; return 1; }

  cat >"$SLURM_DIR/slurm.conf" <<CONF
# One-node test cluster written by tests/slurm/cluster.sh
ClusterName=mkttest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also bounds how long a requeued job waits before it starts again
AuthInfo=socket=$SLURM_DIR/munge/munge.sock,cred_expire=5
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
# the jobs' temporary directory, and the PMIx plugin's: not the shared /tmp
TmpFS=$SLURM_DIR/tmp
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
SwitchType=switch/none
JobRequeue=1
# time for mkt to checkpoint between SIGTERM and SIGKILL
KillWait=30
# keep finished jobs visible to scontrol (there is no accounting database)
MinJobAge=600
ReturnToService=2
SchedulerType=sched/builtin
# a requeued job becomes eligible after cred_expire: look for it every 2 s
SchedulerParameters=sched_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  export SLURM_CONF=$SLURM_DIR/slurm.conf
  slurm_spawn slurmctld slurmctld -D -i -f "$SLURM_CONF" || return 1
  slurm_spawn slurmd slurmd -D -N localhost -f "$SLURM_CONF" || return 1

  local state=""
  for i in $(seq 150); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.2
  done
  if [ "$state" != idle ]; then
    slurm_log "cannot run Slurm here: the node is '${state:-unknown}', not idle, after 30 s"
    scontrol show node localhost >&2 2>&1 || true
    slurm_show_logs
    return 1
  fi
  slurm_log "cluster up in $SLURM_DIR (slurmctld :${ports[0]}, slurmd :${ports[1]}, $cpus CPUs)"
}

slurm_cluster_stop() {
  local pid i
  ((${#SLURM_PIDS[@]})) || return 0
  # cancel what is left so no job process outlives the test
  if [ -n "${SLURM_CONF:-}" ]; then
    scancel --full --quiet --partition=test 2>/dev/null || true
    for i in $(seq 50); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  # slurmd, then slurmctld, then munged (reverse order of start)
  for ((i = ${#SLURM_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${SLURM_PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
  done
  SLURM_PIDS=()
}
