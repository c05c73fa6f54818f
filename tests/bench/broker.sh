#!/usr/bin/env bash
# broker.sh -- the broker through librdkafka, beside fio and beside
# librdkafka's in-memory mock cluster, on the same machine in the same run.
#
# usage: broker.sh [--quick] [--cold] [--dir DIR] [--broker PATH] [--bench PATH]
#
#   1. starts rewind-broker on a fresh data dir in DIR (free ports), creates
#      1000 idle partitions (10 topics x 100) and reads its RSS; stops it;
#   2. starts a second rewind-broker on a fresh data dir and runs
#      bench_broker (tests/bench/bench_broker.c) against it: produce 1 KiB
#      and 100 B records (acks=all, the broker's durable default; then the
#      same with enable.idempotence, --idempotent), consume
#      the 1 KiB topic from the page cache with librdkafka's consumer and
#      with a raw Fetch loop (no client library: the broker's own speed),
#      consume a 64-partition topic (the shape the mock can hold), and
#      end-to-end latency at 50 MB/s (client settings as Kafka's
#      EndToEndLatency tool: linger.ms=0; see bench_broker.c); reads the
#      broker's CPU time (/proc/PID/stat utime+stime) around each run for
#      CPU seconds per GB, and its RSS (VmRSS, peak VmHWM);
#   3. runs the same workload against librdkafka's mock cluster (--mock);
#   4. runs fio in DIR: sequential write with fdatasync after every write at
#      the producer's average batch size (from librdkafka's statistics of
#      the 1 KiB runs), the same with O_DIRECT (the disk without the page
#      cache: context), and a cached 1 MiB sequential read; and iperf3 over
#      loopback TCP (plain, and -Z: the sender uses sendfile as the broker
#      does), the ceiling for any fetch over TCP on this machine;
#      Each produce run and each fio write run writes new data that stays
#      (topics p1k-1, -2, ... on the broker; one file per fio run, kept
#      until the series ends) into warm page-cache pages (see warm() below;
#      --cold skips that);
#   5. prints one table of figures, ratios and the bar (issue):
#        produce 1 KiB acks=all durable  >= 0.9 x fio write-with-fdatasync
#        produce 100 B records/s         >= the mock cluster's records/s
#        produce idempotent 1 KiB, 100 B >= 0.95 x the same not idempotent
#        consume (cached)                >= 0.9 x fio cached read
#          (also given against iperf3 -Z loopback: TCP's own ceiling here,
#          below fio's cached read on this machine; librdkafka's consumer
#          and the raw Fetch loop both)
#        e2e p99 at 50 MB/s              <= 5 ms
#        broker RSS, 1000 idle partitions < 100 MB
#
# --quick (small counts, ~40 s) is what `meson test --suite bench` runs: it
# fails only when a program fails, never on a figure, and skips fio and
# iperf3 when they are not installed. DIR defaults to a new directory under $TMPDIR (or /tmp),
# removed afterwards. Only brokers this script started are signalled, by PID.
set -euo pipefail
me=broker.sh
. "$(dirname "$0")/bench_lib.sh"

quick=0
cold=0
dir=""
broker="${REWIND_BUILD_ROOT:-}/broker/rewind-broker"
bench="${REWIND_BUILD_ROOT:-}/tests/bench/bench_broker"
while [[ $# -gt 0 ]]; do
	case "$1" in
	--quick) quick=1 ;;
	--cold) cold=1 ;;
	--dir) dir=${2:?--dir needs a directory}; shift ;;
	--broker) broker=${2:?--broker needs the path of rewind-broker}; shift ;;
	--bench) bench=${2:?--bench needs the path of bench_broker}; shift ;;
	-h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "broker.sh: unknown argument '$1'; see 'broker.sh --help'" >&2; exit 1 ;;
	esac
	shift
done
for p in "$broker" "$bench"; do
	if [[ ! -x "$p" ]]; then
		echo "broker.sh: no program at '$p'; build the tree (meson compile -C BUILD) and pass" \
			"--broker BUILD/broker/rewind-broker --bench BUILD/tests/bench/bench_broker" >&2
		exit 1
	fi
