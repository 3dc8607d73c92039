# lib.sh — shared by slurm/*.sbatch (sourced): find mkt, read job-file keys,
# log with the job id, and run one `srun` step that signals can reach.
#
# Slurm copies a batch script into its spool directory before running it, so
# the scripts cannot find this file next to themselves: they look in
# $MKT_HOME/slurm (MKT_HOME defaults to the directory sbatch was run in).

mkt_slog() { echo "[slurm] $(date '+%F %T') job ${SLURM_JOB_ID:-?}: $*" >&2; }
mkt_sdie() { mkt_slog "error: $*"; exit "${2:-2}"; }

# mkt_ini_get FILE SECTION KEY: the value of KEY in [SECTION] (dashes and
# underscores in KEY are the same, as in mkt), empty when absent.
mkt_ini_get() {
  awk -v want_section="$2" -v want_key="$3" '
    function norm(s) { gsub(/-/, "_", s); return s }
    /^[ \t]*[;#]/ { next }
    /^[ \t]*\[/ { s = $0; sub(/^[ \t]*\[/, "", s); sub(/\].*$/, "", s); section = s; next }
    section == want_section && index($0, "=") {
      k = substr($0, 1, index($0, "=") - 1); v = substr($0, index($0, "=") + 1)
      gsub(/^[ \t]+|[ \t]+$/, "", k); sub(/[ \t]+[;#].*$/, "", v); gsub(/^[ \t]+|[ \t]+$/, "", v)
      if (norm(k) == norm(want_key)) { value = v; found = 1 }
    }
    END { if (found) print value }' "$1"
}

# mkt_slurm_init JOB.ini: check the job file and the allocation, find mkt,
# set JOB, MKT, NTASKS, RESTARTS; print what will run.
mkt_slurm_init() {
  JOB=${1:-}
  [ -n "$JOB" ] || mkt_sdie "usage: sbatch ${MKT_SCRIPT:-slurm/pipeline.sbatch} JOB.ini"
  [ -f "$JOB" ] || mkt_sdie "job file $JOB not found (relative paths are relative to $PWD)"
  [ -r "$JOB" ] || mkt_sdie "job file $JOB is not readable"
  MKT=${MKT:-$MKT_HOME/build/mkt}
  [ -x "$MKT" ] || mkt_sdie "mkt binary $MKT not found: build it (scripts/setup.sh) or set MKT=/path/to/mkt"
  NTASKS=${SLURM_NTASKS:-1}
  RESTARTS=${SLURM_RESTART_COUNT:-0}
  local ranks
  ranks=$(mkt_ini_get "$JOB" job ranks)
  if [ -n "$ranks" ] && [ "$ranks" != "$NTASKS" ]; then
    mkt_sdie "$JOB sets [job] ranks = $ranks but this allocation has $NTASKS tasks: submit with sbatch -n $ranks"
  fi
  # Open MPI under Slurm: no InfiniBand probing noise, root allowed (containers, CI).
  export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
  if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
  mkt_slog "job file $JOB, $NTASKS ranks on ${SLURM_JOB_NODELIST:-?}, restart $RESTARTS, mkt $MKT, in $PWD"
}

# mkt_plain CMD...: run CMD as a plain process, not as part of this
# allocation's MPI job (Open MPI refuses a singleton that sees Slurm's or
# PMIx's variables), e.g. `mkt query` from the batch script.
mkt_plain() {
  local unset=() v
  for v in $(compgen -e); do
    case "$v" in SLURM_* | PMI_* | PMIX_* | OMPI_MCA_ess* | OMPI_MCA_pmix*) unset+=(-u "$v") ;; esac
  done
  env "${unset[@]}" "$@"
}

# mkt_step_start NAME CMD...: start one srun step running CMD on every task,
# in the background (STEP = srun's pid, STEP_NAME = NAME for the log).
# Debian's Open MPI needs the PMIx plugin: plain `srun` does not wire up MPI.
# --kill-on-bad-exit: a rank that dies ends the step within seconds, no hang.
#
# srun's own status does not show every failed launch: when slurmd cannot
# start the tasks (e.g. the PMIx plugin cannot make its directory) srun
# prints "task N launch failed" and still exits 0.  So each task first
# leaves a mark in STEP_DIR (in the job's working directory, which every
# node sees: the job's data is read through it too) and then execs CMD (the
# same process, so the signals srun forwards reach CMD itself);
# mkt_step_wait counts the marks.  MKT_STEP_IGNORE_TERM=1 makes the tasks
# ignore SIGTERM (an ignored signal stays ignored across exec).
mkt_step_start() {
  STEP_NAME=$1
  shift
  STEP_DIR=$(mktemp -d "$PWD/.mkt-step-${SLURM_JOB_ID:-0}.XXXXXX") ||
    mkt_sdie "step '$STEP_NAME': cannot create a directory in $PWD (the job's working directory must be writable)"
  srun --mpi=pmix --kill-on-bad-exit=1 bash -c \
    ': >"$1/task.${SLURM_PROCID:-0}" || exit 1; shift; [ "${MKT_STEP_IGNORE_TERM:-0}" = 1 ] && trap "" TERM; exec "$@"' \
    mkt-step "$STEP_DIR" "$@" &
  STEP=$!
}

# mkt_step_wait: wait for the step, also across trapped signals; STEP_RC is
# srun's status, or 1 when srun says 0 but not every task started (logged,
# naming the step).
mkt_step_wait() {
  while kill -0 "$STEP" 2>/dev/null; do
    wait "$STEP" 2>/dev/null || true
  done
  wait "$STEP" 2>/dev/null
  STEP_RC=$?
  local started
  started=$(find "$STEP_DIR" -maxdepth 1 -name 'task.*' 2>/dev/null | wc -l)
  rm -rf "$STEP_DIR"
  if [ "$started" -lt "${NTASKS:-1}" ]; then
    mkt_slog "error: step '$STEP_NAME' started on $started of ${NTASKS:-1} tasks (srun status $STEP_RC): srun could not launch it, see the srun errors above"
    [ "$STEP_RC" -ne 0 ] || STEP_RC=1
  elif [ "$STEP_RC" -ne 0 ]; then
    mkt_slog "error: step '$STEP_NAME' failed with status $STEP_RC"
  fi
}
