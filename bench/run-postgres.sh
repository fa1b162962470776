#!/usr/bin/env bash
# The end-to-end benchmark of bench/run.sh on the PostgreSQL store: starts a durable
# throwaway PostgreSQL cluster (fsync on, Debian's defaults otherwise) and NODES suanlid
# nodes sharing it, spreads the provider streams over the nodes, and writes
# bench/results/RESULTS-postgres.md.
#
#   bench/run-postgres.sh                    # 2 nodes, 200,000 records
#   NODES=1 RECORDS=100000 bench/run-postgres.sh
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-target}
. bench/common.sh

RECORDS=${RECORDS:-200000}
HALF_RECORDS=${HALF_RECORDS:-$((RECORDS / 4))}
NODES=${NODES:-2}
PROVIDERS=${PROVIDERS:-8}
OUT=${OUT:-bench/results/RESULTS-postgres.md}

bash scripts/install-postgres.sh >/dev/null
cargo build --release -q -p suanli-server --bin suanlid -p suanli-bench --bin suanli-load
PGBIN=${SUANLI_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}

work=$(mktemp -d)
pids=()
runas=()
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$work"; runas=(runuser -u postgres --); fi
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "${runas[@]}" "$PGBIN/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${runas[@]}" "$PGBIN/initdb" -D "$work/pg" -A trust -U suanli -E UTF8 --locale=C >/dev/null
"${runas[@]}" "$PGBIN/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p $pgport -k $work -c listen_addresses=127.0.0.1 -c shared_buffers=256MB" start >/dev/null
url="postgres://suanli@127.0.0.1:$pgport/postgres"

start_node() { # $1: node number
  local dir="$work/node$1" port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$dir"
  if [ "$1" != 1 ]; then cp "$work/node1/"{admin,finance,ledger}.key "$dir/"; fi
  "$T"/release/suanlid --data-dir "$dir" --store "$url" --listen "127.0.0.1:$port" --web-listen 127.0.0.1:0 2>"$dir/server.log" &
  pids+=($!)
  wait_listening "$dir/server.log"
  servers="${servers:+$servers,}http://127.0.0.1:$port"
}
servers=""
for n in $(seq "$NODES"); do start_node "$n"; done

load() {
  "$T"/release/suanli-load --server "$servers" --server-pid "${pids[0]}" \
    --data-dir "$work/pg" --providers "$PROVIDERS" "$@"
}
full_and_half_speed "$work/node1/admin.key" " over $NODES node(s)"

mkdir -p "$(dirname "$OUT")"
python3 bench/results_table.py "$work/max.json" "$work/half.json" "$OUT" \
  "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') store (fsync on), $NODES suanlid node(s) on one database. Rerun: \`bench/run-postgres.sh\`." \
  "≥ 30,000 (two nodes)"
