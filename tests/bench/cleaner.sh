#!/usr/bin/env bash
# cleaner.sh -- log compaction throughput beside fio's sequential write on
# the same disk, and the cleaner map's memory per key.
#
# usage: cleaner.sh [--quick] [--dir DIR] [--bench PATH] [-- BENCH_ARGS...]
#
#   1. runs fio in DIR: sequential write, 1 MiB blocks, one fsync at the end
#      (how a cleaner writes its output: buffered, synced once per segment);
#   2. runs bench_cleaner (tests/bench/bench_cleaner.c) in DIR: builds a log
#      of --versions rounds over --keys keys and times one cleaning pass;
#   3. prints the pass's throughput (log bytes before / pass duration) beside
#      fio's and their ratio, and the map's bytes per key. The bar (issue 8):
#      cleaner >= 0.5 x fio sequential write; map <= 16 bytes per key.
#
# --quick (50k keys, ~10 s) is what `meson test --suite bench` runs: it
# fails only when a program fails, never on a figure. DIR defaults to a new
# directory under $TMPDIR (or /tmp), removed afterwards. BENCH defaults to
# $REWIND_BUILD_ROOT/tests/bench/bench_cleaner.
set -euo pipefail
me=cleaner.sh
. "$(dirname "$0")/bench_lib.sh"

quick=0
dir=""
bench="${REWIND_BUILD_ROOT:-}/tests/bench/bench_cleaner"
bench_args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--quick) quick=1 ;;
	--dir) dir=${2:?--dir needs a directory}; shift ;;
	--bench) bench=${2:?--bench needs the path of bench_cleaner}; shift ;;
	--) shift; bench_args=("$@"); break ;;
	-h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "cleaner.sh: unknown argument '$1'; see 'cleaner.sh --help'" >&2; exit 1 ;;
	esac
	shift
done
if [[ ! -x "$bench" ]]; then
	echo "cleaner.sh: no bench_cleaner program at '$bench'; build it (meson compile -C BUILD)" \
		"and pass --bench BUILD/tests/bench/bench_cleaner" >&2
	exit 1
fi
bench_scratch rewind-bench-cleaner
cleanup() {
	rm -f "$dir"/fio-*
	bench_scratch_drop
}
trap cleanup EXIT

if [[ $quick -eq 1 ]]; then
	fio_size=64m; repeat=1
	bench_args=(--quick "${bench_args[@]}")
else
	fio_size=1g; repeat=3
	bench_args=(--repeat 3 "${bench_args[@]}")
fi

echo "== machine"
echo "nproc: $(nproc); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
df -h "$dir" | sed 's/^/  /'
echo

fio_mb=""
if command -v fio >/dev/null 2>&1; then
	py=/usr/bin/python3
	[[ -x $py ]] || py=$(command -v python3)
	runs=()
	for ((i = 0; i < repeat; i++)); do
		if ! fio --name=seqwrite --directory="$dir" --filename=fio-seq.dat --ioengine=psync \
			--rw=write --bs=1m --size="$fio_size" --end_fsync=1 --output-format=json \
			>"$dir/fio-seq.json" 2>"$dir/fio-seq.err"; then
			echo "cleaner.sh: fio failed: $(head -c 500 "$dir/fio-seq.err")" >&2
			exit 1
		fi
		bw=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["write"]["bw_bytes"])' "$dir/fio-seq.json")
		runs+=("$(awk -v b="$bw" 'BEGIN { printf "%.1f", b / 1e6 }')")
		rm -f "$dir/fio-seq.dat"
		sync
	done
	fio_mb=$(printf '%s\n' "${runs[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	echo "== fio $(fio --version): sequential write, 1 MiB blocks, fsync at end, $fio_size"
	printf '  %10s MB/s  (runs: %s)\n\n' "$fio_mb" "${runs[*]}"
elif [[ $quick -eq 0 ]]; then
	echo "cleaner.sh: fio is not installed (apt-get install fio); the ratio needs it" >&2
	exit 1
else
	echo "note: fio not installed; --quick skips the ratio"
fi

echo "== bench_cleaner ${bench_args[*]}"
results="$dir/fio-bench-results.txt"
if ! "$bench" --dir "$dir/bench" "${bench_args[@]}" >"$results"; then
	cat "$results"
	echo "cleaner.sh: bench_cleaner failed (its message is above); the cleaner is broken" >&2
	exit 1
fi
cat "$results"
clean=$(awk '/^result phase=clean/ { for (i = 1; i <= NF; i++) if ($i ~ /^mb_per_s=/) { sub("mb_per_s=", "", $i); print $i } }' "$results")
cpu=$(awk '/^result phase=clean/ { for (i = 1; i <= NF; i++) if ($i ~ /^cpu_(ms_per_mb|mb_per_s)=/) { sub("^cpu_[a-z_]*=", "", $i); printf "%s ", $i } }' "$results")
perkey=$(awk '/^result phase=map/ { for (i = 1; i <= NF; i++) if ($i ~ /^bytes_per_key=/) { sub("bytes_per_key=", "", $i); print $i } }' "$results")
echo
echo "== summary"
printf '  cleaner pass:        %10s MB/s of log\n' "$clean"
read -r cpu_ms cpu_mbs <<<"$cpu"
printf '  cleaner pass CPU:    %10s ms per MB of log (%s MB/s on one core: what a busy machine hides)\n' "$cpu_ms" "$cpu_mbs"
if [[ -n "$fio_mb" ]]; then
	printf '  fio sequential write:%10s MB/s\n' "$fio_mb"
	awk -v a="$clean" -v b="$fio_mb" 'BEGIN { printf "  ratio: %.2f  (%s)\n", a / b, (a / b >= 0.5 ? "meets 0.50" : "MISSES 0.50") }'
fi
awk -v k="$perkey" 'BEGIN { printf "  map at its load limit: %.2f bytes per key  (%s)\n", k, (k <= 16 ? "meets 16" : "MISSES 16") }'
