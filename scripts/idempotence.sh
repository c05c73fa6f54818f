#!/usr/bin/env bash
# idempotence.sh [RECORDS] [KILL_CYCLES] -- the full-size idempotence runs.
#
# The meson suite (`meson test --suite idempotence`) runs the short forms:
# 100k records per producer through the cutting proxy, 20 SIGKILL cycles.
# This runs issue 4's full size: RECORDS (default 1000000) numbered records
# from each of librdkafka (C) and confluent-kafka through
# tests/integration/cut_proxy.py, which cuts a connection right after
# forwarding a Produce request every ~300 ms, then a consumer checks each
# number arrived exactly once and in order per partition; then KILL_CYCLES
# (default 50) SIGKILL/restart cycles of the broker under one producer.
# Uses (and if needed sets up) the build directory $BUILD (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
cycles=${2:-50}
build=${BUILD:-build}
scripts/deps.sh test
[ -f "$build/build.ninja" ] || meson setup "$build"
ninja -C "$build" broker/rewind-broker tests/integration/idem_producer
echo "== $records records per producer through the cutting proxy"
REWIND_IDEM_RECORDS=$records /usr/bin/python3 tests/integration/test_idempotence_proxy.py \
	"$build/broker/rewind-broker" "$build/tests/integration/idem_producer"
echo "== $cycles SIGKILL/restart cycles under one idempotent producer"
REWIND_IDEM_KILL_CYCLES=$cycles /usr/bin/python3 tests/integration/test_idempotence_kill.py \
	"$build/broker/rewind-broker" "$build/tests/integration/idem_producer"
