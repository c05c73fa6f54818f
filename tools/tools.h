/*
 * tools.h -- the subcommands of the `rewind` program.
 *
 * `rewind` is one program with subcommands (`rewind dump-log FILE...`); each
 * subcommand is one cmd_ entry point in its own file, and tools/rewind.c
 * dispatches to them through a table. This header is the folder's only
 * header: it names the entry points and the helpers they share.
 *
 * Contract of every cmd_ entry point: argv[0] is the subcommand's name and
 * argv[1..argc-1] its arguments; it prints what it finds on stdout and what
 * went wrong on stderr (each line saying what failed and what to try); it
 * returns the process exit status (one of enum cmd_exit) and never calls
 * exit() itself, so a test or another tool may call it in-process.
 *
 * Threads: the entry points are for the main thread of a command-line
 * program (@locality main); they keep no state between calls.
 */
#ifndef REWIND_TOOLS_H
#define REWIND_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses shared by all subcommands. */
enum cmd_exit {
	CMD_EXIT_OK = 0,         /* did what was asked; found nothing wrong */
	CMD_EXIT_ERROR = 1,      /* could not do it: bad usage, unreadable file */
	CMD_EXIT_PROBLEMS = 2,   /* did it, and what it inspected has problems
	                            (torn tail, bad CRC, index anomaly) */
};

/*
 * `rewind dump-log [--records] FILE...`: prints the batches of segment
 * .log files and the entries of .index / .timeindex files, flagging what is
 * wrong with them. Reads the files directly; never opens the log through
 * storage, so it is safe on a directory a broker is using.
 */
int cmd_dump_log(int argc, char **argv);

/*
 * `rewind groups list|describe|reset-offsets|delete|delete-offsets ...`:
 * consumer-group administration through the group coordinator, like
 * Kafka's kafka-consumer-groups (tools/cmd_groups.c, on client/).
 */
int cmd_groups(int argc, char **argv);

/* ------------------------------------------------ shared parsing helpers */
/* tools/time_parse.c. Pure; 0 on success, -1 when s does not parse. */

/* ISO 8601 date-time (YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|+HH[:MM]|-HH[:MM]])
 * to ms since the epoch; no zone means the local zone (TZ), as Kafka's
 * tools read it. Dates before 1970 are refused. */
int cmd_parse_iso8601(const char *s, int64_t *ms_out);
/* Java Duration syntax P[nD][T[nH][nM][n[.f]S]] (Kafka's --by-duration) to
 * ms; at least one part, no sign. */
int cmd_parse_duration(const char *s, int64_t *ms_out);

/* ------------------------------------------------ groups: pure parts */
/* tools/groups_plan.c: the command line and the reset plan of `rewind
 * groups`, kept apart from the network so tests can check them alone. */

enum groups_action {
	GROUPS_NONE = 0,
	GROUPS_LIST,
	GROUPS_DESCRIBE,
	GROUPS_RESET_OFFSETS,
	GROUPS_DELETE,
	GROUPS_DELETE_OFFSETS,
};

/* How reset-offsets picks each partition's new offset. */
enum groups_reset {
	RESET_NONE = 0,
	RESET_EARLIEST,          /* the log start offset */
	RESET_LATEST,            /* the log end offset */
	RESET_OFFSET,            /* value, clamped into [start, end] */
	RESET_SHIFT,             /* committed + value, clamped */
	RESET_DATETIME,          /* first offset with timestamp >= value (ms),
	                            or the log end when none */
	RESET_DURATION,          /* as DATETIME at now - value (ms) */
};

/* One --topic T[:P,P...] argument. */
struct groups_topic {
	const char *topic;       /* borrowed from argv (the part before ':') */
	char *topic_buf;         /* owned copy when the argument held ':' */
	int32_t *partitions;     /* owned; NULL = every partition */
	size_t n_partitions;
};

#define GROUPS_DEFAULT_BOOTSTRAP "localhost:9092"

