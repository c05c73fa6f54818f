#!/usr/bin/env bash
# client.sh -- rewind's own producer (`rewind perf produce`, client/) beside
# librdkafka's (bench_broker produce) against the same rewind-broker in the
# same run: the issue's bar is rewind >= 0.9 x librdkafka's records/s.
#
# usage: client.sh [--quick] [--dir DIR] [--broker PATH] [--rewind PATH]
#                  [--bench PATH] [--records N] [--size B] [--rounds R]
#                  [--spread]
#
# One broker (fresh data dir in DIR, free port). Each round runs, on fresh
# 8-partition topics created before the clock starts, the same workload
# through both clients -- N records of B bytes, no key, acks=all,
# idempotent, linger.ms=5, batch.size=1000000, no compression, at most 5
# requests in flight per connection -- and again without idempotence
# (acks=all still). librdkafka sends record i to partition i % 8
# (bench_broker); rewind perf produce runs with its defaults, records
# without a key going to one partition per batch (the sticky partitioner,
# Kafka's default since KIP-480); --spread makes rewind send record i to
# partition i % 8 too (perf produce --spread 8), the same shape of traffic
# as librdkafka's. The order of the two clients alternates between
# rounds. Throughput is from the first send to the last delivery report in
# both. Prints one result line per run, the ratio per round, and the median
# ratio.
#
# --quick (20,000 records, one round) is what `meson test --suite bench`
# runs: it fails only when a program fails, never on a figure. Defaults:
# 1,000,000 records of 1024 bytes, 3 rounds. Only the broker this script
# started is signalled, by PID.
set -euo pipefail
me=client.sh
. "$(dirname "$0")/bench_lib.sh"

quick=0
dir=""
broker="${REWIND_BUILD_ROOT:-}/broker/rewind-broker"
rewind="${REWIND_BUILD_ROOT:-}/tools/rewind"
bench="${REWIND_BUILD_ROOT:-}/tests/bench/bench_broker"
records=1000000
size=1024
rounds=3
spread=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--quick) quick=1 ;;
	--dir) dir=${2:?--dir needs a directory}; shift ;;
	--broker) broker=${2:?--broker needs the path of rewind-broker}; shift ;;
	--rewind) rewind=${2:?--rewind needs the path of rewind}; shift ;;
	--bench) bench=${2:?--bench needs the path of bench_broker}; shift ;;
	--records) records=${2:?--records needs a count}; shift ;;
	--size) size=${2:?--size needs bytes}; shift ;;
	--rounds) rounds=${2:?--rounds needs a count}; shift ;;
	--spread) spread=(--spread 8) ;;
	-h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "client.sh: unknown argument '$1'; see 'client.sh --help'" >&2; exit 1 ;;
	esac
	shift
done
if [[ $quick -eq 1 ]]; then records=20000; rounds=1; fi
for p in "$broker" "$rewind" "$bench"; do
	if [[ ! -x "$p" ]]; then
		echo "client.sh: no program at '$p'; build the tree and pass --broker BUILD/broker/rewind-broker" \
			"--rewind BUILD/tools/rewind --bench BUILD/tests/bench/bench_broker" >&2
		exit 1
	fi
done

bench_scratch rewind-bench-client
bpid=""
cleanup() {
	if [[ -n "$bpid" ]]; then kill -KILL "$bpid" 2>/dev/null || true; fi
	bench_scratch_drop
}
trap cleanup EXIT

bench_start_broker "$dir" --set metrics.listener= --set num.partitions=8

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); broker $bootstrap"
echo "== $records records of $size bytes, acks=all, linger.ms=5, batch.size=1000000, $rounds round(s)"

# run_rdkafka TOPIC IDEM: prints records/s
run_rdkafka() {
	local args=(--bootstrap "$bootstrap" --topic "$1" --partitions 8 --records "$records"
		--size "$size" --linger-ms 5 --batch-bytes 1000000)
	[[ $2 -eq 1 ]] && args+=(--idempotent)
	local out
	if ! out=$("$bench" "${args[@]}" produce 2>"$dir/rdkafka.err"); then
		echo "client.sh: bench_broker produce failed:" >&2
		cat "$dir/rdkafka.err" >&2
		exit 1
	fi
	echo "result client=librdkafka idempotent=$2 $(grep '^result' <<<"$out" | cut -d' ' -f2-)" >&2
	grep '^result' <<<"$out" | kv records_per_s
}

# run_rewind TOPIC IDEM: prints records/s
run_rewind() {
	# created beforehand, as bench_broker creates its topic before timing
	if ! "$rewind" topics create "$1" --partitions 8 --bootstrap "$bootstrap" >/dev/null 2>"$dir/rewind.err"; then
		echo "client.sh: rewind topics create $1 failed:" >&2
		cat "$dir/rewind.err" >&2
		exit 1
	fi
	local args=(perf produce "$1" --bootstrap "$bootstrap" --records "$records" --record-size "$size"
		--linger-ms 5 --batch-size 1000000 --json "${spread[@]}")
	[[ $2 -eq 0 ]] && args+=(--no-idempotence)
	local out
	if ! out=$("$rewind" "${args[@]}" 2>"$dir/rewind.err"); then
		echo "client.sh: rewind perf produce failed:" >&2
		cat "$dir/rewind.err" >&2
		exit 1
	fi
	echo "result client=rewind idempotent=$2 $out" >&2
	/usr/bin/python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("%.1f" % r["records_per_s"])' <<<"$out"
}

ratios_idem=()
ratios_plain=()
for ((r = 1; r <= rounds; r++)); do
	for idem in 1 0; do
		t="r${r}-i${idem}"
		if (( (r + idem) % 2 )); then
			a=$(run_rdkafka "rdk-$t" $idem); b=$(run_rewind "rw-$t" $idem)
		else
			b=$(run_rewind "rw-$t" $idem); a=$(run_rdkafka "rdk-$t" $idem)
		fi
		ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", (a > 0 ? b / a : 0) }')
		echo "round $r idempotent=$idem: librdkafka $a records/s, rewind $b records/s, ratio $ratio"
		if [[ $idem -eq 1 ]]; then ratios_idem+=("$ratio"); else ratios_plain+=("$ratio"); fi
	done
done
echo "== median ratio rewind/librdkafka (records/s): idempotent $(printf '%s\n' "${ratios_idem[@]}" | median)," \
	"not idempotent $(printf '%s\n' "${ratios_plain[@]}" | median) (bar: >= 0.9)"

bench_stop_broker "$dir"
