#!/usr/bin/env bash
# kappa-demo.sh -- the Kappa architecture with rewind, start to finish:
# one streaming job serves both real time and correction, because the log
# can be replayed from offset 0.
#
#   1. a broker (started here, or --bootstrap to use yours) and a topic of
#      player events from gen-events, 5 % out of order and 1 % late;
#   2. the live job reads them as they arrive -- with a bug: 6-minute
#      windows where the dashboard wants 5 -- into metrics_v1;
#   3. the fixed job replays the same log from offset 0 (a new group) into
#      metrics_v2;
#   4. `rewind windows verify metrics_v1 metrics_v2` shows what the bug did;
#   5. a second replay into metrics_v3 and `verify metrics_v2 metrics_v3`
#      proves the replay is deterministic: identical;
#   6. switch readers to metrics_v2.
#
# Usage: examples/kappa-demo.sh [--bootstrap HOST:PORT] [--events N]
#            [--rewind PATH] [--broker PATH] [--workdir DIR]
# Runs unattended; exits non-zero if a step does not come out as expected.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bootstrap=""
events=200000
rewind_bin=""
broker_bin=""
workdir=""

while [ $# -gt 0 ]; do
	case "$1" in
	--bootstrap) bootstrap=$2; shift 2 ;;
	--events) events=$2; shift 2 ;;
	--rewind) rewind_bin=$2; shift 2 ;;
	--broker) broker_bin=$2; shift 2 ;;
	--workdir) workdir=$2; shift 2 ;;
	-h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "kappa-demo: unknown argument '$1' (see --help)" >&2; exit 1 ;;
	esac
done

find_bin() { # name, relative build path
	if [ -x "$root/build/$2" ]; then echo "$root/build/$2"; return; fi
	command -v "$1" || { echo "kappa-demo: cannot find $1; build rewind (meson setup build && ninja -C build) or pass --${1#rewind-} PATH" >&2; exit 1; }
}
[ -n "$rewind_bin" ] || rewind_bin=$(find_bin rewind tools/rewind)
[ -n "$workdir" ] || workdir=$(mktemp -d /tmp/kappa-demo.XXXXXX)
mkdir -p "$workdir"
cd "$workdir"

step() { printf '\n== %s\n' "$*"; }

broker_pid=""
live_pid=""
cleanup() {
	[ -z "$live_pid" ] || kill "$live_pid" 2>/dev/null || true
	if [ -n "$broker_pid" ]; then
		kill "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT

step "1. broker and input"
if [ -z "$bootstrap" ]; then
	[ -n "$broker_bin" ] || broker_bin=$(find_bin rewind-broker broker/rewind-broker)
	"$broker_bin" --set log.dirs="$workdir/data" --set listeners=PLAINTEXT://127.0.0.1:0 \
		--set metrics.listener= --set num.partitions=3 2> broker.log &
	broker_pid=$!
	for _ in $(seq 1 200); do
		grep -q ' ready' broker.log 2>/dev/null && break
		kill -0 "$broker_pid" 2>/dev/null || { echo "kappa-demo: the broker exited:" >&2; cat broker.log >&2; exit 1; }
		sleep 0.05
	done
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' broker.log | head -1)
	[ -n "$port" ] || { echo "kappa-demo: the broker did not start:" >&2; cat broker.log >&2; exit 1; }
	bootstrap=127.0.0.1:$port
	echo "started rewind-broker (pid $broker_pid) on $bootstrap, data in $workdir/data"
else
	echo "using the broker at $bootstrap"
fi
R() { "$rewind_bin" "$@"; }
topic=clicks-$$
R topics create "$topic" --partitions 3 -b "$bootstrap"

job=(windows "$topic" -b "$bootstrap" --key video_id --agg count --agg sum:position_ms
     --agg distinct:user_id --out-of-order 10s --allowed-lateness 1m)

step "2. live job (bug: --tumbling 6m instead of 5m) -> metrics_v1, while events arrive"
R "${job[@]}" --tumbling 6m --output metrics_v1 --group live-v1 --max-events "$events" -q &
live_pid=$!
R gen-events --count "$events" --out-of-order 0.05 --late 0.01 --topic "$topic" -b "$bootstrap" -q
echo "gen-events wrote $events events (5% out of order, 1% late) to $topic"
wait "$live_pid"
live_pid=""
echo "the live job read all $events events and wrote its windows to metrics_v1"

step "3. fixed job (--tumbling 5m) replays $topic from offset 0 -> metrics_v2 (new group)"
R "${job[@]}" --tumbling 5m --output metrics_v2 --group fixed-v2 --from-beginning --exit-at-end

step "4. verify metrics_v1 metrics_v2: what the bug did"
set +e
R windows verify metrics_v1 metrics_v2 -b "$bootstrap" --max-diffs 3
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "kappa-demo: expected differences between v1 and v2 (exit 2), got $rc" >&2; exit 1; }

step "5. replay again -> metrics_v3 and verify metrics_v2 metrics_v3: deterministic"
R "${job[@]}" --tumbling 5m --output metrics_v3 --group fixed-v3 --from-beginning --exit-at-end -q
R windows verify metrics_v2 metrics_v3 -b "$bootstrap"

step "6. switch: dashboards read metrics_v2 from now on"
echo "metrics_v2 is the corrected view; keep the fixed job running (group fixed-v2) to serve live"
echo "kappa demo: done (work dir $workdir)"
