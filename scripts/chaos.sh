#!/usr/bin/env bash
# chaos.sh [SECONDS] [BUILD] -- the long form of the suite's broker_chaos.
#
# Runs tests/integration/test_chaos.py for SECONDS (default 600) against
# BUILD/broker/rewind-broker; BUILD defaults to build-asan/ (AddressSanitizer
# and UBSan, configured here as scripts/test.sh does when missing), so a
# race that corrupts memory shows as a report, not as luck. Many clients at
# once, some rude: producers and a live consumer on stable topics, topics
# created, grown, reconfigured and deleted under load, consumer groups
# coming and going, cut-off frames and vanishing clients. Every
# acknowledged record must be read back in order, before and after a
# restart, and the broker must log no ERROR line. A failure prints the end
# of the broker's log; REWIND_KEEP_TMP=1 keeps its data dir and whole log.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
build=${2:-build-asan}
scripts/deps.sh test
if [ ! -f "$build/build.ninja" ]; then
	if [ "$build" = build-asan ]; then
		meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	else
		meson setup "$build"
	fi
fi
ninja -C "$build" broker/rewind-broker
exec /usr/bin/python3 tests/integration/test_chaos.py "$build/broker/rewind-broker" "$seconds"
