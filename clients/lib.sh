# Helpers shared by run-e2e.sh and run-browser.sh: process bookkeeping, free ports, health
# checks and the `N passed, M failed` summary. Source it after setting RUN_NAME (the prefix of
# this script's messages).

PIDS=() # processes started by `start`, stopped by `stop_processes`

fatal() {
  echo "$RUN_NAME: FATAL: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

stop_processes() {
  local pid i
  [ "${#PIDS[@]}" -eq 0 ] && return 0
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for i in $(seq 1 100); do # up to 10 s for a graceful shutdown
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "$RUN_NAME: pid $pid did not stop after SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

# free_ports N: N distinct free TCP ports on 127.0.0.1, space-separated.
free_ports() {
  node -e '
    const net = require("net");
    const n = Number(process.argv[1]);
    const servers = [];
    let ready = 0;
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      s.listen(0, "127.0.0.1", () => {
        if (++ready === n) {
          console.log(servers.map((x) => x.address().port).join(" "));
          servers.forEach((x) => x.close());
        }
      });
    }' "$1"
}

# start NAME LOG ENV=… CMD…: starts a process in the background, records its pid in PIDS.
start() {
  local name=$1 log=$2
  shift 2
  env "$@" >"$log" 2>&1 &
  PIDS+=("$!")
  echo "$RUN_NAME: started $name (pid $!, log $log)"
}

alive() { kill -0 "$1" 2>/dev/null; }

healthy() { # healthy URL
  node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
      .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));' "$1"
}

# wait_healthy BASE_URL PID LOG: up to 60 s for GET BASE_URL/healthz to answer 2xx.
wait_healthy() {
  local base=$1 pid=$2 log=$3 i
  for i in $(seq 1 120); do
    if ! alive "$pid"; then
      echo "$RUN_NAME: the process behind $base (pid $pid) exited; log tail:" >&2
      tail -n 40 "$log" >&2 || true
      return 1
    fi
    healthy "$base/healthz" && return 0
    sleep 0.5
  done
  echo "$RUN_NAME: $base/healthz did not answer 2xx within 60 s; log tail:" >&2
  tail -n 40 "$log" >&2 || true
  return 1
}

# count_results OUTPUT_FILE EXIT_STATUS LABEL: sets PASSED and FAILED from the last
# `N passed, M failed` line of a test run's output; a run that exited non-zero without
# counting a failure counts as one.
count_results() {
  local summary
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -n 1 || true)
  if [ -n "$summary" ]; then
    PASSED=${summary%% passed*}
    FAILED=${summary#*, }
    FAILED=${FAILED%% failed*}
  else
    PASSED=0 FAILED=0
  fi
  if [ "$2" -ne 0 ] && [ "$FAILED" -eq 0 ]; then
    echo "not ok - $3 exited with status $2"
    FAILED=$((FAILED + 1))
  fi
}
