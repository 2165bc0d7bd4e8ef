#!/usr/bin/env bash
# End-to-end tests of the built paygate binary with independent clients (clients/e2e.mjs:
# standardwebhooks, graphql-ws), in two scenarios:
#   a. embedded: one `paygate all` (SQLite, in-process queue and simulator);
#   b. PostgreSQL + Redis: migrate, merchant create, simulator, worker and two `paygate serve`,
#      with the subscriptions on the second serve and the mutations on the first.
#
# Run from anywhere after `cargo build` (or `cargo test`) made target/debug/paygate:
#   bash clients/run-e2e.sh
# Needs node + npm (runs `npm ci` in clients/ if node_modules is missing), PostgreSQL on
# 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379. Every process it starts is
# stopped on exit. The last line is the combined `N passed, M failed`; the exit status is 1 if
# anything failed.
#
# Settings: PAYGATE_BIN (default target/debug/paygate), E2E_PG_HOST/E2E_PG_PORT/E2E_PG_USER
# (default 127.0.0.1/5432/postgres), E2E_REDIS_URL (default redis://127.0.0.1:6379),
# E2E_KEEP_TMP=1 keeps the temp dirs (logs, SQLite files).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIENTS="$ROOT/clients"
BIN="${PAYGATE_BIN:-$ROOT/target/debug/paygate}"
PG_HOST="${E2E_PG_HOST:-127.0.0.1}"
PG_PORT="${E2E_PG_PORT:-5432}"
PG_USER="${E2E_PG_USER:-postgres}"
REDIS_URL="${E2E_REDIS_URL:-redis://127.0.0.1:6379}"

RUN_NAME=run-e2e
# shellcheck source=clients/lib.sh
. "$CLIENTS/lib.sh"

# --- prerequisites: fail loudly, never skip --------------------------------------------------
command -v node >/dev/null 2>&1 || fatal "node is not installed (Node >= 18 is required)"
command -v npm >/dev/null 2>&1 || fatal "npm is not installed"
command -v psql >/dev/null 2>&1 || fatal "psql is not installed (needed for the PostgreSQL scenario)"
[ -x "$BIN" ] || fatal "$BIN does not exist: run \`cargo build\` first"

# Settings from the caller's environment must not leak into the processes started here.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^PAYGATE_' || true)

if [ ! -d "$CLIENTS/node_modules" ]; then
  echo "run-e2e: npm ci in clients/"
  (cd "$CLIENTS" && npm ci --no-audit --no-fund) || fatal "npm ci failed in clients/"
fi

# --- process and temp dir bookkeeping --------------------------------------------------------
TMPDIRS=()
DROP_DB=""   # the PostgreSQL database to drop
REDIS_PREFIX=""

drop_database() {
  [ -n "$DROP_DB" ] || return 0
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -qc \
    "DROP DATABASE IF EXISTS \"$DROP_DB\" WITH (FORCE)" >/dev/null 2>&1 \
    || echo "run-e2e: could not drop database $DROP_DB (ignored)" >&2
  DROP_DB=""
}

clean_redis() {
  [ -n "$REDIS_PREFIX" ] || return 0
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -u "$REDIS_URL" --scan --pattern "${REDIS_PREFIX}*" 2>/dev/null \
      | xargs -r -n 100 redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  fi
  REDIS_PREFIX=""
}

