#!/usr/bin/env bash
# Browser tests of the hosted checkout pages (/pay/{code}): headless Chromium (Debian's
# `chromium`) driven by playwright-core from clients/browser.mjs, against one `paygate all`
# (SQLite, in-process queue and acquirer simulator) started here on free ports.
#
# Run from anywhere after `cargo build` (or `cargo test`) made target/debug/paygate:
#   bash clients/run-browser.sh
# Installs chromium + chromium-driver with apt-get when /usr/bin/chromium is missing (fails if
# that fails), runs `npm ci` in clients/ when playwright-core is not installed. Every process it
# starts is stopped on exit. It writes docs/checkout.png, docs/checkout-errors.png and
# docs/confirm.png (the README's screenshots). `paygate all` runs its schedule every 200 ms
# (PAYGATE_SCHEDULE_INTERVAL_MS) so a due date passes within the test. The last line is
# `N passed, M failed`; the exit status is 1 if anything failed.
#
# Settings: PAYGATE_BIN (default target/debug/paygate), E2E_CHROMIUM (default /usr/bin/chromium),
# E2E_KEEP_TMP=1 keeps the temp dir (paygate log, SQLite files).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIENTS="$ROOT/clients"
BIN="${PAYGATE_BIN:-$ROOT/target/debug/paygate}"
CHROMIUM="${E2E_CHROMIUM:-/usr/bin/chromium}"

fatal() {
  echo "run-browser: FATAL: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

# --- prerequisites: fail loudly, never skip --------------------------------------------------
command -v node >/dev/null 2>&1 || fatal "node is not installed (Node >= 18 is required)"
command -v npm >/dev/null 2>&1 || fatal "npm is not installed"
[ -x "$BIN" ] || fatal "$BIN does not exist: run \`cargo build\` first"

if [ ! -x "$CHROMIUM" ]; then
  [ "$CHROMIUM" = /usr/bin/chromium ] || fatal "E2E_CHROMIUM=$CHROMIUM is not an executable"
  command -v apt-get >/dev/null 2>&1 \
    || fatal "/usr/bin/chromium is missing and there is no apt-get to install it"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || fatal "/usr/bin/chromium is missing; installing it needs root or sudo"
    SUDO=sudo
  fi
  echo "run-browser: /usr/bin/chromium is missing; installing chromium and chromium-driver"
  $SUDO apt-get update || fatal "apt-get update failed"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver \
    || fatal "apt-get install chromium chromium-driver failed"
  [ -x /usr/bin/chromium ] || fatal "apt-get installed chromium but /usr/bin/chromium is still missing"
fi
echo "run-browser: $("$CHROMIUM" --version 2>/dev/null | head -n 1)"

# Settings from the caller's environment must not leak into the processes started here.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^PAYGATE_' || true)

if [ ! -d "$CLIENTS/node_modules/playwright-core" ]; then
  echo "run-browser: npm ci in clients/"
  (cd "$CLIENTS" && npm ci --no-audit --no-fund) || fatal "npm ci failed in clients/"
fi

# --- process and temp dir bookkeeping --------------------------------------------------------
PIDS=()
TMPDIR_RUN=""

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
      echo "run-browser: pid $pid did not stop after SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

cleanup() {
  stop_processes
  if [ -n "$TMPDIR_RUN" ] && [ "${E2E_KEEP_TMP:-}" != "1" ]; then
    rm -rf "$TMPDIR_RUN"
  fi
  TMPDIR_RUN=""
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers (as in run-e2e.sh) ----------------------------------------------------------------
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
  echo "run-browser: started $name (pid $!, log $log)"
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
      echo "run-browser: the process behind $base (pid $pid) exited; log tail:" >&2
      tail -n 40 "$log" >&2 || true
      return 1
    fi
    healthy "$base/healthz" && return 0
    sleep 0.5
  done
  echo "run-browser: $base/healthz did not answer 2xx within 60 s; log tail:" >&2
  tail -n 40 "$log" >&2 || true
  return 1
}

setup_failed() { # setup_failed REASON
  echo "not ok - setup: $1"
  if [ -n "$TMPDIR_RUN" ] && [ -f "$TMPDIR_RUN/all.log" ]; then
    echo "----- tail of all.log -----"
    tail -n 60 "$TMPDIR_RUN/all.log"
  fi
  echo "0 passed, 1 failed"
  exit 1
}

# --- paygate all ---------------------------------------------------------------------------------
echo
echo "=== browser tests: paygate all (SQLite, in-process queue and simulator) + headless Chromium ==="
TMPDIR_RUN=$(mktemp -d -t paygate-browser.XXXXXX) || setup_failed "mktemp"
ports=$(free_ports 2) || setup_failed "no free ports"
read -r api_port sim_port <<<"$ports"
base="http://127.0.0.1:$api_port"

cd "$TMPDIR_RUN" # paygate all makes its files here
start "paygate all" "$TMPDIR_RUN/all.log" \
  PAYGATE_ADDR="127.0.0.1:$api_port" \
  PAYGATE_SIMULATOR_ADDR="127.0.0.1:$sim_port" \
  PAYGATE_WEBHOOK_ALLOW_PRIVATE=true \
  PAYGATE_SCHEDULE_INTERVAL_MS=200 \
  "$BIN" all
pid=${PIDS[-1]}
cd "$ROOT"

wait_healthy "$base" "$pid" "$TMPDIR_RUN/all.log" || setup_failed "paygate all is not healthy"
key=""
for i in $(seq 1 50); do
  key=$(sed -n 's/^  demo test key: \(sk_test_[^[:space:]]*\).*$/\1/p' "$TMPDIR_RUN/all.log" | head -n 1)
  [ -n "$key" ] && break
  sleep 0.1
done
[ -n "$key" ] || setup_failed "no '  demo test key: sk_test_…' line in the output"

# --- the tests -------------------------------------------------------------------------------------
echo "run-browser: node clients/browser.mjs (API $base)"
rc=0
env E2E_API="$base" E2E_KEY="$key" E2E_CHROMIUM="$CHROMIUM" node "$CLIENTS/browser.mjs" 2>&1 \
  | tee "$TMPDIR_RUN/browser.out" || rc=$?
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$TMPDIR_RUN/browser.out" | tail -n 1 || true)
if [ -n "$summary" ]; then
  passed=${summary%% passed*}
  failed=${summary#*, }
  failed=${failed%% failed*}
else
  passed=0 failed=0
fi
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "not ok - browser.mjs exited with status $rc"
  failed=$((failed + 1))
fi
if [ "$failed" -ne 0 ]; then
  echo "----- tail of all.log -----"
  tail -n 60 "$TMPDIR_RUN/all.log"
fi

stop_processes
cleanup
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
