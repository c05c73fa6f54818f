#!/usr/bin/env bash
# storage.sh -- storage throughput beside fio's on the same disk.
#
# usage: storage.sh [--quick] [--dir DIR] [--bench PATH] [-- BENCH_ARGS...]
#
#   1. makes sure fio is there (installs Debian's package when missing and we
#      are root; --quick never installs, it skips the fio figures instead);
#   2. runs fio in DIR: sequential write with fdatasync after every write
#      (what a durable append must at least match) and without it, at each
#      batch size the benchmark uses, then a cached sequential read of the
#      file just written;
#   3. runs bench_storage (tests/bench/bench_storage.c) in DIR;
#   4. prints each of its figures beside the matching fio figure and their
#      ratio. The bar (issue): durable append >= 0.9 x fio write-with-fdatasync
#      for 8 partitions and batches of 64 KiB and more; sequential read >=
#      0.9 x fio cached read.
#
# --quick (small sizes, ~20 s) is what `meson test --suite bench` runs: it
# fails only when a program fails, never on a figure. DIR defaults to a new
# directory under $TMPDIR (or /tmp) and is removed afterwards; pass --dir to
# measure another disk. BENCH defaults to bench_storage in the build tree
# ($REWIND_BUILD_ROOT/tests/bench/bench_storage).
set -euo pipefail
me=storage.sh
. "$(dirname "$0")/bench_lib.sh"

quick=0
dir=""
bench="${REWIND_BUILD_ROOT:-}/tests/bench/bench_storage"
bench_args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--quick) quick=1 ;;
	--dir) dir=${2:?--dir needs a directory}; shift ;;
	--bench) bench=${2:?--bench needs the path of bench_storage}; shift ;;
	--) shift; bench_args=("$@"); break ;;
	-h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "storage.sh: unknown argument '$1'; see 'storage.sh --help'" >&2; exit 1 ;;
	esac
	shift
done
if [[ ! -x "$bench" ]]; then
	echo "storage.sh: no bench_storage program at '$bench'; build it (meson compile -C BUILD)" \
		"and pass --bench BUILD/tests/bench/bench_storage" >&2
	exit 1
fi

bench_scratch rewind-bench
cleanup() {
	rm -f "$dir"/fio-*.dat
	bench_scratch_drop
}
trap cleanup EXIT

# Full form: each fio job and each benchmark combination runs 3 times and
# the median counts, because a shared 2-core VM's disk is noisy.
if [[ $quick -eq 1 ]]; then
	fio_size=16m; fio_runtime=3; repeat=1
	batch_list="16k 256k"
	bench_args=(--quick "${bench_args[@]}")
else
	fio_size=1g; fio_runtime=10; repeat=3
	batch_list="16k 64k 256k 1m"
	bench_args=(--repeat 3 "${bench_args[@]}")
fi

# ------------------------------------------------------------ machine
echo "== machine"
echo "nproc: $(nproc)"
free -h | sed 's/^/  /'
df -h "$dir" | sed 's/^/  /'
echo "kernel: $(uname -sr)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data dir: $dir"
echo

# ------------------------------------------------------------ fio
have_fio=1
if ! command -v fio >/dev/null 2>&1; then
	if [[ $quick -eq 0 && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "== installing fio (apt-get)"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fio >/dev/null
	fi
	if ! command -v fio >/dev/null 2>&1; then
		have_fio=0
		if [[ $quick -eq 0 ]]; then
			echo "storage.sh: fio is not installed and could not be installed; run as root" \
				"with apt-get available, or install fio, then retry" >&2
			exit 1
		fi
		echo "note: fio not installed; --quick skips the fio figures (run without --quick as root to install it)"
	fi
fi

# fio_bw JSON_FILE read|write: bandwidth in bytes/s from fio's JSON.
if command -v jq >/dev/null 2>&1; then
	fio_bw() { jq -r ".jobs[0].$2.bw_bytes" "$1"; }
elif [[ -x /usr/bin/python3 ]] || command -v python3 >/dev/null 2>&1; then
	py=/usr/bin/python3
	[[ -x $py ]] || py=$(command -v python3)
	fio_bw() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0][sys.argv[2]]["bw_bytes"])' "$1" "$2"; }