done

bench_scratch rewind-bench-broker
bpid=""
cleanup() {
	if [[ -n "$bpid" ]]; then kill -KILL "$bpid" 2>/dev/null || true; fi
	rm -f "$dir"/fio-*.dat
	bench_scratch_drop
}
trap cleanup EXIT

# Full form: 3 repeats of each run, the median counts (a shared 2-core VM).
if [[ $quick -eq 1 ]]; then
	repeat=1; n1k=50000; n100=200000; e2e_s=3; fio_size=16m; fio_runtime=3
	idle_topics=4; idle_parts=25; settle=1; n64=50000; iperf_s=1
else
	repeat=3; n1k=1000000; n100=5000000; e2e_s=10; fio_size=1g; fio_runtime=10
	idle_topics=10; idle_parts=100; settle=3; n64=256000; iperf_s=5
fi
# The 64-partition consume: librdkafka's mock keeps the last 5 MiB of each
# partition, so 256,000 records of 1 KiB over 64 partitions (~4 MB each)
# are all still there to read; rewind gets the same topic shape.
parts64=64
parts=8

# Every produce run and every fio write run starts with recently freed
# page-cache pages at hand: a scratch file of $warm_mb MB (more than the run
# writes) is written and deleted just before it. That is the state of a
# broker that has run a while (its page cache full, retention freeing old
# segments). On a VM that hands free memory back to its host (virtio-balloon
# free page reporting, as this one does) a fresh machine's free pages are
# not there: the first write to each costs a host fault, which measured
# 1.36-1.56 M records/s at 100 B against 1.77-1.84 M with warm pages, and
# fio write+fdatasync 400-560 MB/s against up to 930 MB/s. --cold skips the
# warming, for the figures of a fresh VM (docs/BENCHMARKS.md has both).
if [[ $quick -eq 1 ]]; then warm_mb=64; else warm_mb=1200; fi
warm() {
	[[ $cold -eq 1 ]] && return 0
	dd if=/dev/zero of="$dir/warm.dat" bs=1M count=$warm_mb status=none
	rm -f "$dir/warm.dat"
}

echo "== machine"
echo "nproc: $(nproc)"
free -h | sed 's/^/  /'
df -h "$dir" | sed 's/^/  /'
echo "kernel: $(uname -sr)"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at start: $load_start"
echo "data dir: $dir"
echo

minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) print lo "-" hi }'; }
clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # utime + stime
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# start_broker NAME: rewind-broker on $dir/NAME/data, free ports; sets bpid
# and bootstrap.
start_broker() {
	rm -rf "$dir/$1"
	mkdir -p "$dir/$1"
	bench_start_broker "$dir/$1" --set metrics.listener=127.0.0.1:0
}
stop_broker() { bench_stop_broker "$dir/$1"; }

results="$dir/results.txt"
: >"$results"
# bench NAME ARGS...: runs bench_broker, appends its result lines, tagged
# with NAME and (against rewind) the broker's CPU seconds used meanwhile.
bench() {
	local name=$1; shift
	local before=0 after out
	[[ -n "$bpid" ]] && before=$(cpu_ticks "$bpid")
	if ! out=$("$bench" "$@" 2>>"$dir/bench.err"); then
		echo "$out"
		tail -n 20 "$dir/bench.err" >&2
		echo "broker.sh: bench_broker $* failed (its messages are above)" >&2
		exit 1
	fi
	[[ -n "$bpid" ]] && after=$(cpu_ticks "$bpid")
	while read -r line; do
		[[ $line == result* ]] || continue
		if [[ -n "$bpid" ]]; then
			line+=" run=$name broker_cpu_s=$(awk -v t=$((after - before)) -v h="$clk_tck" 'BEGIN { printf "%.2f", t / h }')"
		else
			line+=" run=$name"
		fi
		echo "$line" >>"$results"
		echo "  $line"
	done <<<"$out"
}

