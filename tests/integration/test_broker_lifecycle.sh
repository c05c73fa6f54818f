#!/usr/bin/env bash
# test_broker_lifecycle.sh BROKER -- rewind-broker start, refusal and shutdown.
#
# Starts the broker on a temporary data dir, checks that it opens and
# recovers partition directories, refuses bad configuration by name, refuses
# a second broker on the same data (directory lock), and on SIGTERM closes
# every log cleanly (clean-shutdown marker written, exit status 0); then
# runs on Kafka 3's and Kafka 4's own server.properties. Only processes this
# script started are signalled, by PID.
set -euo pipefail
broker=$1
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do [ -f "$f" ] && sed 's/^/  | /' "$f" >&2; done; exit 1; }

# wait_for FILE PATTERN: polls FILE for PATTERN for at most 20 s.
wait_for() {
	local deadline=$((SECONDS + 20))
	until grep -q "$2" "$1" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "timed out waiting for '$2' in $1"
		sleep 0.05
	done
}

# Free ports picked by the kernel (port 0), so parallel runs never collide.
net="--set listeners=PLAINTEXT://127.0.0.1:0 --set metrics.listener=127.0.0.1:0"

mkdir -p "$tmp/data/events-0" "$tmp/data/events-1" "$tmp/data/stray"

# 1. Unknown and malformed keys are refused with their names, before any I/O.
if "$broker" --set log.dirs="$tmp/data" --set log.segmnet.bytes=1 2>"$tmp/bad.log"; then
	fail "unknown key accepted"
fi
grep -q "log.segmnet.bytes" "$tmp/bad.log" || fail "unknown key not named"
if "$broker" --set log.dirs="$tmp/data" --set log.retention.ms=soon 2>"$tmp/bad2.log"; then
	fail "malformed value accepted"
fi
grep -q "log.retention.ms=soon" "$tmp/bad2.log" || fail "malformed value not named"
printf 'log.dirs=%s\nbogus.key=1\n' "$tmp/data" >"$tmp/broker.conf"
if "$broker" --config "$tmp/broker.conf" 2>"$tmp/bad3.log"; then
	fail "unknown key in file accepted"
fi
grep -q "broker.conf:2: .*bogus.key" "$tmp/bad3.log" || fail "file line not named"

# 2. Start: partitions opened, the stray directory named and left alone.
"$broker" --set log.dirs="$tmp/data" $net 2>"$tmp/a.log" &
pids+=($!)
apid=$!
wait_for "$tmp/a.log" " ready"
grep -q "2 partitions" "$tmp/a.log" || fail "did not open both partitions"
grep -q "ignoring stray" "$tmp/a.log" || fail "stray directory not reported"

# 3. A second broker on the same data is refused by the directory lock.
if "$broker" --set log.dirs="$tmp/data" $net 2>"$tmp/b.log"; then
	fail "second broker opened locked logs"
fi
grep -qi "lock" "$tmp/b.log" || fail "second broker did not say the log is locked"
kill -0 "$apid" || fail "first broker died"

# 4. SIGTERM: clean close, markers written, exit 0.
kill -TERM "$apid"
wait "$apid" || fail "broker exited with status $?"
grep -q "all partitions closed cleanly" "$tmp/a.log" || fail "no clean close line"
[ -e "$tmp/data/events-0/.clean-shutdown" ] || fail "no clean-shutdown marker"
[ -d "$tmp/data/stray" ] || fail "stray directory touched"

# 5. The next start trusts the clean marker, and says that a broker-wide
#    min.insync.replicas above 1 cannot be met by one node.
"$broker" --set log.dirs="$tmp/data" --set min.insync.replicas=2 $net 2>"$tmp/c.log" &
pids+=($!)
cpid=$!
wait_for "$tmp/c.log" " ready"
grep -q "events-0: clean" "$tmp/c.log" || fail "restart did not see the clean marker"
grep -q "WARN min.insync.replicas=2: this node is its partitions' only replica" "$tmp/c.log" ||
	fail "no warning that min.insync.replicas=2 refuses acks=all"