else
	echo "storage.sh: neither jq nor python3 is installed to read fio's JSON; install one (apt-get install jq)" >&2
	exit 1
fi

declare -A fio_mb=()
# run_fio KEY RW ARGS...: runs one fio job in $dir $repeat times, stores the
# median MB/s in fio_mb[KEY]. The job's file is removed after each run (and
# the removal synced, so its discard does not land in the next measurement).
run_fio() {
	local key=$1 rw=$2; shift 2
	local out="$dir/fio-$key.json" runs=() bw
	for ((i = 0; i < repeat; i++)); do
		if ! fio --name="$key" --directory="$dir" --filename="fio-$key.dat" --ioengine=psync \
			--size="$fio_size" --runtime="$fio_runtime" --output-format=json "$@" \
			>"$out" 2>"$dir/fio-$key.err"; then
			echo "storage.sh: fio job $key failed: $(head -c 500 "$dir/fio-$key.err")" >&2
			rm -f "$out"
			return 1
		fi
		bw=$(fio_bw "$out" "$rw")
		runs+=("$(awk -v b="$bw" 'BEGIN { printf "%.1f", b / 1e6 }')")
		if [[ $rw == write ]]; then rm -f "$dir/fio-$key.dat"; sync; fi
	done
	rm -f "$out" "$dir/fio-$key.err"
	fio_mb[$key]=$(printf '%s\n' "${runs[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	printf '  %-22s %10s MB/s  (runs: %s)\n' "$key" "${fio_mb[$key]}" "${runs[*]}"
}

if [[ $have_fio -eq 1 ]]; then
	echo "== fio ($(fio --version)), size $fio_size per job, at most ${fio_runtime}s each"
	fio_failed=0
	for bs in $batch_list; do
		run_fio "write-fdatasync-$bs" write --rw=write --bs="$bs" --fdatasync=1 || fio_failed=1
		run_fio "write-buffered-$bs" write --rw=write --bs="$bs" || fio_failed=1
	done
	# Cached read: write the file, then read it with invalidate=0 so fio
	# does not drop it from the page cache first.
	fio --name=prep --directory="$dir" --filename=fio-read-cached-1m.dat --ioengine=psync --rw=write \
		--bs=1m --size="$fio_size" --output-format=json >/dev/null 2>&1 || fio_failed=1
	run_fio "read-cached-1m" read --rw=read --bs=1m --invalidate=0 || fio_failed=1
	rm -f "$dir/fio-read-cached-1m.dat"
	sync
	if [[ $fio_failed -eq 1 && $quick -eq 0 ]]; then
		echo "storage.sh: a fio job failed (see above); the table would lack its figures" >&2
		exit 1
	fi
	echo
fi

# ------------------------------------------------------------ bench_storage
echo "== bench_storage ${bench_args[*]}"
results="$dir/bench-results.txt"
if ! "$bench" --dir "$dir/bench" "${bench_args[@]}" >"$results"; then
	cat "$results"
	echo "storage.sh: bench_storage failed (its message is above); the storage append or read path is broken" >&2
	exit 1
fi
if ! grep -q '^result phase=append' "$results"; then
	echo "storage.sh: bench_storage printed no results" >&2
	exit 1
fi
grep '^info' "$results" || true
echo

# ------------------------------------------------- same-file read reference
# fio's cached read above reads a file fio wrote in aligned 1 MiB writes.
# How fast the page cache gives bytes back depends on how they were written
# (large folios for large aligned writes, small ones for appends of odd
# sizes), so a second reference reads a segment file storage itself wrote:
# one partition of 64 KiB batches, kept, then read by bench_storage and by
# fio. The ratio between those two is the read path's own cost.
if [[ $have_fio -eq 1 ]]; then
	same="$dir/same-file"
	rm -rf "$same"
	mkdir -p "$same"
	same_bytes=$([[ $quick -eq 1 ]] && echo 64m || echo 1g)
	if "$bench" --dir "$same" --partitions 1 --batch-sizes 64k --modes relaxed \
		--bytes "$same_bytes" --keep >"$same/results.txt" 2>/dev/null; then
		seg=$(find "$same" -name '*.log' -size +1M | head -n 1)
		ours=$(awk '/^result phase=read/ { for (i = 1; i <= NF; i++) if ($i ~ /^mb_per_s=/) { sub("mb_per_s=", "", $i); print $i } }' "$same/results.txt")
		if [[ -n "$seg" && -n "$ours" ]]; then
			runs=()
			for ((i = 0; i < repeat; i++)); do
				fio --name=same --filename="$seg" --readonly --ioengine=psync --rw=read --bs=1m \
					--invalidate=0 --output-format=json >"$same/fio.json" 2>/dev/null || break
				runs+=("$(awk -v b="$(fio_bw "$same/fio.json" read)" 'BEGIN { printf "%.1f", b / 1e6 }')")
			done
			if [[ ${#runs[@]} -gt 0 ]]; then
				ref=$(printf '%s\n' "${runs[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
				echo "== same-file read: storage's own segment file (1 partition, 64 KiB batches)"
				printf '  fio read of it:      %10s MB/s  (runs: %s)\n' "$ref" "${runs[*]}"
				printf '  bench_storage read:  %10s MB/s\n' "$ours"
				awk -v a="$ours" -v b="$ref" 'BEGIN { printf "  ratio: %.2f  (%s)\n\n", a / b, (a / b >= 0.9 ? "meets 0.90" : "MISSES 0.90") }'
			fi
		fi
	else
		echo "storage.sh: same-file reference run failed; skipped" >&2
	fi
	rm -rf "$same"
fi

# ------------------------------------------------------------ table
fio_table=""
for k in "${!fio_mb[@]}"; do fio_table+="$k=${fio_mb[$k]} "; done

echo "== results (MB = 10^6 bytes; ratio = bench / fio; bar: durable, 8 partitions, >= 64 KiB: >= 0.90; read: >= 0.90)"
awk -v fio="$fio_table" '
function human(b) {
	if (b >= 1048576 && b % 1048576 == 0) return (b / 1048576) "m"
	if (b >= 1024 && b % 1024 == 0) return (b / 1024) "k"
	return b
}
function kv(line, key,   n, i, a, f) {
	n = split(line, f, " ")
	for (i = 1; i <= n; i++) {
		split(f[i], a, "=")
		if (a[1] == key) return a[2]
	}
	return ""
}
BEGIN {
	n = split(fio, f, " ")
	for (i = 1; i <= n; i++) { split(f[i], a, "="); F[a[1]] = a[2] }
	printf "%-7s %-7s %5s %5s %8s %15s %10s %8s %-20s %8s %6s  %s\n",
		"phase", "mode", "parts", "batch", "MB/s", "(min-max)", "records/s", "app/sync", "fio job", "fio MB/s", "ratio", "bar"
}
/^result / {
	phase = kv($0, "phase"); mode = kv($0, "mode"); p = kv($0, "partitions"); b = human(kv($0, "batch"))
	mb = kv($0, "mb_per_s")
	if (phase == "append") {
		key = (mode == "durable" ? "write-fdatasync-" : "write-buffered-") b
		rps = kv($0, "records_per_s")
		syncs = kv($0, "syncs") + 0
		aps = syncs > 0 ? sprintf("%.1f", kv($0, "appends") / syncs) : "-"
	} else {
		key = "read-cached-1m"; rps = "-"; aps = "-"
	}
	ref = (key in F) ? F[key] : ""
	ratio = (ref != "" && ref > 0) ? sprintf("%.2f", mb / ref) : "n/a"
	bar = ""
	if (ratio != "n/a" && ((phase == "append" && mode == "durable" && p == 8 && kv($0, "batch") >= 65536) || phase == "read"))
		bar = (ratio >= 0.9) ? "meets" : "MISSES"
	range = kv($0, "mb_per_s_min") "-" kv($0, "mb_per_s_max")
	printf "%-7s %-7s %5s %5s %8s %15s %10s %8s %-20s %8s %6s  %s\n",
		phase, mode, p, b, mb, range, rps, aps, key, (ref == "" ? "n/a" : ref), ratio, bar
}' "$results"
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "raw results:"
grep '^result' "$results" | sed 's/^/  /'