# ------------------------------------------------------- idle partitions
idle_total=$((idle_topics * idle_parts))
echo "== rewind-broker: $idle_total idle partitions ($idle_topics topics x $idle_parts)"
start_broker idle
rss_empty=$(status_kb "$bpid" VmRSS)
bench idle --bootstrap "$bootstrap" --topic idle --topics $idle_topics --topic-partitions $idle_parts topics
sleep $settle   # let the reactors settle
rss_idle=$(status_kb "$bpid" VmRSS)
hwm_idle=$(status_kb "$bpid" VmHWM)
echo "  RSS: ${rss_empty} kB empty, ${rss_idle} kB with $idle_total partitions (peak ${hwm_idle} kB)"
stop_broker idle
rm -rf "$dir/idle"
echo

# ------------------------------------------------------- rewind
echo "== rewind-broker: $parts partitions, acks=all, durable default (flush.messages=1)"
start_broker load
rss_start=$(status_kb "$bpid" VmRSS)
for ((r = 1; r <= repeat; r++)); do
	warm
	bench produce-1k --bootstrap "$bootstrap" --topic p1k-$r --partitions $parts --records $n1k --size 1024 produce
done
# The same with enable.idempotence (issue 4: >= 0.95 x the line above).
for ((r = 1; r <= repeat; r++)); do
	warm
	bench idem-produce-1k --bootstrap "$bootstrap" --topic i1k-$r --partitions $parts --records $n1k --size 1024 \
		--idempotent produce
done
for ((r = 1; r <= repeat; r++)); do
	warm
	bench produce-100 --bootstrap "$bootstrap" --topic p100-$r --partitions $parts --records $n100 --size 100 produce
done
for ((r = 1; r <= repeat; r++)); do
	warm
	bench idem-produce-100 --bootstrap "$bootstrap" --topic i100-$r --partitions $parts --records $n100 --size 100 \
		--idempotent produce
done
# Context: the same with a lighter load generator (--batch-calls: one
# rd_kafka_produce_batch call per 256 records instead of one call each),
# which leaves more of the 2 cores to the broker; the mock gets the same.
for ((r = 1; r <= repeat; r++)); do
	warm
	bench produce-1k-bc --bootstrap "$bootstrap" --topic b1k-$r --partitions $parts --records $n1k --size 1024 \
		--batch-calls produce
	warm
	bench produce-100-bc --bootstrap "$bootstrap" --topic b100-$r --partitions $parts --records $n100 --size 100 \
		--batch-calls produce
done
for ((r = 1; r <= repeat; r++)); do
	bench consume-1k --bootstrap "$bootstrap" --topic p1k-$repeat consume
done
for ((r = 1; r <= repeat; r++)); do
	bench rawfetch-1k --bootstrap "$bootstrap" --topic p1k-$repeat rawfetch
done
bench produce-64 --bootstrap "$bootstrap" --topic c64 --partitions $parts64 --records $n64 --size 1024 produce
for ((r = 1; r <= repeat; r++)); do
	bench consume-64 --bootstrap "$bootstrap" --topic c64 consume
done
for ((r = 1; r <= repeat; r++)); do
	bench e2e --bootstrap "$bootstrap" --topic e2e-$r --partitions $parts --size 1024 --rate 50 \
		--seconds $e2e_s e2e
done
# The same with TCP_NODELAY on the clients (Kafka's Java clients always set
# it; librdkafka leaves Nagle on unless socket.nagle.disable=true): context.
for ((r = 1; r <= repeat; r++)); do
	bench e2e-nodelay --bootstrap "$bootstrap" --topic e2en-$r --partitions $parts --size 1024 --rate 50 \
		--seconds $e2e_s --nodelay e2e
done
rss_load=$(status_kb "$bpid" VmRSS)
hwm_load=$(status_kb "$bpid" VmHWM)
echo "  RSS: ${rss_start} kB at start, ${rss_load} kB after the runs, peak ${hwm_load} kB"
stop_broker load
# A long-poll fetch answered by its timer while its data was readable and
# no wake-up was queued (api_fetch.c logs each): latency a consumer lost.
missed_wakeups=$(grep -c 'a missed wake-up' "$dir/load/broker.log" || true)
echo

