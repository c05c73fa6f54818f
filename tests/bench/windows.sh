#!/usr/bin/env bash
# windows.sh -- replay throughput of `rewind windows` (see docs/BENCHMARKS.md
# "Windows"):
#   1. the engine alone on events in memory, one core (bench_windows):
#      tumbling 5m and hopping 5m/1m by video_id, sessions (30 s) by user_id,
#      aggregates count, sum:position_ms, distinct:user_id;
#   2. the whole tool replaying a topic from a local broker: gen-events
#      (5 % out of order, 1 % late) into 3 partitions, then `rewind windows
#      ... --exit-at-end` per kind, wall and CPU time (user + sys).
# The machine's other load shows in the wall times; CPU is what to compare.
#
# Usage: tests/bench/windows.sh [--quick] [--count N] --broker EXE --rewind EXE --bench EXE
# --quick: 100000 events (the meson test; it checks that everything runs,
# never a speed).
set -euo pipefail

count=1000000
broker="" rewind="" bench=""
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) count=100000; shift ;;
	--count) count=$2; shift 2 ;;
	--broker) broker=$2; shift 2 ;;
	--rewind) rewind=$2; shift 2 ;;
	--bench) bench=$2; shift 2 ;;
	*) echo "windows.sh: unknown argument '$1'" >&2; exit 1 ;;
	esac
done
[ -x "$broker" ] && [ -x "$rewind" ] && [ -x "$bench" ] ||
	{ echo "windows.sh: give --broker, --rewind and --bench (built programs)" >&2; exit 1; }

broker=$(realpath "$broker") rewind=$(realpath "$rewind") bench=$(realpath "$bench")
tmp=$(mktemp -d /tmp/bench-windows.XXXXXX)
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "== engine, events in memory, one core ($count events)"
"$bench" --count "$count"

echo "== the whole tool, replaying from a local broker ($count events, 3 partitions)"
"$broker" --set log.dirs="$tmp/data" --set listeners=PLAINTEXT://127.0.0.1:0 \
	--set metrics.listener= 2> "$tmp/broker.log" &
pid=$!
for _ in $(seq 1 200); do
	grep -q ' ready' "$tmp/broker.log" && break
	kill -0 "$pid" || { cat "$tmp/broker.log" >&2; exit 1; }
	sleep 0.05
done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/broker.log" | head -1)
[ -n "$port" ] || { echo "windows.sh: the broker did not start" >&2; cat "$tmp/broker.log" >&2; exit 1; }
b=127.0.0.1:$port
"$rewind" topics create events --partitions 3 -b "$b" > /dev/null
"$rewind" gen-events --count "$count" --out-of-order 0.05 --late 0.01 --topic events -b "$b" -q

cd "$tmp"
run() { # name, window options...
	local name=$1 TIMEFORMAT='%R %U %S'
	shift
	if ! { time "$rewind" windows events --output "out-${name//\//-}" --late-topic none -b "$b" \
		-e -q --agg count --agg sum:position_ms --agg distinct:user_id "$@"; } 2> "$tmp/time"; then
		echo "windows.sh: rewind windows failed ($name):" >&2
		cat "$tmp/time" >&2
		exit 1
	fi
	tail -1 "$tmp/time" | awk -v n="$count" -v name="$name" '{
		wall = $1; cpu = $2 + $3;
		printf "%-14s %d events  %.2f s wall  %.2f s CPU  %10.0f events/s (wall)  %10.0f events/s (CPU)\n",
		       name, n, wall, cpu, n / wall, n / cpu }'
}
run "tumbling-5m" --key video_id --tumbling 5m
run "hopping-5m/1m" --key video_id --hopping 5m/1m
run "session-30s" --key user_id --session 30s
"$rewind" windows verify out-tumbling-5m out-tumbling-5m -b "$b" > /dev/null
echo "== done"
