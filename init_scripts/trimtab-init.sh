#!/bin/bash
# Trimtab cluster init script: starts the Trimtab agent on the Databricks driver.
#
# Contract (docs/team-contracts.md):
#   Databricks:  DB_IS_DRIVER (TRUE/FALSE), DB_CLUSTER_ID, ...
#   spark_env_vars: TRIMTAB_SERVER (host:port), TRIMTAB_TOKEN ({{secrets/<scope>/<key>}}),
#                   TRIMTAB_AGENT_WHEEL (wheel file, wheelhouse directory or https URL; import writes it:
#                   the wheel it uploaded beside this script, or the operator's TRIMTAB_AGENT_WHEEL), TRIMTAB_TLS=1,
#                   TRIMTAB_TLS_CA (PEM file of roots to trust, e.g. a private CA in a volume)
#   overrides:   TRIMTAB_FS_ROOT (prefix for /databricks paths), TRIMTAB_AGENT_HOME,
#                TRIMTAB_EVENTLOG_DIR, TRIMTAB_AGENT_STATE_DIR (the agent's own settings: passed to it as set),
#                TRIMTAB_AGENT_BIN (an installed trimtab-agent: skip the install),
#                TRIMTAB_INSTALL_TIMEOUT (seconds, default 120),
#                TRIMTAB_AGENT_RESTART_DELAY_S (first pause before restarting a dead agent, default 5),
#                TRIMTAB_AGENT_MAX_RESTARTS (restarts per hour, default 10; 0 = never restart),
#                PIP_TIMEOUT or PIP_DEFAULT_TIMEOUT, PIP_RETRIES (pip's own: replace the install's
#                --timeout 10 and --retries 1, e.g. for a slow private index)
#   The agent needs Python 3.10 or newer on the driver (Databricks Runtime 13.3 LTS and later).
#
# It ALWAYS exits 0 and returns quickly: a failed install means no agent, never a failed cluster.
# It never touches spark.extraListeners, so Databricks' DBCEventLoggingListener keeps logging.

set +e
ROOT="${TRIMTAB_FS_ROOT:-}"
AGENT_HOME="${TRIMTAB_AGENT_HOME:-$ROOT/databricks/trimtab}"
EVENTLOG_DIR="$ROOT/databricks/driver/eventlogs"
CONF_DIR="$ROOT/databricks/driver/conf"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" 2>/dev/null && pwd)"

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) trimtab-init: $*" >>"$AGENT_HOME/init.log" 2>/dev/null; echo "trimtab-init: $*" >&2; }

pick_python() {
  # The runtime's own interpreter first: `python3` on PATH can be Ubuntu's, an older minor version
  # than the runtime's, and a wheelhouse built for the runtime's Python would not install into it.
  local rt="$ROOT/databricks/python3/bin/python3"
  if [ -x "$rt" ] && "$rt" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
    echo "$rt"; return 0
  fi
  command -v python3 || command -v python
}