# ------------------------------------------------------- mock
echo "== librdkafka mock cluster (in memory, same workload)"
for ((r = 1; r <= repeat; r++)); do
	warm
	bench produce-1k --mock --topic p1k --partitions $parts --records $n1k --size 1024 produce consume
done
for ((r = 1; r <= repeat; r++)); do
	warm
	bench produce-100 --mock --topic p100 --partitions $parts --records $n100 --size 100 produce
done
for ((r = 1; r <= repeat; r++)); do
	bench consume-64 --mock --topic c64 --partitions $parts64 --records $n64 --size 1024 produce consume
done
for ((r = 1; r <= repeat; r++)); do
	warm
	bench produce-1k-bc --mock --topic b1k --partitions $parts --records $n1k --size 1024 --batch-calls produce
	warm
	bench produce-100-bc --mock --topic b100 --partitions $parts --records $n100 --size 100 --batch-calls produce
done
# The mock keeps only the last ~5 MiB of a partition in memory: on a loaded
# machine its e2e consumer can fall behind that and lose records (offset
# out of range). That is the reference peer failing, not rewind: its e2e
# figures are then n/a and the run goes on.
if ! ( bench e2e --mock --topic e2e --partitions $parts --size 1024 --rate 50 --seconds $e2e_s e2e ); then
	echo "  note: the mock cluster's e2e run did not complete (see above); its e2e figures are n/a"
fi
rm -rf "$dir/load"
sync
echo

