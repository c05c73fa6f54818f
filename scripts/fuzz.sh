#!/usr/bin/env bash
# fuzz.sh [SECONDS] -- the long form of the suite's short fuzz run.
#
# Builds build-fuzz/ with clang, libFuzzer and AddressSanitizer (every
# library with coverage), then fuzzes request decoding (tests/fuzz/
# fuzz_request.c: the broker's header parse and the generated decoders, with
# an encode/decode round-trip oracle) for SECONDS (default 600), seeded with
# the captured client requests. New inputs go to build-fuzz/corpus_request,
# never to the sources; a crash leaves crash-* in the current directory.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
scripts/deps.sh test
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link
fi
ninja -C build-fuzz tests/fuzz/fuzz_request
mkdir -p build-fuzz/corpus_request
exec build-fuzz/tests/fuzz/fuzz_request -max_total_time="$seconds" -rss_limit_mb=2048 \
	build-fuzz/corpus_request tests/fixtures/requests
