#!/usr/bin/env bash
# test_kcat.sh BROKER -- produce and consume with kcat (librdkafka) end to end.
#
# Starts rewind-broker on a free 127.0.0.1 port with a temporary data dir.
# For each codec kcat speaks (none, gzip, snappy, lz4, zstd) it produces
# keyed records with headers (acks=all, topics auto-created) and consumes
# them from the beginning, from an offset and from a timestamp, comparing
# every byte of topic, partition, offset, key, value and headers with what
# was sent. Then it restarts the broker (SIGTERM, start again on the same
# data) and checks that everything acknowledged is still there. Only
# processes this script started are signalled, by PID.
set -euo pipefail
broker=$1
command -v kcat >/dev/null || { echo "SKIP: kcat not installed"; exit 77; }
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 40 "$f" | sed 's/^/  | /' >&2; }; done
	exit 1
}

# wait_for FILE PATTERN: polls FILE for PATTERN for at most 20 s.
wait_for() {
	local deadline=$((SECONDS + 20))
	until grep -q "$2" "$1" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "timed out waiting for '$2' in $1"
		sleep 0.05
	done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port=$(free_port)
bpid=
starts=0
start_broker() {   # each start logs to its own file, so "ready" is this one's
	starts=$((starts + 1))
	"$broker" --set log.dirs="$tmp/data" --set listeners="PLAINTEXT://127.0.0.1:$port" --set metrics.listener= \
		--set num.partitions=1 2>"$tmp/broker-$starts.log" &
	bpid=$!
	pids+=("$bpid")
	wait_for "$tmp/broker-$starts.log" " ready"
}
stop_broker() {
	kill -TERM "$bpid"
	wait "$bpid" || fail "broker exited with status $?"
	# A sanitizer build reports here (UBSan's reports are not fatal).
	! grep -q "runtime error:\|AddressSanitizer\|LeakSanitizer" "$tmp/broker-$starts.log" ||
		fail "sanitizer report in broker-$starts.log"
}

start_broker
bs="127.0.0.1:$port"
fmt='%t|%p|%o|%k|%s|%h\n'

codecs="none gzip snappy lz4 zstd"
n=300

# expected TOPIC FIRST_OFFSET FIRST LAST: the lines kcat -C prints for
# records FIRST..LAST produced by produce_range.
expected() {
	local t=$1 o=$2
	for ((i = $3; i <= $4; i++)); do
		printf '%s|0|%d|key-%d|value %d: é ü | spaced text %s|h1=one %d,h2=%s\n' \
			"$t" $((o + i - $3)) "$i" "$i" "$(printf 'x%.0s' $(seq 1 $((i % 7))))" "$i" "$t"
	done
}
# produce_range TOPIC CODEC FIRST LAST: keys key-N, values with UTF-8 and
# spaces; headers h1 (per call) and h2 (topic name). kcat -K: splits at the
# first ':', so values may hold more.
produce_range() {
	local t=$1 z=$2
	for ((i = $3; i <= $4; i++)); do
		printf 'key-%d:value %d: é ü | spaced text %s\n' "$i" "$i" "$(printf 'x%.0s' $(seq 1 $((i % 7))))"
	done >"$tmp/in.txt"
	# kcat sends one header set per run: h1 carries the run's first number.
	kcat -b "$bs" -P -t "$t" -p 0 -K: -z "$z" -H "h1=one $3" -H "h2=$t" \
		-X acks=all -X linger.ms=5 -X batch.num.messages=64 \
		-l "$tmp/in.txt" 2>"$tmp/kcat-p.log" || fail "kcat -P $t ($z) failed"
	grep -qi "fail\|error" "$tmp/kcat-p.log" && fail "kcat -P $t ($z) reported: $(cat "$tmp/kcat-p.log")"
	return 0
}
consume() {   # consume TOPIC OFFSET-SPEC -> stdout
	kcat -b "$bs" -C -t "$1" -p 0 -o "$2" -e -q -f "$fmt" 2>"$tmp/kcat-c.log" ||
		fail "kcat -C $1 -o $2 failed: $(cat "$tmp/kcat-c.log")"
}
# Headers are per kcat run, so expected lines are built per run as well.
expected_runs() {  # TOPIC: the runs produce_all made
	expected "$1" 0 0 $((n - 1)) | sed "s/h1=one [0-9]*/h1=one 0/"
	expected "$1" $n $n $((2 * n - 1)) | sed "s/h1=one [0-9]*/h1=one $n/"
}

for z in $codecs; do
	t="k-$z"
	produce_range "$t" "$z" 0 $((n - 1))
done

# Timestamps: wait until the clock has passed every record produced so far,
# so the second run's records are all later than the first's.
mark_ms() { date +%s%3N; }
t_mark=$(( $(mark_ms) + 2 ))
deadline=$((SECONDS + 5))
while [ "$(mark_ms)" -lt "$t_mark" ]; do [ $SECONDS -lt $deadline ] || fail "clock"; done

for z in $codecs; do
	t="k-$z"
	produce_range "$t" "$z" $n $((2 * n - 1))
	expected_runs "$t" >"$tmp/want-$z.txt"
	consume "$t" beginning >"$tmp/got-$z.txt"
	diff -u "$tmp/want-$z.txt" "$tmp/got-$z.txt" >"$tmp/diff.txt" ||
		fail "$t from beginning differs: $(head -20 "$tmp/diff.txt")"
	# From an offset.
	consume "$t" 437 >"$tmp/got-off-$z.txt"
	tail -n +438 "$tmp/want-$z.txt" | diff -u - "$tmp/got-off-$z.txt" >"$tmp/diff.txt" ||
		fail "$t from offset 437 differs: $(head -20 "$tmp/diff.txt")"
	# From a timestamp: exactly the second run (offsets n..).
	consume "$t" "s@$t_mark" >"$tmp/got-ts-$z.txt"
	tail -n +$((n + 1)) "$tmp/want-$z.txt" | diff -u - "$tmp/got-ts-$z.txt" >"$tmp/diff.txt" ||
		fail "$t from timestamp $t_mark differs: $(head -20 "$tmp/diff.txt")"
	echo "kcat $z: $(wc -l <"$tmp/got-$z.txt") records ok"
done

# Restart: everything acknowledged is still there, byte for byte.
stop_broker
start_broker
for z in $codecs; do
	consume "k-$z" beginning >"$tmp/got2-$z.txt"
	diff -u "$tmp/want-$z.txt" "$tmp/got2-$z.txt" >"$tmp/diff.txt" ||
		fail "k-$z after restart differs: $(head -20 "$tmp/diff.txt")"
done
# Produce after the restart continues at the next offset.
produce_range k-none none $((2 * n)) $((2 * n + 9))
consume k-none $((2 * n)) >"$tmp/got3.txt"
expected k-none $((2 * n)) $((2 * n)) $((2 * n + 9)) | sed "s/h1=one [0-9]*/h1=one $((2 * n))/" |
	diff -u - "$tmp/got3.txt" >"$tmp/diff.txt" || fail "produce after restart: $(head -20 "$tmp/diff.txt")"
stop_broker
echo "kcat: ok"