# ------------------------------------------------------- fio
# The producer's average batch (librdkafka statistics) sets fio's write size.
batch=$(grep 'mode=produce target=rewind size=1024 ' "$results" | kv batch_avg_bytes | median)
batch=${batch%.*}
[[ -n "$batch" && "$batch" -gt 4096 ]] || batch=1000000
declare -A fio_mb=() fio_runs=()
have_fio=1
if ! command -v fio >/dev/null 2>&1; then
	if [[ $quick -eq 0 && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "== installing fio (apt-get)"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fio >/dev/null
	fi
	if ! command -v fio >/dev/null 2>&1; then
		have_fio=0
		if [[ $quick -eq 0 ]]; then
			echo "broker.sh: fio is not installed and could not be installed; install fio and retry" >&2
			exit 1
		fi
		echo "note: fio not installed; --quick skips the fio figures"
	fi
fi
py=/usr/bin/python3
[[ -x $py ]] || py=$(command -v python3 || true)
fio_bw() {
	if command -v jq >/dev/null 2>&1; then jq -r ".jobs[0].$2.bw_bytes" "$1"
	else "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0][sys.argv[2]]["bw_bytes"])' "$1" "$2"; fi
}
# run_fio KEY RW ARGS...: median MB/s of $repeat runs into fio_mb[KEY].
run_fio() {
	local key=$1 rw=$2; shift 2
	local out="$dir/fio-$key.json" runs=() i
	for ((i = 0; i < repeat; i++)); do
		[[ $rw == write ]] && warm
		if ! fio --name="$key" --directory="$dir" --filename="fio-$key-$i.dat" --ioengine=psync \
			--size="$fio_size" --runtime="$fio_runtime" --output-format=json "$@" \
			>"$out" 2>"$dir/fio-$key.err"; then
			echo "broker.sh: fio job $key failed: $(head -c 500 "$dir/fio-$key.err")" >&2
			return 1
		fi
		runs+=("$(awk -v b="$(fio_bw "$out" "$rw")" 'BEGIN { printf "%.1f", b / 1e6 }')")
	done
	# A write run's file stays until the series ends, as each produce run's
	# topic stays on the broker. Deleting it at once would hand its pages,
	# still warm, to the next run, a head start no produce run has (measured
	# on this VM: 400-560 MB/s into new pages, up to 930 MB/s into a
	# just-deleted run's); both sides get the same warm() instead. See
	# docs/BENCHMARKS.md.
	rm -f "$dir"/fio-"$key"-*.dat "$out" "$dir/fio-$key.err"
	fio_mb[$key]=$(printf '%s\n' "${runs[@]}" | median)
	fio_runs[$key]=$(printf '%s\n' "${runs[@]}" | minmax)
	printf '  %-26s %10s MB/s  (runs: %s)\n' "$key" "${fio_mb[$key]}" "${runs[*]}"
}
if [[ $have_fio -eq 1 ]]; then
	echo "== fio ($(fio --version)), size $fio_size per job, at most ${fio_runtime}s each"
	fio_failed=0
	run_fio write-fdatasync-$batch write --rw=write --bs="$batch" --fdatasync=1 || fio_failed=1
	# The disk without the page cache (context): O_DIRECT, in 1 MiB blocks
	# (O_DIRECT needs aligned sizes; the producer's batch is not).
	run_fio write-direct-fdatasync write --rw=write --bs=1m --direct=1 --fdatasync=1 || fio_failed=1
	for ((i = 0; i < repeat; i++)); do
		fio --name=prep --directory="$dir" --filename=fio-read-cached-1m-$i.dat --ioengine=psync --rw=write \
			--bs=1m --size="$fio_size" --output-format=json >/dev/null 2>&1 || fio_failed=1
	done
	run_fio read-cached-1m read --rw=read --bs=1m --invalidate=0 || fio_failed=1
	if [[ $fio_failed -eq 1 && $quick -eq 0 ]]; then
		echo "broker.sh: a fio job failed (see above); the table would lack its figures" >&2
		exit 1
	fi
	echo
fi

# ------------------------------------------------------- iperf3
# Loopback TCP, the ceiling of any fetch on this machine: iperf3 with one
# stream, plain (send copies from memory) and -Z (sendfile, as the broker
# sends fetched bytes); $repeat runs each, median. The server is started by
# PID on a free port and serves one test (-1).
declare -A tcp_mb=() tcp_runs=()
have_iperf=1
if ! command -v iperf3 >/dev/null 2>&1; then
	if [[ $quick -eq 0 && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "== installing iperf3 (apt-get)"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null
	fi
	if ! command -v iperf3 >/dev/null 2>&1; then
		have_iperf=0
		if [[ $quick -eq 0 ]]; then
			echo "broker.sh: iperf3 is not installed and could not be installed; install iperf3 and retry" >&2
			exit 1
		fi
		echo "note: iperf3 not installed; --quick skips the loopback figures"
	fi
fi
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
iperf_bw() {
	if command -v jq >/dev/null 2>&1; then jq -r '.end.sum_received.bits_per_second' "$1"
	else "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"])' "$1"; fi
}
# listening PORT: true once something listens on 127.0.0.1:PORT.
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
# run_iperf KEY ARGS...: median MB/s of $repeat runs into tcp_mb[KEY]. The
# client starts only once the server listens (a connection attempt before
# that can leave the one-off server without a test).
run_iperf() {
	local key=$1; shift
	local out="$dir/iperf-$key.json" err="$dir/iperf-$key.err" runs=() i port spid bw deadline
	for ((i = 0; i < repeat; i++)); do
		port=$(free_port)
		iperf3 -s -1 -B 127.0.0.1 -p "$port" >/dev/null 2>"$err" &
		spid=$!
		deadline=$((SECONDS + 10))
		until listening "$port" || [[ $SECONDS -ge $deadline ]] || ! kill -0 "$spid" 2>/dev/null; do
			sleep 0.05
		done
		bw=0
		if iperf3 -c 127.0.0.1 -p "$port" -t "$iperf_s" -J "$@" >"$out" 2>>"$err"; then
			bw=$(iperf_bw "$out")
		fi
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
		if ! awk -v b="$bw" 'BEGIN { exit !(b > 0) }'; then
			echo "broker.sh: iperf3 $key failed: $(head -c 500 "$err") $(head -c 300 "$out")" >&2
			return 1
		fi
		runs+=("$(awk -v b="$bw" 'BEGIN { printf "%.1f", b / 8e6 }')")
	done
	rm -f "$out" "$err"
	tcp_mb[$key]=$(printf '%s\n' "${runs[@]}" | median)
	tcp_runs[$key]=$(printf '%s\n' "${runs[@]}" | minmax)
	printf '  %-26s %10s MB/s  (runs: %s)\n' "$key" "${tcp_mb[$key]}" "${runs[*]}"
}
if [[ $have_iperf -eq 1 ]]; then
	echo "== iperf3 ($(iperf3 --version 2>&1 | head -n 1 | cut -d' ' -f1-2)), loopback, one stream, ${iperf_s}s each"
	iperf_failed=0
	run_iperf loopback-tcp || iperf_failed=1
	run_iperf loopback-tcp-sendfile -Z || iperf_failed=1
	if [[ $iperf_failed -eq 1 && $quick -eq 0 ]]; then
		echo "broker.sh: an iperf3 run failed (see above); the table would lack its figures" >&2
		exit 1
	fi
	echo
fi

# ------------------------------------------------------- table
# sel RUN TARGET MODE KEY: the values of KEY over those result lines.
sel() { grep " target=$2 " "$results" | grep "mode=$3 " | grep -E " run=$1( |\$)" | kv "$4" || true; }
med() { sel "$@" | median; }
rng() { sel "$@" | minmax; }
# cpu_per_gb RUN: the broker's CPU seconds per GB of record values (medians).
cpu_per_gb() {
	grep " target=rewind " "$results" | grep " run=$1 " | grep -v ' mode=topics' |
		awk '{ b = 0; c = 0; for (i = 1; i <= NF; i++) { split($i, a, "=");
			if (a[1] == "bytes" || a[1] == "batch_bytes") b = a[2]; if (a[1] == "broker_cpu_s") c = a[2] }
			if (b > 0) printf "%.2f\n", c / (b / 1e9) }' | median
}