install_agent() {
  # Prints the path of the trimtab-agent executable on success.
  local venv="$AGENT_HOME/venv" src="${TRIMTAB_AGENT_WHEEL:-}" limit="${TRIMTAB_INSTALL_TIMEOUT:-120}"
  # A wheelhouse beside the script works only where the script runs from a folder (a local copy):
  # Databricks fetches an init script alone, so there import's TRIMTAB_AGENT_WHEEL is what counts.
  if [ -z "$src" ] && [ -d "$HERE/wheelhouse" ]; then src="$HERE/wheelhouse"; fi
  if [ -z "$src" ]; then log "TRIMTAB_AGENT_WHEEL is not set (Trimtab's import writes it into the cluster's spark_env_vars): agent not installed"; return 1; fi
  local py; py="$(pick_python)"
  [ -n "$py" ] || { log "no python3 on this node"; return 1; }
  # The agent needs Python 3.10+ (Databricks 13.3 LTS and later); say so plainly rather than
  # leave pip's "requires a different Python" or "no matching distribution" as the only clue.
  local pyver; pyver="$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)"
  if [ "$py" = "$ROOT/databricks/python3/bin/python3" ]; then
    log "using $py (Python ${pyver:-unknown}, the runtime's interpreter)"
  else
    log "using $py (Python ${pyver:-unknown}, from PATH; no usable $ROOT/databricks/python3/bin/python3)"
  fi
  if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
    log "Python ${pyver:-unknown} at $py is older than 3.10, which the agent needs (Databricks Runtime 13.3 LTS or newer): not installing"
    return 1
  fi
  timeout "$limit" "$py" -m venv "$venv" >>"$AGENT_HOME/init.log" 2>&1
  local rc=$?
  if [ $rc -eq 124 ]; then log "venv creation timed out after ${limit} s (TRIMTAB_INSTALL_TIMEOUT): agent not installed"; return 1; fi
  if [ $rc -ne 0 ]; then log "venv creation failed (rc=$rc): agent not installed"; return 1; fi
  # One retry and a 10 s socket timeout: pip's defaults (5 retries, 15 s) held cluster start for
  # the whole install timeout when the package index does not answer (no egress, a firewall
  # that drops packets); failing in about half a minute with pip's reason is worth more.
  # pip's own variables, set in spark_env_vars, win (a command-line option would override them
  # without a word); pip rejects a bad value itself, with its reason in init.log.
  # --no-compile: pip byte-compiles every module of the wheel, the server's and the sandbox's too
  # (240 files, 2 MB), which the agent never imports, while cluster start waits (seconds on a busy
  # node); Python compiles the agent's own modules at its first start.
  local pip=("$venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-compile)
  [ -n "${PIP_RETRIES:-}" ] || pip+=(--retries 1)
  [ -n "${PIP_TIMEOUT:-}${PIP_DEFAULT_TIMEOUT:-}" ] || pip+=(--timeout 10)
  if [ -d "$src" ]; then
    timeout "$limit" "${pip[@]}" --no-index --find-links "$src" trimtab >>"$AGENT_HOME/init.log" 2>&1
  else
    timeout "$limit" "${pip[@]}" "$src" >>"$AGENT_HOME/init.log" 2>&1
  fi
  rc=$?
  if [ $rc -eq 0 ] && [ -x "$venv/bin/trimtab-agent" ]; then echo "$venv/bin/trimtab-agent"; return 0; fi
  local fix="a single wheel takes its dependencies (grpcio, protobuf, orjson, zstandard, lz4, cramjam) from the package index"
  fix="$fix (PyPI unless PIP_INDEX_URL names another): without access to it, point TRIMTAB_AGENT_WHEEL at a wheelhouse"
  fix="$fix directory built for this Python (docs/agent.md) or set PIP_INDEX_URL to a private index in spark_env_vars"
  if [ $rc -eq 124 ]; then
    if [ -d "$src" ]; then
      log "install from $src timed out after ${limit} s (TRIMTAB_INSTALL_TIMEOUT): agent not installed"
    else
      log "install from $src timed out after ${limit} s (TRIMTAB_INSTALL_TIMEOUT), most likely waiting for the network (the package index, or the wheel's URL): agent not installed; $fix"
    fi
  elif [ -d "$src" ]; then
    log "install from $src failed (rc=$rc; pip's reason is above): agent not installed"
  elif [[ "$src" != *://* ]] && [ ! -r "$src" ]; then
    # Not the index's fault: Databricks gives an init script the credentials for files in Unity
    # Catalog volumes only when the script is in a volume itself, and other workspace files only to
    # one in workspace files, so the path is simply not there for this script.
    log "install from $src failed (rc=$rc; pip's reason is above): agent not installed; file not readable from this init script: a /Volumes file is readable only by an init script stored in a volume, a /Workspace file only by one in workspace files; put the wheel beside the script or give an https URL in TRIMTAB_AGENT_WHEEL"
  else
    log "install from $src failed (rc=$rc; pip's reason is above): agent not installed; if pip could not reach the index, $fix"
  fi
  return 1
}

write_spark_conf() {
  # Driver defaults file in Databricks' format; only settings the agent needs, never extraListeners.
  mkdir -p "$CONF_DIR" || return 1
  cat >"$CONF_DIR/00-trimtab-driver-defaults.conf" <<'CONF'
[driver] {
  "spark.eventLog.logStageExecutorMetrics" = "true"
  "spark.executor.processTreeMetrics.enabled" = "true"
}
CONF
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

deliver_agent_log() {
  # Databricks delivers the driver's log directory (cluster_log_conf: <dest>/<cluster-id>/driver/), not
  # $AGENT_HOME: without a name there, why the agent could not deliver (token refused, TLS handshake
  # failed, server unreachable) stayed on the driver's disk, gone with the cluster. A hard link is the
  # same file (the agent's size cap cuts it in place), so nothing is copied or doubled; a symbolic link
  # where the two are on different filesystems.
  local dir="$ROOT/databricks/driver/logs"
  mkdir -p "$dir" 2>/dev/null && touch "$AGENT_HOME/agent.log" 2>/dev/null || return 0
  ln -f "$AGENT_HOME/agent.log" "$dir/trimtab-agent.log" 2>/dev/null \
    || ln -sf "$AGENT_HOME/agent.log" "$dir/trimtab-agent.log" 2>/dev/null \
    || log "could not put agent.log into $dir: the delivered cluster logs will not hold it"
}

# Whether Trimtab runs here is a lock's answer, not the pid files': they outlive their processes
# (/databricks is kept across a node's restart, a kill -9 leaves them), and their pid may name any
# process since (the new driver's JVM), which made this script start nothing. The supervisor holds
# LOCK for its life, taken by main before it starts it (two starts at once cannot both pass), and the
# agent holds its state directory's agent.lock (agent/durable.py try_lock), which also covers an agent
# started by hand or by an older script. The kernel drops both when their holder dies, kill -9
# included. The pid files only name the processes, for people and tools.
LOCK="$AGENT_HOME/supervisor.lock"

lock_held() {
  # Whether a live process holds the flock(2) lock on file $1 (not created when missing).
  [ -f "$1" ] || return 1
  flock -n -E 75 "$1" true 2>/dev/null
  [ $? -eq 75 ]
}

trimtab_pid() {
  # Whether pid $1 is alive and Trimtab's: an argument of its command line matches the pattern $2.
  # Only where locks cannot say it: a pid file outlives its process, and its pid may name any
  # process since (the new driver's JVM), which would keep Trimtab from starting for good.
  local pid="$1" mark="$2" arg
  alive "$pid" || return 1
  # No /proc (not Linux): being alive is all there is to go on.
  [ -d /proc/self ] || return 0
  while IFS= read -r -d '' arg; do
    case "$arg" in $mark) return 0;; esac  # unquoted: $mark is a pattern
  done <"/proc/$pid/cmdline" 2>/dev/null
  return 1
}

pid_files_say_running() {
  # The supervisor's argv carries the name main gives it; the agent's names its trimtab-agent.
  trimtab_pid "$(cat "$AGENT_HOME/supervisor.pid" 2>/dev/null)" trimtab-supervisor \
    || trimtab_pid "$(cat "$AGENT_HOME/agent.pid" 2>/dev/null)" '*trimtab-agent'
}

log_running() {
  log "agent already running (pid $(cat "$AGENT_HOME/agent.pid" 2>/dev/null || echo unknown), supervisor pid $(cat "$AGENT_HOME/supervisor.pid" 2>/dev/null || echo none))"
}

describe_exit() {
  # What an exit status says, for a person reading init.log.
  local rc="$1"
  if [ "$rc" -gt 128 ]; then
    local name; name="$(kill -l "$((rc - 128))" 2>/dev/null)"
    if [ "$name" = "KILL" ]; then echo "killed by SIGKILL (kill -9, or the kernel's OOM killer)"
    else echo "killed by signal $((rc - 128))${name:+ (SIG$name)}"; fi
  else
    echo "exit status $rc"
  fi
}

supervise() {
  # Runs detached in its own session (its stdout and stderr are agent.log): starts the agent and
  # starts it again when it dies (kill -9, the OOM killer, a crash): the new agent resumes from the
  # saved read positions, so a crash delays delivery by the pause instead of ending it for the rest
  # of the cluster's life. Stops for good when the agent exits cleanly
  # (status 0: SIGTERM at cluster termination, or a person stopping it), when it refuses its
  # configuration (status 2: a restart cannot help), when the driver's directory is gone, or when
  # it is signalled itself (it passes the signal on to the agent). Pauses double from
  # TRIMTAB_AGENT_RESTART_DELAY_S up to 300 s (back to the first once an agent ran 10 minutes), and
  # at most TRIMTAB_AGENT_MAX_RESTARTS restarts happen in any hour; past that it waits.
  local bin="$1" base="${TRIMTAB_AGENT_RESTART_DELAY_S:-5}" max="${TRIMTAB_AGENT_MAX_RESTARTS:-10}"
  case "$base" in ''|*[!0-9]*|0) log "TRIMTAB_AGENT_RESTART_DELAY_S=$base is not a whole number of seconds >= 1: using 5"; base=5;; esac
  case "$max" in ''|*[!0-9]*) log "TRIMTAB_AGENT_MAX_RESTARTS=$max is not a whole number: using 10"; max=10;; esac
  local delay="$base" child="" stopping="" rc started ran now wait_s restarts=() kept t dirs=()
  # The cluster's own TRIMTAB_EVENTLOG_DIR / TRIMTAB_AGENT_STATE_DIR (spark_env_vars) reach the
  # agent through its environment; a flag would win over them without a word.
  [ -n "${TRIMTAB_EVENTLOG_DIR:-}" ] || dirs+=(--eventlog-dir "$EVENTLOG_DIR")
  [ -n "${TRIMTAB_AGENT_STATE_DIR:-}" ] || dirs+=(--state-dir "$AGENT_HOME/state")
  trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT HUP
  echo "$$" >"$AGENT_HOME/supervisor.pid"
  # This shell's own stderr goes nowhere: bash prints a "Killed" job notice of its own when the
  # agent dies by a signal, which would be quoted as the agent's last words. The agent and the
  # supervisor's log lines keep agent.log (fd 3).
  exec 3>&2 2>/dev/null
  # fd 9 is LOCK, locked by main and inherited: held while this shell lives. Closed for the agent and
  # the pause, so that neither holds it once this shell is gone (the agent has a lock of its own).
  while :; do
    "$bin" run "${dirs[@]}" --server "$TRIMTAB_SERVER" --token-env TRIMTAB_TOKEN </dev/null 2>&3 3>&- 9>&- &
    child=$!
    started="$(date +%s)"
    echo "$child" >"$AGENT_HOME/agent.pid"
    while :; do
      wait "$child"; rc=$?
      # A trapped signal ends `wait` early: wait again for the agent's own status.
      alive "$child" && continue
      wait "$child" 2>/dev/null; t=$?
      [ "$t" -ne 127 ] && rc=$t
      break
    done
    child=""
    now="$(date +%s)"; ran=$((now - started))
    if [ -n "$stopping" ]; then log "supervisor signalled: agent (pid $(cat "$AGENT_HOME/agent.pid" 2>/dev/null)) ended ($(describe_exit "$rc")); not restarting" 2>&3; break; fi
    if [ "$rc" -eq 0 ]; then log "agent exited cleanly after ${ran} s: not restarting" 2>&3; break; fi
    if [ "$rc" -eq 2 ]; then log "agent refused its configuration (exit status 2, its reason is in agent.log): not restarting" 2>&3; break; fi
    if [ ! -d "$ROOT/databricks/driver" ]; then log "agent ended ($(describe_exit "$rc")) and $ROOT/databricks/driver is gone (the driver is shutting down): not restarting" 2>&3; break; fi
    if [ "$max" -eq 0 ]; then log "agent ended ($(describe_exit "$rc")) after ${ran} s; TRIMTAB_AGENT_MAX_RESTARTS=0: not restarting" 2>&3; break; fi
    [ "$ran" -ge 600 ] && delay="$base"
    kept=()
    for t in "${restarts[@]}"; do [ $((now - t)) -lt 3600 ] && kept+=("$t"); done
    restarts=("${kept[@]}")
    wait_s="$delay"
    if [ "${#restarts[@]}" -ge "$max" ]; then
      wait_s=$((restarts[0] + 3600 - now)); [ "$wait_s" -lt "$delay" ] && wait_s="$delay"
      log "agent ended ($(describe_exit "$rc")) after ${ran} s; it was restarted $max times in the last hour (TRIMTAB_AGENT_MAX_RESTARTS): next restart in ${wait_s} s" 2>&3
    else
      log "agent ended ($(describe_exit "$rc")) after ${ran} s; restarting it in ${wait_s} s (restart $((${#restarts[@]} + 1)) of at most $max in an hour)" 2>&3
    fi
    sleep "$wait_s" </dev/null 9>&- & wait $!
    [ -n "$stopping" ] && { log "supervisor signalled while waiting to restart the agent: not restarting" 2>&3; break; }
    [ -d "$ROOT/databricks/driver" ] || { log "$ROOT/databricks/driver is gone (the driver is shutting down): not restarting the agent" 2>&3; break; }
    restarts+=("$(date +%s)")
    delay=$((delay * 2)); [ "$delay" -gt 300 ] && delay=300
    log "restarting the agent" 2>&3
  done
  # agent.pid stays, naming the last agent (as it did before there was a supervisor: tools read
  # it after the agent stopped); a re-run of the script checks whether either pid is alive.
  [ "$(cat "$AGENT_HOME/supervisor.pid" 2>/dev/null)" = "$$" ] && rm -f "$AGENT_HOME/supervisor.pid"
  return 0
}

main() {
  if [ "${DB_IS_DRIVER:-}" != "TRUE" ]; then echo "trimtab-init: not the driver, nothing to do" >&2; return 0; fi
  mkdir -p "$AGENT_HOME/state" || { echo "trimtab-init: cannot create $AGENT_HOME" >&2; return 0; }
  if [ -z "${TRIMTAB_SERVER:-}" ]; then log "TRIMTAB_SERVER is not set: agent not started"; return 0; fi
  # Without a token every batch would be refused; an empty secret is easy to get (wrong scope,
  # Standard access mode hiding spark_env_vars), so it is reported here, where people look first.
  if [ -z "${TRIMTAB_TOKEN:-}" ]; then log "TRIMTAB_TOKEN is not set: agent not started"; return 0; fi
  # Where the agent reads and keeps its state: the cluster's own settings, else the defaults.
  local eventlog_dir="${TRIMTAB_EVENTLOG_DIR:-$EVENTLOG_DIR}" state_dir="${TRIMTAB_AGENT_STATE_DIR:-$AGENT_HOME/state}"
  # Why the lock cannot answer, when it cannot: then the pid files do (two starts at the same
  # moment could both pass them, which only the lock prevents).
  local no_lock="" said rc
  if ! command -v flock >/dev/null 2>&1; then
    # util-linux is on every Databricks image.
    no_lock="flock (util-linux) not found"
  elif ! { exec 9>>"$LOCK"; } 2>/dev/null; then
    no_lock="cannot open $LOCK"
  else
    # -E 75: flock's own errors have exit statuses of their own (ENOLCK is 71), and only the
    # conflict status means another holder. An NFS mount without lockd or a FUSE mount refuses
    # flock(2) outright; taking that for "held" started nothing, for the cluster's whole life.
    said="$(flock -n -E 75 9 2>&1)"; rc=$?
    if [ $rc -eq 75 ] || { [ $rc -eq 0 ] && lock_held "$state_dir/agent.lock"; }; then
      exec 9>&-
      log_running
      return 0
    fi
    if [ $rc -ne 0 ]; then
      exec 9>&-
      no_lock="$LOCK: this file system refuses locks (${said:+${said##*: }; }flock exit status $rc)"
    fi
  fi
  if [ -n "$no_lock" ]; then
    log "$no_lock: telling a running agent by its pid files instead (two starts at the same moment could both go ahead)"
    # The state directory may be on another file system, one that locks.
    if lock_held "$state_dir/agent.lock" || pid_files_say_running; then
      log_running
      return 0
    fi
  fi
  local bin=""
  if [ -n "${TRIMTAB_AGENT_BIN:-}" ] && [ -x "${TRIMTAB_AGENT_BIN}" ] && [ -f "${TRIMTAB_AGENT_BIN}" ]; then
    bin="$TRIMTAB_AGENT_BIN"
  else
    if [ -n "${TRIMTAB_AGENT_BIN:-}" ]; then log "TRIMTAB_AGENT_BIN=$TRIMTAB_AGENT_BIN is not executable; installing instead"; fi
    bin="$(install_agent 9>&-)" || return 0  # pip and what it starts must not hold the lock
  fi
  write_spark_conf || log "could not write Spark conf into $CONF_DIR (stage executor peaks will be missing)"
  mkdir -p "$eventlog_dir" 2>/dev/null
  # Detached: own session, no terminal, stdin closed; Databricks must not wait for it.
  local launcher=()
  command -v setsid >/dev/null 2>&1 && launcher=(setsid)
  # The Spark UI's port is known only once the driver is up: the agent reads it
  # from Databricks' driver-env.sh when that appears (REST gauges are optional).
  # gRPC's C core would log every reconnect attempt into agent.log; the agent reports failures itself.
  # (No comment lines inside the continued command below: a comment ends it, and the
  # assignments before it would never reach the agent.)
  # Only what this start writes is quoted if the agent exits at once: agent.log is kept across
  # starts, and an agent killed before writing anything must not be blamed on an old line.
  # The supervisor is this script's own functions run by a new bash (Databricks fetches the
  # script alone and may not keep it), so nothing else has to be installed for it.
  deliver_agent_log
  local log_size; log_size="$(stat -c %s "$AGENT_HOME/agent.log" 2>/dev/null || echo 0)"
  rm -f "$AGENT_HOME/agent.pid" "$AGENT_HOME/supervisor.pid"
  TRIMTAB_DRIVER_ENV_FILE="${TRIMTAB_DRIVER_ENV_FILE:-${TRIMTAB_FS_ROOT:-}/tmp/driver-env.sh}" \
  GRPC_VERBOSITY="${GRPC_VERBOSITY:-ERROR}" TRIMTAB_TOKEN="${TRIMTAB_TOKEN:-}" \
  AGENT_HOME="$AGENT_HOME" ROOT="$ROOT" EVENTLOG_DIR="$EVENTLOG_DIR" \
  nohup "${launcher[@]}" bash -c "$(declare -f log alive describe_exit supervise); supervise \"\$1\"" \
    trimtab-supervisor "$bin" >>"$AGENT_HOME/agent.log" 2>&1 </dev/null &
  local sup=$!
  exec 9>&-  # the supervisor holds the lock now (fd 9 inherited), for as long as it lives
  echo "$sup" >"$AGENT_HOME/supervisor.pid"
  # A bad setting (exit 2) or another agent on the state directory (exit 1) makes the agent exit
  # at once, its reason in agent.log: say so here, where people look first, rather than
  # "started", and stop the supervisor (restarting cannot help). This is a quick check for
  # immediate configuration errors, not a health check: an agent that fails later (or starts
  # slower than this on a busy driver) is restarted by the supervisor, which logs it here and in
  # agent.log. One second is the trade-off between catching those errors and delaying the
  # cluster's start, which waits for this script.
  sleep 1
  local pid; pid="$(cat "$AGENT_HOME/agent.pid" 2>/dev/null)"
  if alive "$pid" || { [ -z "$pid" ] && alive "$sup"; }; then
    log "agent started (pid ${pid:-starting}, supervisor pid $sup) following $eventlog_dir, state in $state_dir, sending to $TRIMTAB_SERVER"
    return 0
  fi
  kill -TERM "$sup" 2>/dev/null
  # Let it log its last line first, so this script's verdict is the last one in init.log.
  local n=0; while alive "$sup" && [ $n -lt 20 ]; do sleep 0.1; n=$((n + 1)); done
  # The supervisor's own lines (trimtab-init: …) are not the agent's reason.
  local said; said="$(tail -c +"$((log_size + 1))" "$AGENT_HOME/agent.log" 2>/dev/null | grep -v -e '^[[:space:]]*$' -e '^trimtab-init: ' | tail -n 1)"
  log "agent exited at once: ${said:-(it wrote nothing; exit status unknown)} (see $AGENT_HOME/agent.log)"
  rm -f "$AGENT_HOME/agent.pid" "$AGENT_HOME/supervisor.pid"
  return 0
}

main "$@"
exit 0
