#!/usr/bin/env bash
# test_rdkafka.sh BROKER CLIENT -- the librdkafka C program against the broker.
#
# Starts rewind-broker on a free 127.0.0.1 port with a temporary data dir and
# runs rdkafka_client (tests/integration/rdkafka_client.c): admin create and
# delete, acks=all producer with delivery reports, consumer by assign and
# seek, offsets for times, DeleteRecords (the topic's compression.type is
# lz4 and the producer sends zstd, so every batch is recompressed on the
# way in). Only the broker this script started is signalled, by PID.
set -euo pipefail
broker=$1
client=$2
tmp=$(mktemp -d)
bpid=
cleanup() {
	[ -n "$bpid" ] && kill -KILL "$bpid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	[ -f "$tmp/broker.log" ] && tail -n 40 "$tmp/broker.log" | sed 's/^/  | /' >&2
	exit 1
}
wait_for() {
	local deadline=$((SECONDS + 20))
	until grep -q "$2" "$1" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "timed out waiting for '$2' in $1"
		sleep 0.05
	done
}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$broker" --set log.dirs="$tmp/data" --set listeners="PLAINTEXT://127.0.0.1:$port" \
	--set metrics.listener= 2>"$tmp/broker.log" &
bpid=$!
wait_for "$tmp/broker.log" " ready"

"$client" "127.0.0.1:$port" rdk-test || fail "rdkafka_client failed"
kill -TERM "$bpid"
wait "$bpid" || fail "broker exited with status $?"
bpid=
# A sanitizer build reports here (UBSan's reports are not fatal).
! grep -q "runtime error:\|AddressSanitizer\|LeakSanitizer" "$tmp/broker.log" ||
	fail "sanitizer report in the broker log"
echo "rdkafka client: ok"
