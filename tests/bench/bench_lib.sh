# bench_lib.sh -- what the bench scripts (broker.sh, client.sh, cleaner.sh,
# storage.sh) share; sourced, never run. Uses the caller's $me (the
# script's name, for messages) and $broker (the rewind-broker program);
# sets bpid and bootstrap. Only the broker started here is signalled, by
# its PID.

# bench_scratch NAME: the scratch directory $dir -- the caller's --dir, or
# a new NAME.XXXXXX under $TMPDIR (own_dir=1: bench_scratch_drop removes
# it at the end, a --dir given is left).
bench_scratch() {
	own_dir=0
	if [[ -z "$dir" ]]; then
		dir=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
		own_dir=1
	fi
	mkdir -p "$dir"
}
bench_scratch_drop() {
	if [[ $own_dir -eq 1 ]]; then rm -rf "$dir"; fi
}

# median: the median of the numbers on stdin, one a line ("" for none).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "" }'; }
# kv KEY: the value of KEY=... in the result line on stdin.
kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }'; }

# bench_start_broker DIR [--set K=V ...]: rewind-broker with its data in
# DIR/data and its log in DIR/broker.log, on a free port; waits up to 20 s
# for " ready" (exits 1 with the log's tail when it does not come); sets
# bpid and bootstrap.
bench_start_broker() {
	local d=$1
	shift
	"$broker" --set log.dirs="$d/data" --set listeners=PLAINTEXT://127.0.0.1:0 "$@" \
		2>"$d/broker.log" &
	bpid=$!
	local deadline=$((SECONDS + 20))
	until grep -q ' ready' "$d/broker.log" 2>/dev/null; do
		if ! kill -0 "$bpid" 2>/dev/null || [[ $SECONDS -ge $deadline ]]; then
			echo "$me: rewind-broker did not start; its log:" >&2
			tail -n 20 "$d/broker.log" >&2
			exit 1
		fi
		sleep 0.05
	done
	bootstrap=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$d/broker.log" | head -n 1)
}

# bench_stop_broker DIR: SIGTERM to $bpid and wait; exits 1, naming the
# log in DIR, when the broker's exit status is not 0.
bench_stop_broker() {
	kill -TERM "$bpid"
	if ! wait "$bpid"; then
		bpid=""
		echo "$me: rewind-broker exited with an error; its log: $1/broker.log" >&2
		exit 1
	fi
	bpid=""
}
