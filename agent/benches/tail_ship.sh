#!/usr/bin/env bash
# Tail -> parse -> ship benchmark: lookout-agent vs rsyslog (imfile -> omfwd TCP) on the same
# file of ~250-byte JSON lines, one after the other in the same run.
#
#   cargo build --release -p agent && agent/benches/tail_ship.sh [LINES]   # default 5,000,000
#   COMPRESSION=zstd agent/benches/tail_ship.sh     # the agent's body compression (default gzip)
#   AGENT_BEFORE=/path/to/old/lookout-agent agent/benches/tail_ship.sh   # an older build too
#   SINK_EXTRA='batch = { max_events = 1000 }' agent/benches/tail_ship.sh  # more sink settings
#
# Reports lines/s, MiB/s, CPU seconds per million lines (user+sys of the shipper process) and
# peak RSS (VmHWM). The agent parses every line as JSON and ships OTLP protobuf (gzip) over HTTP
# to a local sink that answers 200 without decoding; rsyslog forwards raw lines over TCP
# (it does not parse them). Needs: python3, rsyslog (`apt-get install -y rsyslog`).
set -euo pipefail
LINES=${1:-5000000}
COMPRESSION=${COMPRESSION:-gzip}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
AGENT=${AGENT:-$TARGET/release/lookout-agent}
W=$(mktemp -d /tmp/bench-agent.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$W/logs"
python3 - "$W/logs/app.log" "$LINES" <<'PY'
import json, sys, random
path, n = sys.argv[1], int(sys.argv[2])
lv = ["info"] * 8 + ["warn", "error"]
with open(path, "w") as f:
    for i in range(n):
        f.write(json.dumps({"timestamp": "2026-11-22T10:00:00.%06dZ" % (i % 1000000), "level": lv[i % 10], "service": "checkout",
            "host": "web-1", "message": "GET /api/v1/orders/%d completed" % i, "http": {"method": "GET", "status": 200 + i % 5,
            "latency_ms": i % 997}, "trace_id": "%032x" % random.getrandbits(128), "user": "u%05d" % (i % 50000)}, separators=(",", ":")) + "\n")
PY
BYTES=$(stat -c %s "$W/logs/app.log")
echo "file: $LINES lines, $BYTES bytes ($((BYTES / LINES)) bytes/line)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_port PORT: until something listens there (a sink starting on a busy machine)
wait_port() { for _ in $(seq 1 200); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2).close()" 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }
cpu_secs() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }
peak_kib() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }
report() { # name secs cpu rss_kib
  awk -v n="$1" -v s="$2" -v c="$3" -v r="$4" -v l="$LINES" -v b="$BYTES" 'BEGIN{printf "%-14s %10.0f lines/s %8.1f MiB/s %8.2f CPU s/M lines %7.1f MiB peak RSS  (%.2f s)\n", n, l/s, b/s/1048576, c/(l/1e6), r/1024, s}'
}

# --- lookout-agent ---------------------------------------------------------------------------
# run_agent LABEL BINARY: one agent run on the file (fresh data directory, fresh sink)
run_agent() {
local LABEL=$1 BIN=$2
HP=$(free_port); AP=$(free_port)
python3 "$HERE/sink.py" http "$HP" & SINK=$!
wait_port "$HP"
rm -rf "$W/agent-data"
cat > "$W/agent.toml" <<TOML
data_dir = "$W/agent-data"
listen = "127.0.0.1:$AP"
[sources.app]
type = "file"
include = ["$W/logs/*.log"]
[sinks.out]
type = "lookout"
inputs = ["app"]
endpoint = "http://127.0.0.1:$HP"
compression = "$COMPRESSION"
${SINK_EXTRA:-}
TOML
sleep 0.3
START=$(date +%s.%N)
"$BIN" run --config "$W/agent.toml" 2>"$W/agent.log" & PID=$!
for _ in $(seq 1 6000); do
  N=$(curl -s "http://127.0.0.1:$AP/metrics" | awk '/^lookout_agent_events_out_total\{component="out"/{print $2}')
  [ "${N:-0}" -ge "$LINES" ] 2>/dev/null && break
  sleep 0.05
done
END=$(date +%s.%N)
report "$LABEL/$COMPRESSION" "$(echo "$END - $START" | bc)" "$(cpu_secs $PID)" "$(peak_kib $PID)"
# idle CPU: 10 s with nothing to read
C0=$(cpu_secs $PID); sleep 10; C1=$(cpu_secs $PID)
echo "$LABEL idle CPU: $(echo "scale=3; ($C1 - $C0) * 100 / 10" | bc)%"
kill $PID; wait $PID 2>/dev/null || true; kill $SINK
}
run_agent agent "$AGENT"
# AGENT_BEFORE=path/to/older/lookout-agent: the same run for an older build, for a same-run ratio
if [ -n "${AGENT_BEFORE:-}" ]; then run_agent before "$AGENT_BEFORE"; fi

# --- rsyslog imfile -> omfwd TCP ------------------------------------------------------------
TP=$(free_port)
python3 "$HERE/sink.py" tcp "$TP" "$W/tcp.count" & TSINK=$!
wait_port "$TP"
mkdir -p "$W/rsyslog-work"
cat > "$W/rsyslog.conf" <<CONF
global(workDirectory="$W/rsyslog-work")
module(load="imfile")
template(name="raw" type="string" string="%msg%\n")
input(type="imfile" File="$W/logs/app.log" Tag="app" ruleset="fwd")
ruleset(name="fwd") {
  action(type="omfwd" target="127.0.0.1" port="$TP" protocol="tcp" template="raw"
         queue.type="LinkedList" queue.size="100000")
}
CONF
sleep 0.3
START=$(date +%s.%N)
/usr/sbin/rsyslogd -n -f "$W/rsyslog.conf" -i "$W/rsyslog.pid" 2>"$W/rsyslog.log" & RPID=$!
for _ in $(seq 1 12000); do
  N=$(cat "$W/tcp.count" 2>/dev/null || echo 0)
  [ "${N:-0}" -ge "$LINES" ] 2>/dev/null && break
  sleep 0.05
done
END=$(date +%s.%N)
report rsyslog "$(echo "$END - $START" | bc)" "$(cpu_secs $RPID)" "$(peak_kib $RPID)"
kill $RPID; wait $RPID 2>/dev/null || true; kill $TSINK
