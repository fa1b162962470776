# Shared by the scripts in bench/ (sourced). The caller defines
# `load` (suanli-load with its servers and data directory), `work`, RECORDS and HALF_RECORDS.

# Waits until a server's log says it listens (20 s at most); prints the log and fails if not.
wait_listening() { # $1: the server's stderr log
  for _ in $(seq 200); do grep -q "listening on" "$1" 2>/dev/null && break; sleep 0.1; done
  grep -q "listening on" "$1" || { cat "$1"; exit 1; }
}

# Starts a fresh suanlid from the build directory $T on free ports, its data in $work/data
# and its log in $work/server.log; sets `server` (its pid) and `grpc` (its host:port).
start_server() {
  "$T/suanlid" --data-dir "$work/data" --listen 127.0.0.1:0 --web-listen 127.0.0.1:0 2>"$work/server.log" &
  server=$!
  wait_listening "$work/server.log"
  grpc=$(grep -o "listening on [0-9.:]*" "$work/server.log" | head -1 | grep -o "[0-9.]*:[0-9]*$")
}

# The two runs every benchmark makes: RECORDS as fast as the ledger acknowledges them, then
# HALF_RECORDS at half that rate for latency; results in $work/max.json and $work/half.json.
full_and_half_speed() { # $1: the admin key, $2: what the full-speed run is over
  echo "== full speed: $RECORDS records$2"
  load --admin-key "$1" --records "$RECORDS" --run 1 --json-out "$work/max.json" | tee "$work/max.txt"
  local max_rate half
  max_rate=$(python3 -c "import json;print(int(json.load(open('$work/max.json'))['records_per_s']))")
  half=$((max_rate / 2))
  echo "== half speed: $HALF_RECORDS records at $half records/s"
  load --no-setup --records "$HALF_RECORDS" --rate "$half" --run 2 --json-out "$work/half.json" | tee "$work/half.txt"
}

# User + system clock ticks a process has used so far (fails if it is gone).
ticks() { # $1: pid
  local s
  s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  awk '{print $12 + $13}' <<<"$s"
}