p1k=$(med produce-1k rewind produce mb_per_s); p1k_r=$(rng produce-1k rewind produce mb_per_s)
p1k_m=$(med produce-1k mock produce mb_per_s)
p100=$(med produce-100 rewind produce records_per_s); p100_r=$(rng produce-100 rewind produce records_per_s)
p100_m=$(med produce-100 mock produce records_per_s)
p100mb=$(med produce-100 rewind produce mb_per_s)
c1k=$(med consume-1k rewind consume mb_per_s); c1k_r=$(rng consume-1k rewind consume mb_per_s)
c1k_m=$(med produce-1k mock consume mb_per_s)
raw=$(med rawfetch-1k rewind rawfetch mb_per_s); raw_r=$(rng rawfetch-1k rewind rawfetch mb_per_s)
raw_cpu=$(med rawfetch-1k rewind rawfetch client_cpu_s)
c64=$(med consume-64 rewind consume mb_per_s); c64_r=$(rng consume-64 rewind consume mb_per_s)
c64_m=$(med consume-64 mock consume mb_per_s); c64_mr=$(rng consume-64 mock consume mb_per_s)
eack50=$(med e2e rewind e2e ack_p50_ms); eack99=$(med e2e rewind e2e ack_p99_ms)
e_linger=$(med e2e rewind e2e linger_ms); e_wait=$(med e2e rewind e2e fetch_wait_ms)
e50=$(med e2e rewind e2e p50_ms); e99=$(med e2e rewind e2e p99_ms); e999=$(med e2e rewind e2e p999_ms)
emax=$(med e2e rewind e2e max_ms); e99_r=$(rng e2e rewind e2e p99_ms)
m50=$(med e2e mock e2e p50_ms); m99=$(med e2e mock e2e p99_ms); m999=$(med e2e mock e2e p999_ms)
fw=${fio_mb[write-fdatasync-$batch]:-}; fr=${fio_mb[read-cached-1m]:-}
fwd=${fio_mb[write-direct-fdatasync]:-}
tcp=${tcp_mb[loopback-tcp]:-}; tcpz=${tcp_mb[loopback-tcp-sendfile]:-}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
verdict() { # verdict VALUE OP LIMIT
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "n/a" || v == "" || l == "") { print "n/a"; exit }
		ok = (op == ">=") ? (v + 0 >= l + 0) : (op == "<=") ? (v + 0 <= l + 0) : (v + 0 < l + 0)
		print ok ? "meets" : "MISSES" }'
}
row() { printf '%-34s %12s %17s  %-30s %10s %6s  %-14s %s\n' "$@"; }