struct groups_args {
	enum groups_action action;
	bool help;               /* --help given: print the action's help */
	const char *bootstrap;   /* borrowed from argv or the default */
	int timeout_ms;          /* request timeout; 0 = the client's default */
	const char *group;       /* borrowed */
	bool state;              /* list --state */
	/* reset-offsets */
	enum groups_reset reset;
	int64_t value;           /* offset, shift, timestamp ms or duration ms */
	bool execute;            /* --execute (default is --dry-run) */
	bool all_topics;         /* --all-topics */
	struct groups_topic *topics;   /* owned, n_topics */
	size_t n_topics;
};

/*
 * Parses `groups` arguments (argv[0] is "groups"). 0 and *a filled (free
 * with cmd_groups_args_free(), also after a failure), or -1 with a sentence
 * saying what is wrong and what to try in err (errlen bytes). --help
 * anywhere sets a->help and stops checking what else is missing.
 */
int cmd_groups_parse(int argc, char **argv, struct groups_args *a,
		     char *err, size_t errlen);
void cmd_groups_args_free(struct groups_args *a);

/* One partition of a reset plan. */
struct groups_plan_row {
	const char *topic;       /* borrowed */
	int32_t partition;
	int64_t current;         /* committed offset, -1 = none */
	int64_t log_start;
	int64_t log_end;
	int64_t by_time;         /* RESET_DATETIME/DURATION: the ListOffsets
	                            answer for the timestamp, -1 = none */
	int64_t target;          /* OUT: the new offset */
	bool clamped;            /* OUT: the asked offset was outside
	                            [log_start, log_end] and was moved in */
	bool no_current;         /* OUT: RESET_SHIFT without a committed
	                            offset; target is not set */
};

/* Fills target/clamped/no_current of rows[0..n) for (how, value), Kafka's
 * semantics. Returns how many rows have no_current set (0 = a usable
 * plan). Pure. */
size_t cmd_groups_plan(enum groups_reset how, int64_t value,
		       struct groups_plan_row *rows, size_t n);

/* ------------------------------------------------ consume: pure parts */

/*
 * `rewind consume TOPIC`: records of a topic from an offset, a time or a
 * group's commits, printed with a kcat-like format (tools/cmd_consume.c,
 * on client/'s consumer).
 */
int cmd_consume(int argc, char **argv);

/* tools/consume_format.c: kcat's -f format strings (see that file). */
enum consume_fmt_kind {
	FMT_TEXT = 0,            /* literal bytes (escapes already applied) */
	FMT_TOPIC,               /* %t */
	FMT_PARTITION,           /* %p */
	FMT_OFFSET,              /* %o */
	FMT_KEY,                 /* %k */
	FMT_KEY_LEN,             /* %K: -1 for a null key */
	FMT_VALUE,               /* %s */
	FMT_VALUE_LEN,           /* %S: -1 for a null value */
	FMT_VALUE_LEN_BE32,      /* %R: the length as a big-endian int32 */
	FMT_TIMESTAMP,           /* %T: ms since the epoch */
	FMT_HEADERS,             /* %h: name=value,... (NULL for a null value) */
};

struct consume_fmt_item {
	enum consume_fmt_kind kind;
	char *text;              /* FMT_TEXT: owned bytes, len of them */
	size_t len;
};

struct consume_fmt {
	struct consume_fmt_item *items;   /* owned, n */
	size_t n;
};

#define CONSUME_DEFAULT_FORMAT "%s\\n"

struct kp_record;

/* Parses fmt into f (free with cmd_consume_format_free()). 0, or -1 with a
 * sentence in err (errlen bytes) naming the bad token. Pure. */
int cmd_consume_format_parse(const char *fmt, struct consume_fmt *f, char *err,
			     size_t errlen);
void cmd_consume_format_free(struct consume_fmt *f);
/* True when f holds an item of that kind. */
bool cmd_consume_format_uses(const struct consume_fmt *f, enum consume_fmt_kind kind);
/* Writes one record (topic borrowed, rec's views borrowed) as f says to
 * out. 0, or -1 when a write fails or the headers do not parse. */
int cmd_consume_format_write(const struct consume_fmt *f, FILE *out, const char *topic,
			     int32_t partition, const struct kp_record *rec);

#endif /* REWIND_TOOLS_H */
