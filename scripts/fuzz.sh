#!/usr/bin/env bash
# fuzz.sh [SECONDS] [TARGET] -- the long form of the suite's short fuzz runs.
#
# Builds build-fuzz/ with clang, libFuzzer and AddressSanitizer (every
# library with coverage), then runs each target for SECONDS (default 600):
#   request  request decoding (tests/fuzz/fuzz_request.c: the broker's header
#            parse and the generated decoders, with an encode/decode
#            round-trip oracle), seeded with the captured client requests;
#   batch    the record batches a Produce carries (tests/fuzz/fuzz_batch.c:
#            validate, inflate, walk records and headers, rebuild and
#            compare), seeded with librdkafka's batches of every codec.
# TARGET picks one; without it both run, one after the other. New inputs go
# to build-fuzz/corpus_<target>, never to the sources; a crash leaves
# crash-* in the current directory and stops the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
targets=${2:-request batch}
scripts/deps.sh test
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link
fi
for t in $targets; do
	case $t in
	request) seeds=tests/fixtures/requests ;;
	batch) seeds=tests/fixtures/batches ;;
	*) echo "fuzz.sh: unknown target '$t' (request or batch)" >&2; exit 2 ;;
	esac
	ninja -C build-fuzz "tests/fuzz/fuzz_$t"
	mkdir -p "build-fuzz/corpus_$t"
	echo "== fuzz_$t for ${seconds} s"
	"build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
		"build-fuzz/corpus_$t" "$seeds"
done