r_p1k=$(ratio "$p1k" "$fw"); r_p100=$(ratio "$p100" "$p100_m"); r_c=$(ratio "$c1k" "$fr")
rss_idle_mb=$(awk -v k="$rss_idle" 'BEGIN { printf "%.1f", k / 1024 }')

if [[ $cold -eq 1 ]]; then pages="cold (--cold)"; else pages="warm: $warm_mb MB freed before each produce and fio write run"; fi
echo "== results (MB = 10^6 bytes of record values; medians of $repeat runs, (min-max); $parts partitions; page cache $pages)"
row "figure" "rewind" "(min-max)" "reference" "ref" "ratio" "bar" "verdict"
row "produce 1 KiB acks=all MB/s" "$p1k" "$p1k_r" "fio write-fdatasync bs=$batch" "${fw:-n/a}" "$r_p1k" ">= 0.90" \
	"$(verdict "$r_p1k" '>=' 0.9)"
row "produce 100 B acks=all records/s" "$p100" "$p100_r" "mock cluster records/s" "$p100_m" "$r_p100" ">= 1.00" \
	"$(verdict "$r_p100" '>=' 1.0)"
p1ki=$(med idem-produce-1k rewind produce mb_per_s); p1ki_r=$(rng idem-produce-1k rewind produce mb_per_s)
p100i=$(med idem-produce-100 rewind produce records_per_s); p100i_r=$(rng idem-produce-100 rewind produce records_per_s)
row "produce 1 KiB idempotent MB/s" "$p1ki" "$p1ki_r" "produce 1 KiB, not idempotent" "$p1k" "$(ratio "$p1ki" "$p1k")" \
	">= 0.95" "$(verdict "$(ratio "$p1ki" "$p1k")" '>=' 0.95)"
row "produce 100 B idempotent records/s" "$p100i" "$p100i_r" "produce 100 B, not idempotent" "$p100" \
	"$(ratio "$p100i" "$p100")" ">= 0.95" "$(verdict "$(ratio "$p100i" "$p100")" '>=' 0.95)"
row "consume 1 KiB (cached) MB/s" "$c1k" "$c1k_r" "fio read-cached-1m" "${fr:-n/a}" "$r_c" ">= 0.90" \
	"$(verdict "$r_c" '>=' 0.9)"
# Over loopback TCP no fetch can beat TCP itself: where fio's cached read
# is faster than iperf3 -Z (sendfile, as the broker sends), the line above
# measures the machine's network, so the same figures are also given
# against iperf3 -Z, the limit of this machine in this run.
row "  consume vs loopback TCP" "$c1k" "$c1k_r" "iperf3 -Z loopback" "${tcpz:-n/a}" "$(ratio "$c1k" "$tcpz")" \
	"(>= 0.90)" "$(verdict "$(ratio "$c1k" "$tcpz")" '>=' 0.9)"
row "  raw Fetch loop (broker alone)" "$raw" "$raw_r" "fio read-cached-1m" "${fr:-n/a}" "$(ratio "$raw" "$fr")" "(>= 0.90)" \
	"$(verdict "$(ratio "$raw" "$fr")" '>=' 0.9)"
row "  raw Fetch loop vs loopback TCP" "$raw" "$raw_r" "iperf3 -Z loopback" "${tcpz:-n/a}" "$(ratio "$raw" "$tcpz")" \
	"(>= 0.90)" "$(verdict "$(ratio "$raw" "$tcpz")" '>=' 0.9)"
row "e2e p99 ms at 50 MB/s" "$e99" "$e99_r" "mock cluster p99 ms" "$m99" "-" "<= 5 ms" "$(verdict "$e99" '<=' 5)"
row "RSS MB, $idle_total idle partitions" "$rss_idle_mb" "-" "-" "-" "-" "< 100 MB" "$(verdict "$rss_idle_mb" '<' 100)"
echo
echo "context (not in the bar):"
printf '  produce 1 KiB: mock cluster %s MB/s (rewind / mock = %s); producer batch avg %s bytes\n' \
	"$p1k_m" "$(ratio "$p1k" "$p1k_m")" "$batch"
