#!/usr/bin/env bash
# test_dump_log.sh -- integration test of `rewind dump-log`.
#
# usage: test_dump_log.sh REWIND MAKE_LOG
#
# Writes a real partition log through storage (make_log, a small helper
# linked against storage), then checks what `rewind dump-log` prints for its
# .log, .index and .timeindex, with and without --records; then damages
# copies of the files (torn tail, garbage tail, zero tail, flipped byte,
# bad index entries) and checks each damage is named; then the producer
# snapshot written at close, sound and damaged; then checks the errors
# for an unknown file kind and a missing file. Every check says what it
# expected, so a failure reads as a sentence.
set -euo pipefail

REWIND=${1:?usage: test_dump_log.sh REWIND MAKE_LOG}
MAKE_LOG=${2:?usage: test_dump_log.sh REWIND MAKE_LOG}

work=$(mktemp -d "${TMPDIR:-/tmp}/rewind-dump-log.XXXXXX")
trap 'rm -rf "$work"' EXIT

checks=0
fail() {
	echo "FAIL: $*" >&2
	echo "--- stdout of the last command:" >&2
	head -c 4000 "$work/out" >&2 || true
	echo "--- stderr of the last command:" >&2
	head -c 4000 "$work/err" >&2 || true
	exit 1
}
# run CMD...: runs it with stdout/stderr to $work/out, $work/err; sets $rc.
run() {
	set +e
	"$@" >"$work/out" 2>"$work/err"
	rc=$?
	set -e
}
expect_rc() {
	checks=$((checks + 1))
	[[ $rc -eq $1 ]] || fail "$2: expected exit status $1, got $rc"
}
# expect_out PATTERN WHAT: the last stdout matches the fixed string.
expect_out() {
	checks=$((checks + 1))
	grep -qF -- "$1" "$work/out" || fail "$2: stdout lacks '$1'"
}
expect_err() {
	checks=$((checks + 1))
	grep -qF -- "$1" "$work/err" || fail "$2: stderr lacks '$1'"
}
expect_no_out() {
	checks=$((checks + 1))
	if grep -qF -- "$1" "$work/out"; then fail "$2: stdout unexpectedly has '$1'"; fi
}

seg=00000000000000000000

# ------------------------------------------------------------ the program
run "$REWIND" --help
expect_rc 0 "rewind --help"
expect_out "dump-log" "rewind --help lists dump-log"
run "$REWIND" dump-log --help
expect_rc 0 "rewind dump-log --help"
expect_out "usage: rewind dump-log" "dump-log --help"
run "$REWIND" no-such-command
expect_rc 1 "an unknown subcommand"
expect_err "unknown subcommand 'no-such-command'" "an unknown subcommand"
run "$REWIND" dump-log
expect_rc 1 "dump-log with no files"
expect_err "no files given" "dump-log with no files"

# ------------------------------------------------------------ a sound log
good="$work/events-0"
"$MAKE_LOG" "$good" 20 >/dev/null
[[ -s "$good/$seg.log" ]] || fail "make_log wrote no $seg.log in $good"
log_size=$(stat -c %s "$good/$seg.log")