cleanup() {
  stop_processes
  drop_database
  clean_redis
  if [ "${E2E_KEEP_TMP:-}" != "1" ] && [ "${#TMPDIRS[@]}" -gt 0 ]; then
    rm -rf "${TMPDIRS[@]}"
  fi
  TMPDIRS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers -----------------------------------------------------------------------------------
random_hex() { # random_hex BYTES
  node -e 'console.log(require("crypto").randomBytes(Number(process.argv[1])).toString("hex"))' "$1"
}

show_logs() { # show_logs DIR: the tail of every log in DIR, to help after a failure
  local f
  for f in "$1"/*.log; do
    [ -f "$f" ] || continue
    echo "----- tail of $(basename "$f") -----"
    tail -n 60 "$f"
  done
}

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARIES=()

# run_e2e SCENARIO A B KEY DIR: runs e2e.mjs, prints its output, adds its counts to the totals.
run_e2e() {
  local scenario=$1 a=$2 b=$3 key=$4 dir=$5 rc=0 p f
  echo "run-e2e: [$scenario] node clients/e2e.mjs (A=$a, B=$b)"
  env E2E_API_A="$a" E2E_API_B="$b" E2E_KEY="$key" node "$CLIENTS/e2e.mjs" 2>&1 \
    | tee "$dir/e2e.out" || rc=$?
  count_results "$dir/e2e.out" "$rc" "[$scenario] e2e.mjs"
  p=$PASSED f=$FAILED
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  TOTAL_FAILED=$((TOTAL_FAILED + f))
  SUMMARIES+=("$scenario: $p passed, $f failed")
  if [ "$f" -ne 0 ]; then
    show_logs "$dir"
  fi
}

# setup_failed SCENARIO REASON DIR
setup_failed() {
  echo "not ok - [$1] setup: $2"
  TOTAL_FAILED=$((TOTAL_FAILED + 1))
  SUMMARIES+=("$1: setup failed ($2)")
  [ -n "${3:-}" ] && show_logs "$3"
  return 0
}

# --- scenario a: embedded ----------------------------------------------------------------------
scenario_embedded() {
  local s=embedded dir ports api_port sim_port base key pid i
  echo
  echo "=== scenario $s: paygate all (SQLite, in-process queue and simulator) ==="
  dir=$(mktemp -d -t paygate-e2e-embedded.XXXXXX) || { setup_failed $s "mktemp"; return; }
  TMPDIRS+=("$dir")
  ports=$(free_ports 2) || { setup_failed $s "no free ports"; return; }
  read -r api_port sim_port <<<"$ports"
  base="http://127.0.0.1:$api_port"

  cd "$dir" || { setup_failed $s "cd $dir"; return; } # paygate all makes its files here
  start "paygate all" "$dir/all.log" \
    PAYGATE_ADDR="127.0.0.1:$api_port" \
    PAYGATE_SIMULATOR_ADDR="127.0.0.1:$sim_port" \
    PAYGATE_WEBHOOK_ALLOW_PRIVATE=true \
    PAYGATE_WEBHOOK_RETRY_SCHEDULE=1s,1s,1s \
    "$BIN" all
  pid=${PIDS[-1]}
  cd "$ROOT"

  wait_healthy "$base" "$pid" "$dir/all.log" || { setup_failed $s "paygate all is not healthy" "$dir"; return; }
  key=""
  for i in $(seq 1 50); do
    key=$(sed -n 's/^  demo test key: \(sk_test_[^[:space:]]*\).*$/\1/p' "$dir/all.log" | head -n 1)
    [ -n "$key" ] && break
    sleep 0.1
  done
  [ -n "$key" ] || { setup_failed $s "no '  demo test key: sk_test_…' line in the output" "$dir"; return; }

  run_e2e $s "$base" "$base" "$key" "$dir"
  stop_processes
}

# --- scenario b: PostgreSQL + Redis, two serve processes ------------------------------------------
scenario_postgres() {
  local s=postgres-redis dir ports a_port b_port sim_port rnd db key json
  local pid_a pid_b
  echo
  echo "=== scenario $s: migrate, simulator, worker, two serve (PostgreSQL + Redis) ==="
  dir=$(mktemp -d -t paygate-e2e-pg.XXXXXX) || { setup_failed $s "mktemp"; return; }
  TMPDIRS+=("$dir")
  ports=$(free_ports 3) || { setup_failed $s "no free ports"; return; }
  read -r a_port b_port sim_port <<<"$ports"
  rnd=$(random_hex 6) || { setup_failed $s "random"; return; }
  db="paygate_e2e_$rnd"

  psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -qc \
    "CREATE DATABASE \"$db\"" >"$dir/psql.log" 2>&1 \
    || { setup_failed $s "CREATE DATABASE $db failed (is PostgreSQL up on $PG_HOST:$PG_PORT?)" "$dir"; return; }
  DROP_DB=$db
  REDIS_PREFIX="e2e-$rnd"

  local -a ENV=(
    PAYGATE_DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$db"
    PAYGATE_REDIS_URL="$REDIS_URL"
    PAYGATE_REDIS_PREFIX="$REDIS_PREFIX"
    PAYGATE_MASTER_KEY="$(random_hex 32)"
    PAYGATE_MASTER_KEY_FILE="$dir/master.key"
    PAYGATE_JOB_STORE="$dir/jobs.db"
    PAYGATE_WEBHOOK_ALLOW_PRIVATE=true
    PAYGATE_WEBHOOK_RETRY_SCHEDULE=1s,1s,1s
    PAYGATE_SIMULATOR_URL="http://127.0.0.1:$sim_port"
    PAYGATE_SIMULATOR_ADDR="127.0.0.1:$sim_port"
  )

  (cd "$dir" && env "${ENV[@]}" "$BIN" migrate) >"$dir/migrate.log" 2>&1 \
    || { setup_failed $s "paygate migrate failed" "$dir"; return; }
  json=$(cd "$dir" && env "${ENV[@]}" "$BIN" merchant create --name E2E --json 2>"$dir/merchant.log") \
    || { setup_failed $s "paygate merchant create failed" "$dir"; return; }
  key=$(printf '%s' "$json" | node -e '
    let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
      const k = JSON.parse(s).testKey;
      if (typeof k !== "string" || !k.startsWith("sk_test_")) process.exit(1);
      console.log(k);
    });') || { setup_failed $s "no testKey in merchant create's JSON: $json" "$dir"; return; }

  cd "$dir" || { setup_failed $s "cd $dir"; return; }
  start "paygate simulator" "$dir/simulator.log" "${ENV[@]}" "$BIN" simulator
  start "paygate worker" "$dir/worker.log" "${ENV[@]}" "$BIN" worker
  start "paygate serve A" "$dir/serve-a.log" "${ENV[@]}" PAYGATE_ADDR="127.0.0.1:$a_port" "$BIN" serve
  pid_a=${PIDS[-1]}
  start "paygate serve B" "$dir/serve-b.log" "${ENV[@]}" PAYGATE_ADDR="127.0.0.1:$b_port" "$BIN" serve
  pid_b=${PIDS[-1]}
  cd "$ROOT"

  wait_healthy "http://127.0.0.1:$a_port" "$pid_a" "$dir/serve-a.log" \
    || { setup_failed $s "serve A is not healthy" "$dir"; return; }
  wait_healthy "http://127.0.0.1:$b_port" "$pid_b" "$dir/serve-b.log" \
    || { setup_failed $s "serve B is not healthy" "$dir"; return; }
  local pid
  for pid in "${PIDS[@]}"; do
    alive "$pid" || { setup_failed $s "a process (pid $pid) exited early" "$dir"; return; }
  done

  run_e2e $s "http://127.0.0.1:$a_port" "http://127.0.0.1:$b_port" "$key" "$dir"
  stop_processes
  drop_database
  clean_redis
}

scenario_embedded
scenario_postgres

cleanup
echo
echo "=== end-to-end summary ==="
for line in "${SUMMARIES[@]}"; do echo "  $line"; done
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" -eq 0 ]