printf '  produce 100 B: rewind %s MB/s of values\n' "$p100mb"
p1kb=$(med produce-1k-bc rewind produce mb_per_s); p1kb_m=$(med produce-1k-bc mock produce mb_per_s)
p100b=$(med produce-100-bc rewind produce records_per_s); p100b_m=$(med produce-100-bc mock produce records_per_s)
printf '  produce with --batch-calls (lighter load generator): 1 KiB rewind %s MB/s (%s x fio write-fdatasync, %s x fio O_DIRECT), mock %s MB/s; 100 B rewind %s records/s, mock %s (rewind / mock = %s)\n' \
	"$p1kb" "$(ratio "$p1kb" "$fw")" "$(ratio "$p1kb" "$fwd")" "$p1kb_m" "$p100b" "$p100b_m" "$(ratio "$p100b" "$p100b_m")"
printf '  produce 1 KiB against the disk without the page cache: fio O_DIRECT write+fdatasync bs=1m %s MB/s; rewind / that = %s\n' \
	"${fwd:-n/a}" "$(ratio "$p1k" "$fwd")"
printf '  consume: mock cluster %s MB/s (it keeps only the last ~5 MB per partition, so its run is short)\n' "${c1k_m:-n/a}"
printf '  consume, librdkafka vs the broker alone: librdkafka %s MB/s = %s x the raw Fetch loop (%s MB/s of batches, client CPU %s s per run)\n' \
	"$c1k" "$(ratio "$c1k" "$raw")" "$raw" "${raw_cpu:-n/a}"
printf '  consume, %d partitions x ~4 MB (fits the mock): rewind %s MB/s (%s), mock %s MB/s (%s): rewind / mock = %s\n' \
	"$parts64" "$c64" "$c64_r" "$c64_m" "$c64_mr" "$(ratio "$c64" "$c64_m")"
printf '  loopback TCP (iperf3, one stream): %s MB/s plain, %s MB/s with sendfile (-Z); fio cached read / iperf3 -Z = %s\n' \
	"${tcp:-n/a}" "${tcpz:-n/a}" "$(ratio "$fr" "$tcpz")"
printf '  e2e at 50 MB/s, 1 KiB records, linger.ms=%s, fetch.wait.max.ms=%s: rewind p50 %s / p99 %s / p99.9 %s / max %s ms; mock p50 %s / p99 %s / p99.9 %s ms\n' \
	"$e_linger" "$e_wait" "$e50" "$e99" "$e999" "$emax" "$m50" "$m99" "$m999"
printf '  e2e, producer half: send -> acks=all delivery report p50 %s / p99 %s ms (rewind)\n' "$eack50" "$eack99"
printf '  e2e with TCP_NODELAY clients (--nodelay, as Java clients): p50 %s / p99 %s / p99.9 %s ms (p99 runs %s)\n' \
	"$(med e2e-nodelay rewind e2e p50_ms)" "$(med e2e-nodelay rewind e2e p99_ms)" \
	"$(med e2e-nodelay rewind e2e p999_ms)" "$(rng e2e-nodelay rewind e2e p99_ms)"
printf '  fetches answered by their timer with data readable and no wake-up queued (missed wake-ups): %s\n' \
	"${missed_wakeups:-n/a}"
printf '  broker CPU s per GB of values: produce 1 KiB %s, produce 100 B %s, consume 1 KiB %s, raw fetch %s, e2e %s\n' \
	"$(cpu_per_gb produce-1k)" "$(cpu_per_gb produce-100)" "$(cpu_per_gb consume-1k)" \
	"$(cpu_per_gb rawfetch-1k)" "$(cpu_per_gb e2e)"
printf '  broker RSS: %s kB empty, %s kB with '"$idle_total"' idle partitions; load run: %s kB after, peak (VmHWM) %s kB\n' \
	"$rss_empty" "$rss_idle" "$rss_load" "$hwm_load"
echo
echo "load average at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "raw results:"
sed 's/^/  /' "$results"
