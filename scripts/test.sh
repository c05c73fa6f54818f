#!/usr/bin/env bash
# test.sh -- install what is missing, build, and run every test twice:
# once in a normal build (build/) and once under AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/); then the fuzz targets' short runs
# in build-fuzz/ (clang, libFuzzer). Long soak, fuzz and benchmark runs
# have their own commands (see README); their short forms run here.
#
# Prints one closing line "tests: N passed, N failed, N skipped" over both runs
# and exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test

# meson test -C DIR [args] with a fresh configure when DIR has none.
run_build() {
	local dir=$1; shift
	local setup_args=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do setup_args+=("$1"); shift; done
	shift || true
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "${setup_args[@]}"
	fi
	# A target that does not build is a failure even if no test needs it.
	if ! ninja -C "$dir"; then
		echo "== $dir: the build failed" >&2
		return 1
	fi
	echo "== meson test in $dir"
	local rc=0
	meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || rc=$?
	return $rc
}

# Counts results in a build's testlog.json: "passed failed skipped".
count_results() {
	/usr/bin/python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
with open(sys.argv[1]) as fh:
    for line in fh:
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"): p += 1
        elif r == "SKIP": s += 1
        else: f += 1
print(p, f, s)
PY
}

# Names each test of a build's testlog.json that did not pass, with the end
# of its output: CI shows only the end of the whole log, and meson's own
# error logs scroll past long before it.
report_failures() {
	[ -f "$1/meson-logs/testlog.json" ] || return 0
	/usr/bin/python3 - "$1" <<'PY'
import json, sys
with open(sys.argv[1] + "/meson-logs/testlog.json") as fh:
    for line in fh:
        r = json.loads(line)
        if r.get("result") in ("OK", "EXPECTEDFAIL", "SKIP"):
            continue
        print("== %s: %s %s (exit %s, %.0f s); the end of its output:"
              % (sys.argv[1], r.get("name"), r.get("result"), r.get("returncode"),
                 r.get("duration") or 0))
        out = (r.get("stdout") or "") + (r.get("stderr") or "")
        for l in out.splitlines()[-30:]:
            print("   | " + l[:300])
PY
}

status=0
run_build build -- || status=1
read -r p1 f1 s1 < <(count_results build)
# The sanitizer run skips the benchmark short forms: timing under ASan says
# nothing, and their code paths are covered by the unit tests.
run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false -- \
	--no-suite bench || status=1
read -r p2 f2 s2 < <(count_results build-asan)

# The fuzz targets' short runs: clang with libFuzzer, every library built
# with coverage (fuzzer-no-link) under AddressSanitizer; only suite fuzz.
p3=0 f3=0 s3=0
if command -v clang >/dev/null; then
	CC=clang run_build build-fuzz -Dfuzz=true -Db_sanitize=address -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link -- --suite fuzz || status=1
	read -r p3 f3 s3 < <(count_results build-fuzz)
fi

for dir in build build-asan build-fuzz; do report_failures "$dir"; done
echo "normal build: $p1 passed, $f1 failed, $s1 skipped"
echo "asan+ubsan build: $p2 passed, $f2 failed, $s2 skipped"
echo "fuzz build: $p3 passed, $f3 failed, $s3 skipped"
echo "tests: $((p1 + p2 + p3)) passed, $((f1 + f2 + f3)) failed, $((s1 + s2 + s3)) skipped"
exit $status
