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

RUN_NAME=run-browser
# shellcheck source=clients/lib.sh
. "$CLIENTS/lib.sh"

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
TMPDIR_RUN=""

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
count_results "$TMPDIR_RUN/browser.out" "$rc" browser.mjs
passed=$PASSED failed=$FAILED
if [ "$failed" -ne 0 ]; then
  echo "----- tail of all.log -----"
  tail -n 60 "$TMPDIR_RUN/all.log"
fi

stop_processes
cleanup
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
