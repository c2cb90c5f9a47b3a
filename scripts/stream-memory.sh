#!/usr/bin/env bash
# Bounded memory on plain proxy routes: 1 GiB down and 1 GiB up (Content-Length and chunked) through a
# release fanout on loopback, plus a rate-limited reader, sampling fanout's RSS and CPU time.
# Usage: scripts/stream-memory.sh [SIZE_MIB]   (default 1024). Everything stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
BYTES=$((SIZE_MIB * 1024 * 1024))
UP_PORT=${UP_PORT:-18471}
PORT=${PORT:-18470}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

swift build -c release --product fanout >/dev/null
BIN=$(swift build -c release --show-bin-path)/fanout

cat >"$WORK/stream.conf" <<CONF
listen 127.0.0.1:$PORT
workers 1
access_log off
upstream big {
    url http://127.0.0.1:$UP_PORT
    max_connections 16
}
route GET /download {
    proxy big
    timeout 10s
}
route PUT,POST /upload {
    proxy big /upload
    max_body 4g
    timeout 10s
}
CONF

python3 scripts/stream_upstream.py "$UP_PORT" & PIDS+=($!)
"$BIN" serve -c "$WORK/stream.conf" & FANOUT=$!; PIDS+=($FANOUT)
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/download?bytes=1" && break; sleep 0.1; done

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$FANOUT/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$FANOUT/stat"; }
TICK=$(getconf CLK_TCK)

# run NAME CMD...: runs the client command while sampling fanout's RSS every 50 ms.
run() {
    local name=$1; shift
    local base peak cpu0 cpu1 start end rss
    base=$(rss_kib); peak=$base; cpu0=$(cpu_ticks); start=$(date +%s.%N)
    "$@" >"$WORK/out" 2>&1 & local client=$!
    while kill -0 "$client" 2>/dev/null; do
        rss=$(rss_kib); [ "$rss" -gt "$peak" ] && peak=$rss
        sleep 0.05
    done
    wait "$client" || { echo "$name: client failed: $(cat "$WORK/out")"; exit 1; }
    end=$(date +%s.%N); cpu1=$(cpu_ticks)
    awk -v n="$name" -v b="$base" -v p="$peak" -v s="$start" -v e="$end" -v c0="$cpu0" -v c1="$cpu1" -v t="$TICK" \
        -v out="$(tr -d '\n' <"$WORK/out")" \
        'BEGIN { printf "| %s | %.1f s | %.1f MiB | %.1f MiB | %.2f s | %s |\n", n, e - s, b / 1024, (p - b) / 1024, (c1 - c0) / t, out }'
}

truncate -s "$BYTES" "$WORK/upload.bin"
echo "| scenario ($SIZE_MIB MiB) | wall | fanout RSS before | RSS growth (peak) | fanout CPU | client saw |"
echo "| --- | --- | --- | --- | --- | --- |"
run "download" curl -fsS -o /dev/null -w '%{size_download} bytes' "http://127.0.0.1:$PORT/download?bytes=$BYTES"
run "upload, Content-Length" curl -fsS -T "$WORK/upload.bin" "http://127.0.0.1:$PORT/upload"
run "upload, chunked" sh -c "head -c $BYTES /dev/zero | curl -fsS -T - http://127.0.0.1:$PORT/upload"
SLOW=$((BYTES / 4))
run "download at 100 MB/s (paused reader)" curl -fsS -o /dev/null --limit-rate 100M -w '%{size_download} bytes' \
    "http://127.0.0.1:$PORT/download?bytes=$SLOW"
echo "fanout $("$BIN" --version 2>/dev/null || true), commit $(git rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ)"