run "$REWIND" dump-log "$good/$seg.log"
expect_rc 0 "dump-log of a sound .log"
expect_out "Dumping $good/$seg.log ($log_size bytes)" "header line"
expect_out "position: 0 baseOffset: 0 lastOffset: 2 count: 3 partitionLeaderEpoch: 7" "first batch"
expect_out "producerId: -1 producerEpoch: -1 baseSequence: -1 isTransactional: false isControl: false" "producer fields"
expect_out "codec: none timestampType: CreateTime baseTimestamp: 1700000000000 maxTimestamp: 1700000000002" "first batch codec and timestamps"
expect_out "baseOffset: 3 lastOffset: 5 count: 3" "second batch"
expect_out "codec: gzip" "the gzip batch"
expect_out "baseOffset: 57 lastOffset: 59 count: 3" "last batch"
expect_out "20 batches, 60 records, $log_size bytes of whole batches" "summary"
expect_no_out "INVALID" "a sound log"
expect_no_out "torn tail" "a sound log"
checks=$((checks + 1))
[[ $(grep -c "crc: valid" "$work/out") -eq 20 ]] || fail "expected 20 batches with 'crc: valid'"
last_pos=$(grep -o '^position: [0-9]*' "$work/out" | tail -n 1 | cut -d' ' -f2)
last_line=$(grep '^position: ' "$work/out" | tail -n 1)
last_size=${last_line##* size: }
last_size=${last_size%% *}

run "$REWIND" dump-log --records "$good/$seg.log"
expect_rc 0 "dump-log --records"
expect_out '| offset: 0 timestamp: 1700000000000 keySize: 5 valueSize: 7 key: "key-0" value: "value-0" headers: ["trace"="t0"]' "first record"
expect_out 'key: "key-4" value: "value-4" headers: ["trace"="t4"]' "a record of the gzip batch"
expect_out 'value: "bin\x00\x01\xff"' "binary bytes are escaped"
expect_out 'keySize: -1 valueSize: -1 key: null value: null' "null key and tombstone"
expect_out '| offset: 59 timestamp: 1700000000059' "last record"
checks=$((checks + 1))
[[ $(grep -c '^| offset: ' "$work/out") -eq 60 ]] || fail "expected 60 record lines with --records"

run "$REWIND" dump-log --print-data-log "$good/$seg.log"
expect_rc 0 "--print-data-log is --records"
expect_out 'key: "key-1"' "--print-data-log prints records"

for kind in index timeindex; do
	[[ -e "$good/$seg.$kind" ]] || fail "make_log left no $seg.$kind after closing the log"
done
run "$REWIND" dump-log "$good/$seg.index"
expect_rc 0 "dump-log of a sound .index"
expect_out "Checking against $good/$seg.log" "the .index is checked against its .log"
expect_out "offset: " "index entries"
expect_no_out "anomaly" "a sound .index"
run "$REWIND" dump-log "$good/$seg.timeindex"
expect_rc 0 "dump-log of a sound .timeindex"
expect_out "timestamp: 17000000000" "time index entries"
expect_no_out "anomaly" "a sound .timeindex"

run "$REWIND" dump-log "$good"
expect_rc 0 "dump-log of a partition directory"
expect_out "Dumping $good/$seg.index" "directory: the .index"
expect_out "Dumping $good/$seg.log" "directory: the .log"
expect_out "Dumping $good/$seg.timeindex" "directory: the .timeindex"

# ------------------------------------------------------------ damaged logs
# A torn write: the last batch lacks its final 10 bytes.
torn="$work/torn-0"
cp -r "$good" "$torn"
truncate -s -10 "$torn/$seg.log"
run "$REWIND" dump-log "$torn/$seg.log"
expect_rc 2 "a torn tail is a problem"
expect_out "torn tail at position $last_pos: batch of $last_size bytes (baseOffset 57) runs past the end of the file: only $((last_size - 10)) bytes remain" "torn last batch"
expect_out "19 batches, 57 records, $last_pos bytes of whole batches" "batches before the torn tail"
# The index now points into the torn tail: flagged too (the last entry may
# or may not be there, so only the exit status is sure).
run "$REWIND" dump-log "$torn/$seg.index"
[[ $rc -eq 0 || $rc -eq 2 ]] || fail "index beside a torn log: exit $rc"

# Garbage after the last batch.
garb="$work/garbage-0"
cp -r "$good" "$garb"
printf 'this is not a record batch, just text that a bad write left at the end\n' >>"$garb/$seg.log"
run "$REWIND" dump-log "$garb/$seg.log"
expect_rc 2 "a garbage tail is a problem"
expect_out "torn tail at position $log_size: magic byte is " "garbage tail"
expect_out "expected 2;" "garbage tail names the magic"

# Too few bytes for even a batch's offset and length.
short="$work/short-0"
cp -r "$good" "$short"
printf 'abc' >>"$short/$seg.log"
run "$REWIND" dump-log "$short/$seg.log"
expect_rc 2 "a 3-byte tail is a problem"
expect_out "torn tail at position $log_size: 3 trailing bytes, fewer than a batch's 12-byte offset and length" "3-byte tail"

# Zero-filled space after the last batch (preallocation, lost write).
zero="$work/zero-0"
cp -r "$good" "$zero"
head -c 4096 /dev/zero >>"$zero/$seg.log"
run "$REWIND" dump-log "$zero/$seg.log"
expect_rc 2 "a zero tail is a problem"
expect_out "torn tail at position $log_size: magic byte is 0, expected 2 (all zero bytes to the end of the file)" "zero tail"

# One flipped byte inside the first batch: CRC mismatch, dump goes on.
flip="$work/flip-0"
cp -r "$good" "$flip"
at=$(grep -obUaF "value-1" "$flip/$seg.log" | head -n 1 | cut -d: -f1)
[[ -n "$at" ]] || fail "cannot find 'value-1' in the log to damage it"
printf 'W' | dd of="$flip/$seg.log" bs=1 seek="$at" conv=notrunc status=none
run "$REWIND" dump-log --records "$flip/$seg.log"
expect_rc 2 "a flipped byte is a problem"
expect_out "position: 0 baseOffset: 0 lastOffset: 2" "the damaged batch is still shown"
expect_out "crc: INVALID (stored 0x" "CRC mismatch"
expect_out ", computed 0x" "CRC mismatch shows the computed CRC"
expect_out 'value: "Walue-1"' "the damaged record"
expect_out "20 batches, 60 records" "the dump goes on after a CRC mismatch"
expect_out "1 problem found in $flip/$seg.log" "one problem counted"

# ------------------------------------------------------------ bad indexes
bad="$work/badindex-0"
cp -r "$good" "$bad"
# entries: (0, 0) sound; (5, 2^30) past the .log; (3, 100) goes back.
printf '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x40\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64' >"$bad/$seg.index"
run "$REWIND" dump-log "$bad/$seg.index"
expect_rc 2 "a bad .index is a problem"
expect_out "offset: 5 position: 1073741824" "entries are printed"
expect_out "anomaly: entry 1 position 1073741824 is beyond the end of $bad/$seg.log ($log_size bytes)" "position past the .log"
expect_out "anomaly: entry 2 offset 3 is not above the previous entry's 5" "offset going back"
expect_out "anomaly: entry 2 position 100 is not above the previous entry's 1073741824" "position going back"
expect_out "anomaly: entry 2 position 100 is not the start of a batch" "position inside a batch"
# An entry at a batch's position but with another offset.
printf '\x00\x00\x00\x01\x00\x00\x00\x00' >"$bad/$seg.index"
run "$REWIND" dump-log "$bad/$seg.index"
expect_rc 2 "an index entry naming the wrong offset is a problem"
expect_out "anomaly: entry 0 offset 1 is not the baseOffset of the batch at position 0 (offsets 0..2)" "offset not the batch's base"
# A trailing partial entry.
printf '\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03' >"$bad/$seg.index"
run "$REWIND" dump-log "$bad/$seg.index"
expect_rc 2 "a partial index entry is a problem"
expect_out "anomaly: 3 trailing bytes, not a whole 8-byte entry" "partial entry"
# Without the .log beside it, positions cannot be checked, and it says so.
lone="$work/lone"
mkdir "$lone"
printf '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x40\x00\x00\x00' >"$lone/$seg.index"
run "$REWIND" dump-log "$lone/$seg.index"
expect_rc 0 "an index without its .log"
expect_out "No $lone/$seg.log beside it" "missing .log is noted"

# timeindex: (ts ..002, offset 0) is sound (batch 0's maxTimestamp);
# (ts ..001, offset 3) goes back in time and is not batch 3's maxTimestamp;
# (ts ..090, offset 500) is past the log's end; (ts ..095, offset 10) goes
# back in offsets and names no batch's base offset.
printf '\x00\x00\x01\x8b\xcf\xe5\x68\x02\x00\x00\x00\x00\x00\x00\x01\x8b\xcf\xe5\x68\x01\x00\x00\x00\x03\x00\x00\x01\x8b\xcf\xe5\x68\x5a\x00\x00\x01\xf4\x00\x00\x01\x8b\xcf\xe5\x68\x5f\x00\x00\x00\x0a' >"$bad/$seg.timeindex"
run "$REWIND" dump-log "$bad/$seg.timeindex"
expect_rc 2 "a bad .timeindex is a problem"
expect_out "timestamp: 1700000000002 offset: 0" "time index entries are printed"
expect_no_out "anomaly: entry 0" "a sound time index entry"
expect_out "anomaly: entry 1 timestamp 1700000000001 is not above the previous entry's 1700000000002" "timestamp going back"
expect_out "anomaly: entry 1 timestamp 1700000000001 differs from the maxTimestamp 1700000000005 of the batch at offset 3" "timestamp not the batch's"
expect_out "anomaly: entry 2 offset 500 is beyond the last offset in $bad/$seg.log (59)" "offset past the log"
expect_out "anomaly: entry 3 offset 10 is below the previous entry's 500" "offset going back"
expect_out "anomaly: entry 3 offset 10 is not the baseOffset of a batch in $bad/$seg.log" "offset inside a batch"

# ------------------------------------------------------- producer snapshot
# make_log's last batch (offsets 57-59) is from idempotent producer 4242;
# the clean close wrote the producer state at the log end.
snap="$good/00000000000000000060.snapshot"
[[ -s "$snap" ]] || fail "make_log left no producer snapshot at the log end"
run "$REWIND" dump-log "$snap"
expect_rc 0 "dump-log of a sound .snapshot"
expect_out "producer state below offset 60: 1 producer" "snapshot header"
expect_out "producerId: 4242 producerEpoch: 3 lastSequence: 2 lastTimestamp: 1700000000019 batches: [seq 0-2 offsets 57-59]" "the producer"
run "$REWIND" dump-log "$good"
expect_out "Dumping $snap" "a directory dump includes the snapshot"
cp "$snap" "$work/flipped.snapshot"
printf 'X' | dd of="$work/flipped.snapshot" bs=1 seek=40 conv=notrunc status=none
run "$REWIND" dump-log "$work/flipped.snapshot"
expect_rc 2 "a snapshot with a flipped byte"
expect_out "corrupt snapshot" "the flipped byte is found by the checksum"
head -c 20 "$snap" > "$work/short.snapshot"
run "$REWIND" dump-log "$work/short.snapshot"
expect_rc 2 "a short snapshot"
expect_out "corrupt snapshot" "a short snapshot"

# ------------------------------------------------------------ errors
touch "$work/notes.txt"
run "$REWIND" dump-log "$work/notes.txt"
expect_rc 1 "an unknown file kind"
expect_err "notes.txt: unknown file kind" "unknown file kind"
expect_err ".log (record batches), .index (offset index), .timeindex (time index) or .snapshot (producer state)" "known suffixes are listed"

run "$REWIND" dump-log "$work/nowhere/$seg.log"
expect_rc 1 "a missing file"
expect_err "cannot open $work/nowhere/$seg.log: No such file or directory; check the path" "missing file"

# A missing file among sound ones: the others are still dumped.
run "$REWIND" dump-log "$good/$seg.log" "$work/missing.log"
expect_rc 1 "one missing file among several"
expect_out "20 batches, 60 records" "the sound file is still dumped"

run "$REWIND" dump-log --bogus "$good/$seg.log"
expect_rc 1 "an unknown option"
expect_err "unknown option '--bogus'" "unknown option"

echo "test_dump_log: $checks checks passed"