grep -q "WARN min.insync" "$tmp/a.log" && fail "a warning about min.insync.replicas at its default"
kill -INT "$cpid"
wait "$cpid" || fail "broker exited with status $? on SIGINT"

# 6. Kafka's own server.properties: its zookeeper.* lines are refused with
#    the reason; without them it runs, says which keys change nothing here,
#    and applies its socket buffer sizes to accepted connections (ss shows
#    the kernel's doubled SO_RCVBUF/SO_SNDBUF as rb/tb).
fixture="${REWIND_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/fixtures/kafka-3-server.properties"
{ cat "$fixture"; printf 'zookeeper.connect=localhost:2181\n'; } >"$tmp/zk.properties"
if "$broker" --config "$tmp/zk.properties" --set log.dirs="$tmp/data" $net 2>"$tmp/zk.log"; then
	fail "zookeeper.connect accepted"
fi
grep -q "zk.properties:[0-9]*: zookeeper.connect: not supported: .*ZooKeeper" "$tmp/zk.log" ||
	fail "zookeeper.connect not refused with its reason"
"$broker" --config "$fixture" --set log.dirs="$tmp/data" $net \
	--set socket.send.buffer.bytes=24000 --set socket.receive.buffer.bytes=40000 2>"$tmp/k.log" &
pids+=($!)
kpid=$!
wait_for "$tmp/k.log" " ready"
for key in num.io.threads transaction.state.log.replication.factor transaction.state.log.min.isr; do
	grep -q "INFO $key: accepted as in Kafka, with no effect in rewind: " "$tmp/k.log" ||
		fail "no start-up line for $key"
done
port=$(grep -o "listening on 127.0.0.1:[0-9]*" "$tmp/k.log" | grep -o "[0-9]*$")
exec 3<>"/dev/tcp/127.0.0.1/$port"
skmem=""
for _ in $(seq 100); do
	skmem=$(ss -tmnH state established "( sport = :$port )" | grep -o "skmem:([^)]*)" || true)
	[ -n "$skmem" ] && break
	sleep 0.05
done
exec 3>&-
case "$skmem" in
*rb80000,*tb48000,*) ;;
*) fail "accepted connection's buffers: '$skmem', want rb80000 and tb48000" ;;
esac
kill -TERM "$kpid"
wait "$kpid" || fail "broker exited with status $? (Kafka's server.properties)"

# 7. Kafka 4's server.properties (KRaft, broker and controller in one node),
#    its two listeners moved to free loopback ports: the CONTROLLER one is
#    not opened, the quorum and inter-broker keys are named as changing
#    nothing, and Metadata advertises the PLAINTEXT listener.
"$broker" --config "${fixture%kafka-3-server.properties}kafka-4-server.properties" \
	--set log.dirs="$tmp/data" --set metrics.listener= --set advertised.listeners= \
	--set listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0 2>"$tmp/k4.log" &
pids+=($!)
k4pid=$!
wait_for "$tmp/k4.log" " ready"
[ "$(grep -c "listening on" "$tmp/k4.log")" = 1 ] || fail "Kafka 4's file: not exactly one listener open"
grep -q "listener CONTROLLER://127.0.0.1:0: not opened: controller.listener.names names it" "$tmp/k4.log" ||
	fail "the controller listener was not skipped with its reason"
for key in inter.broker.listener.name controller.quorum.bootstrap.servers \
	share.coordinator.state.topic.replication.factor; do
	grep -q "INFO $key: accepted as in Kafka, with no effect in rewind: " "$tmp/k4.log" ||
		fail "no start-up line for $key"
done
port=$(grep -o "listening on 127.0.0.1:[0-9]*" "$tmp/k4.log" | grep -o "[0-9]*$")
kcat -b "127.0.0.1:$port" -L -m 10 2>&1 | grep -q "broker 1 at 127.0.0.1:$port" ||
	fail "Metadata does not advertise the PLAINTEXT listener as node 1"
kill -TERM "$k4pid"
wait "$k4pid" || fail "broker exited with status $? (Kafka 4's server.properties)"
echo "broker lifecycle: ok"
