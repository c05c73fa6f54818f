#!/usr/bin/env bash
# soak.sh [CYCLES] -- the long forms of the suite's short crash loops.
#
# Runs tests/crash/crash_append with CYCLES kill -9 cycles (default 500) for
# each storage writer backend (io_uring, then pwrite). Each cycle appends
# from a child process, SIGKILLs it at a random moment, recovers the logs and
# checks that every acknowledged batch is present and intact. Then the same
# for tests/crash/crash_cleaner: each cycle kills a child 0-3 ms into a log
# compaction pass and checks that recovery finished or rolled back the swap
# and no acknowledged latest value of a key was lost. The seed is printed;
# REWIND_TEST_SEED=N replays one.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-500}
scripts/deps.sh test
[ -f build/build.ninja ] || meson setup build
ninja -C build tests/crash/crash_append tests/crash/crash_cleaner
for backend in 1 0; do
	echo "== crash_append, $cycles cycles, REWIND_IO_URING=$backend"
	REWIND_IO_URING=$backend REWIND_CRASH_CYCLES=$cycles build/tests/crash/crash_append
done
for backend in 1 0; do
	echo "== crash_cleaner, $cycles cycles, REWIND_IO_URING=$backend"
	REWIND_IO_URING=$backend REWIND_CRASH_CYCLES=$cycles build/tests/crash/crash_cleaner
done
