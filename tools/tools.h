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

/*
 * `rewind topics create|list|describe|alter|delete ...`: topic
 * administration, like Kafka's kafka-topics and kafka-configs for topics
 * (tools/cmd_topics.c, on client/).
 */
int cmd_topics(int argc, char **argv);

/*
 * `rewind gen-events`: the streaming-service workload (play, pause and
 * rebuffer events as KEY<sep>JSON lines on stdout), deterministic for a
 * seed (tools/cmd_gen_events.c on tools/gen_events.c).
 */
int cmd_gen_events(int argc, char **argv);

/* ------------------------------------------------ opening the cluster */
/* tools/client_open.c. */

struct cl_client;
struct cl_opts;
/*
 * A blocking client for `bootstrap` (client/client.h), connected: 0 and *out
 * (caller frees with cl_client_free()), or -1 with *out NULL and err
 * (errlen bytes) holding the sentence to print after the tool's name: what
 * failed, at which address, and what to try.
 */
int cmd_client_open(const char *bootstrap, const struct cl_opts *opts, struct cl_client **out,
		    char *err, size_t errlen);

/* ------------------------------------------------ shared parsing helpers */
/* tools/time_parse.c. Pure; 0 on success, -1 when s does not parse. */

/* ISO 8601 date-time (YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|+HH[:MM]|-HH[:MM]])
 * to ms since the epoch; no zone means the local zone (TZ), as Kafka's
 * tools read it. Dates before 1970 are refused. */
int cmd_parse_iso8601(const char *s, int64_t *ms_out);
/* Java Duration syntax P[nD][T[nH][nM][n[.f]S]] (Kafka's --by-duration) to
 * ms; at least one part, no sign. */
int cmd_parse_duration(const char *s, int64_t *ms_out);

/* ------------------------------------------------ argument helpers */
/* tools/args.c, shared by the parsers below. Pure. */

/* Writes a sentence into err (errlen bytes, may be 0); returns -1. */
int cmd_perr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* True when arg is "--name" or "--name=...". */
bool cmd_is_opt(const char *arg, const char *name);
/* The value of option `name` at argv[*i]: "--name=V" or "--name V" (then
 * *i moves past V). NULL with "NAME needs a value" in err when missing. */
const char *cmd_opt_value(int argc, char **argv, int *i, const char *name, char *err,
			  size_t errlen);

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

/* ------------------------------------------------ tables (tools/table.c) */

#define CMD_TABLE_MAX_COLS 16

/* Rows of strings printed with aligned columns. */
struct cmd_table {
	size_t ncols;            /* at most CMD_TABLE_MAX_COLS */
	size_t nrows;
	size_t cap;
	char **cells;            /* nrows * ncols, owned */
	bool oom;                /* a row was dropped for want of memory */
};

void cmd_table_init(struct cmd_table *t, size_t ncols);
/* Appends a row of t->ncols cells (const char *, copied; NULL shows "-"). */
void cmd_table_row(struct cmd_table *t, ...);
void cmd_table_print(const struct cmd_table *t, FILE *out);
void cmd_table_free(struct cmd_table *t);

/* ------------------------------------------------ topics: pure parts */
/* tools/topics_args.c: the command line of `rewind topics` and the
 * formatters its output uses. */

enum topics_action {
	TOPICS_NONE = 0,
	TOPICS_CREATE,
	TOPICS_LIST,
	TOPICS_DESCRIBE,
	TOPICS_ALTER,
	TOPICS_DELETE,
};

#define TOPICS_DEFAULT_BOOTSTRAP "localhost:9092"

/* One --config KEY=VALUE, split (both owned). */
struct topics_kv {
	char *key;
	char *value;
};

struct topics_args {
	enum topics_action action;
	bool help;               /* --help given: print the action's help */
	const char *bootstrap;   /* borrowed from argv or the default */
	int timeout_ms;          /* 0 = the client's default */
	bool json;               /* --json: one JSON document on stdout */
	const char **names;      /* owned array of borrowed topic names */
	size_t n_names;
	int32_t partitions;      /* --partitions, -1 = not given */
	int16_t replication_factor; /* --replication-factor, -1 = not given */
	struct topics_kv *configs;  /* owned, n_configs */
	size_t n_configs;
	const char **delete_configs; /* owned array of borrowed keys */
	size_t n_delete_configs;
	bool if_not_exists;      /* create: an existing topic is fine */
	bool if_exists;          /* delete/alter: a missing topic is fine */
	bool validate_only;      /* create/alter: ask the broker to check only */
	bool internal;           /* list/describe: include internal topics */
	bool long_list;          /* list --long: partitions and size */
};

/*
 * Parses `topics` arguments (argv[0] is "topics"). 0 and *a filled (free
 * with cmd_topics_args_free(), also after a failure), or -1 with a
 * sentence saying what is wrong and what to try in err (errlen bytes).
 * --help anywhere sets a->help and stops checking what else is missing.
 */
int cmd_topics_parse(int argc, char **argv, struct topics_args *a, char *err, size_t errlen);
void cmd_topics_args_free(struct topics_args *a);
/* "create", "list", ... ("" for TOPICS_NONE). */
const char *cmd_topics_action_name(enum topics_action a);
/* Splits "k=v" at its first '=' into malloc'ed *key and *value (caller
 * frees both); -1 with a sentence in err when there is no '=' or no key. */
int cmd_topics_config_parse(const char *arg, char **key, char **value, char *err,
			    size_t errlen);
/* Kafka's text form of a topic id (Uuid.toString: URL-safe base64, no
 * padding, 22 characters) into out. */
void cmd_uuid_base64(const uint8_t id[16], char out[23]);
/* "512 B", "1.5 KiB", "12 MiB" (binary units; "-" for a negative n) into
 * buf; returns buf. */
const char *cmd_human_bytes(int64_t n, char *buf, size_t len);
/* Writes s as a JSON string literal (quotes and escapes) to f. */
void cmd_json_str(FILE *f, const char *s);

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

/* ------------------------------------------------ gen-events: pure parts */
/* tools/gen_events.c: the deterministic event generator and its options. */

/* xoshiro256** state (seeded through splitmix64). */
struct gen_rng {
	uint64_t s[4];
};
/* splitmix64: advances *state, returns the next output. */
uint64_t gen_splitmix64(uint64_t *state);
void gen_rng_seed(struct gen_rng *r, uint64_t seed);
uint64_t gen_rng_next(struct gen_rng *r);
/* Uniform in [0, 1) with 53 bits. */
double gen_rng_unit(struct gen_rng *r);
/* Uniform in [0, n) without modulo bias; 0 when n is 0. */
uint64_t gen_rng_below(struct gen_rng *r, uint64_t n);

/* 2024-01-01T00:00:00Z: event times start here unless --start-time. */
#define GEN_DEFAULT_START_MS INT64_C(1704067200000)

struct gen_events_opts {
	bool help;
	bool quiet;              /* no progress line */
	uint64_t count;          /* events; 0 = no end */
	double rate;             /* events per second; 0 = as fast as possible */
	uint32_t videos, users;
	double skew;             /* Zipf exponent of video popularity; 0 = uniform */
	double out_of_order;     /* fraction moved back by up to max_disorder_ms */
	int64_t max_disorder_ms;
	double late;             /* fraction moved back by [late_min, late_max] */
	int64_t late_min_ms, late_max_ms;
	int64_t start_ms;        /* event time of the start */
	uint64_t seed;
	bool key_user;           /* key by user_id rather than video_id */
	const char *separator;   /* between key and JSON; points at sep_buf or a literal */
	char sep_buf[8];
	const char *topic;       /* --topic: produce there instead of stdout
	                            (borrowed from argv); NULL = stdout */
	const char *bootstrap;   /* --bootstrap (borrowed); NULL = localhost:9092 */
};

void gen_events_opts_default(struct gen_events_opts *o);
/*
 * Parses `gen-events` arguments (argv[0] is "gen-events") over the
 * defaults. 0, or -1 with a sentence saying what is wrong and what to try
 * in err. Pure. (A copy of *o keeps its separator only through
 * gen_events_new, which re-points it.)
 */
int gen_events_parse(int argc, char **argv, struct gen_events_opts *o, char *err, size_t errlen);
/* "10s", "500ms", "5m", "2h", "1d", a bare number (ms) or ISO PT1H30M to
 * ms; -1 when it does not parse. */
int gen_parse_duration_ms(const char *s, int64_t *out);

enum gen_event_type { GEN_PLAY = 0, GEN_PAUSE = 1, GEN_REBUFFER = 2 };
enum gen_timing { GEN_ON_TIME = 0, GEN_OUT_OF_ORDER = 1, GEN_LATE = 2 };

struct gen_event {
	uint64_t seq;            /* 0, 1, 2, ... */
	enum gen_event_type type;
	enum gen_timing timing;
	uint32_t video, user;
	int64_t true_ts;         /* when it happened in the model */
	int64_t ts;              /* the event time written (true_ts moved back
	                            when out of order or late) */
	int64_t position_ms;
	int32_t bitrate_kbps;
	int32_t rebuffer_ms;     /* rebuffer events only */
};

struct gen_events;
/* A generator for o (copied). 0 and *out (free with gen_events_free()),
 * or -ENOMEM. */
int gen_events_new(const struct gen_events_opts *o, struct gen_events **out);
void gen_events_free(struct gen_events *g);
/* The next event. */
void gen_events_next(struct gen_events *g, struct gen_event *e);
/* Writes e as "KEY<separator>JSON\n" into buf; the length, or -1 when
 * len is too small. */
int gen_events_format(const struct gen_events *g, const struct gen_event *e, char *buf,
		      size_t len);
/* How many bytes the key takes at the start of every formatted line
 * ("v00042": 6), so a producer can split key and JSON without looking for
 * the separator. */
size_t gen_events_key_len(const struct gen_events *g);

/* ------------------------------------------------------ produce and perf */

/*
 * `rewind produce TOPIC`: one record per line of stdin or --file, through
 * client/'s producer (tools/cmd_produce.c).
 */
int cmd_produce(int argc, char **argv);

/*
 * `rewind perf produce|consume|e2e ...`: throughput and latency
 * (tools/cmd_perf.c dispatches; perf produce is there too).
 */
int cmd_perf(int argc, char **argv);
int cmd_perf_produce(int argc, char **argv);
/* `perf consume` and `perf e2e` (tools/cmd_perf_consume.c). */
int cmd_perf_consume(int argc, char **argv);
int cmd_perf_e2e(int argc, char **argv);

/* Producer options shared by producing commands (tools/producer_opts.c):
 * put CMD_PRODUCER_LONGOPTS in the getopt_long table and "z:" in the short
 * options, hand every option to cmd_producer_opt() first. */
struct cl_producer_conf;
enum { CMD_OPT_ACKS = 900, CMD_OPT_LINGER, CMD_OPT_BATCH, CMD_OPT_NO_IDEM };
#define CMD_PRODUCER_LONGOPTS                                         \
	{ "acks", required_argument, NULL, CMD_OPT_ACKS },            \
	{ "codec", required_argument, NULL, 'z' },                    \
	{ "linger-ms", required_argument, NULL, CMD_OPT_LINGER },     \
	{ "batch-size", required_argument, NULL, CMD_OPT_BATCH },     \
	{ "no-idempotence", no_argument, NULL, CMD_OPT_NO_IDEM }
/* --bootstrap (and Kafka's tools' --bootstrap-server) as 'b' and --help as
 * 'h': the getopt_long entries of every command that talks to a broker
 * through getopt_long (produce, perf produce/consume/e2e). */
#define CMD_BOOTSTRAP_LONGOPTS                                        \
	{ "bootstrap", required_argument, NULL, 'b' },                \
	{ "bootstrap-server", required_argument, NULL, 'b' },         \
	{ "help", no_argument, NULL, 'h' }
/* 1 when opt was one of them and is now in conf, 0 when it is not one of
 * them, -1 with a sentence in err for a bad value. */
int cmd_producer_opt(int opt, const char *arg, struct cl_producer_conf *conf, char *err,
		     size_t errlen);
/* After all options: -1 with a sentence for settings that do not go
 * together (acks 0/1 with idempotence), else 0. */
int cmd_producer_check(const struct cl_producer_conf *conf, char *err, size_t errlen);
/* A decimal integer in [lo, hi], the whole string. */
bool cmd_parse_ll(const char *s, long long lo, long long hi, long long *out);

/* perf: shared stats (tools/perf_stats.c), for every perf mode. */
#define PERF_SUB_BITS 6
#define PERF_BUCKETS ((size_t)(40 << PERF_SUB_BITS))

struct perf_stats {
	const char *mode;             /* "produce", "consume", "e2e" */
	const char *latency_what;     /* e.g. "send to delivery report" */
	int64_t start_ns;             /* CLOCK_MONOTONIC, set by init */
	int64_t end_ns;               /* set by the caller when done; 0 = now */
	int64_t records;              /* the caller adds */
	int64_t bytes;                /* value bytes (MB = 10^6 of them) */
	int64_t errors;
	uint64_t hist[PERF_BUCKETS];  /* latency histogram, microseconds */
	uint64_t lat_count;
	uint64_t lat_sum_us;
	uint64_t lat_max_us;
	bool tty;                     /* stderr is a terminal */
	bool progress_shown;
	int64_t last_progress_ns;
	int64_t last_records;
	int64_t last_bytes;
};

/* CLOCK_MONOTONIC in ns. */
int64_t cmd_perf_now_ns(void);
/* Zeroes s, starts its clock, notes whether stderr is a terminal. */
void cmd_perf_stats_init(struct perf_stats *s, const char *mode);
/* Adds one latency sample (ns). */
void cmd_perf_stats_latency(struct perf_stats *s, int64_t ns);
/* The q-quantile (0.5, 0.99, 0.999) of the samples in ms; 0 when none. */
double cmd_perf_stats_percentile_ms(const struct perf_stats *s, double q);
/* On a terminal, rewrites the progress line on stderr every 0.5 s (now
 * when force). Elsewhere does nothing. */
void cmd_perf_stats_progress(struct perf_stats *s, bool force);
/* The final summary: two lines of text, or one JSON object with mode,
 * records, bytes, errors, seconds, records_per_s, mb_per_s and latency_ms
 * {count, avg, p50, p99, p999, max}. */
void cmd_perf_stats_summary(struct perf_stats *s, FILE *out, bool json);

/* ------------------------------------------------ windows (rewind windows) */
/*
 * `rewind windows`: event-time windowed aggregation over JSON-lines topics
 * into a compacted output topic (tools/cmd_windows.c), and `rewind windows
 * verify A B`. The pure parts below (no network, no clock) are the engine:
 *   tools/win_json.c    a field scanner for flat JSON objects, numbers as
 *                       exact fixed point, event times (ms or ISO 8601);
 *   tools/win_engine.c  keys, window assignment (tumbling, hopping,
 *                       session with merging), per-partition watermarks,
 *                       lateness, firing and finalizing in a fixed order;
 *   tools/win_agg.c     count/sum/min/max/avg and HyperLogLog distinct;
 *   tools/win_codec.c   the output record (key and value JSON) and the
 *                       checkpoint bytes of the engine's state;
 *   tools/win_args.c    the command line.
 * docs/windows.md says what the results mean and why they are the same on
 * every replay.
 */

struct kp_buf;

/* Values kept exactly: a signed fixed-point number with 9 decimals. */
typedef __int128 win_fixed;
#define WIN_FIXED_ONE ((win_fixed)1000000000)

#define WIN_MAX_FIELDS 16
#define WIN_MAX_KEYS 8
#define WIN_MAX_AGGS 8

enum win_val_type { WIN_V_ABSENT = 0, WIN_V_STRING, WIN_V_NUMBER, WIN_V_OTHER };

/* One field found by win_json_scan: p/len is the value's raw JSON text (a
 * string keeps its quotes and escapes), borrowed from the scanned line. */
struct win_val {
	enum win_val_type type;
	const char *p;
	size_t len;
};

/* The top-level fields a scan looks for (names borrowed). */
struct win_fields {
	size_t n;
	const char *name[WIN_MAX_FIELDS];
	size_t len[WIN_MAX_FIELDS];
};

/* Adds a field name; its index, or -1 when full. An existing name gives
 * its index. */
int win_fields_add(struct win_fields *f, const char *name);
/*
 * Scans the JSON object s[0..len) for the fields of f: out[i] is field i's
 * value, WIN_V_ABSENT when missing (the first occurrence wins). Stops as
 * soon as every field is found, so the rest of the line is not checked.
 * 0, or -1 when the text is not a JSON object as far as it was read. Pure.
 */
int win_json_scan(const char *s, size_t len, const struct win_fields *f, struct win_val *out);
/* A JSON number to fixed point (9 decimals, the rest rounded half away
 * from zero). 0, or -1 when it is not a number or |v| >= 1e27. */
int win_num_parse(const char *p, size_t len, win_fixed *out);
/* v as decimal text (no trailing zeros) into buf (>= 48 bytes); returns
 * the length. */
size_t win_fixed_format(win_fixed v, char *buf);
/* An event time: a JSON number of ms since the epoch, or a string in ISO
 * 8601 (YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM]; no zone = UTC, so
 * results never depend on TZ). 0 or -1. */
int win_time_parse(const struct win_val *v, int64_t *ms);
/* ms since the epoch as 2024-01-01T00:05:00.000Z into buf (>= 32). */
void win_time_format(int64_t ms, char *buf, size_t len);

enum win_kind { WIN_TUMBLING = 0, WIN_HOPPING = 1, WIN_SESSION = 2 };
enum win_agg_kind {
	WIN_AGG_COUNT = 0, WIN_AGG_SUM, WIN_AGG_MIN, WIN_AGG_MAX, WIN_AGG_AVG, WIN_AGG_DISTINCT,
};

struct win_agg_spec {
	enum win_agg_kind kind;
	const char *field;            /* borrowed; NULL for count */
};

/* What one job computes. Strings are borrowed for the engine's life. */
struct win_spec {
	enum win_kind kind;
	int64_t size_ms;              /* tumbling, hopping: window length */
	int64_t slide_ms;             /* hopping: advance (tumbling: = size) */
	int64_t gap_ms;               /* session: inactivity gap */
	int64_t out_of_order_ms;      /* watermark = max event time - this */
	int64_t lateness_ms;          /* allowed lateness after a window's end */
	const char *time_field;
	const char *keys[WIN_MAX_KEYS];
	size_t n_keys;                /* 0: one global key, null */
	struct win_agg_spec aggs[WIN_MAX_AGGS];
	size_t n_aggs;
	int hll_precision;            /* 4..16 registers bits; default 12 */
};

/* Fills s with the defaults (tumbling 5m, out-of-order 10s, lateness 1m,
 * time field "ts", no key, no aggregate, precision 12). */
void win_spec_default(struct win_spec *s);
/* A hash of everything in s that shapes results: a checkpoint written by
 * a different job is refused. Pure. */
uint64_t win_spec_fingerprint(const struct win_spec *s);
/* The output field name of aggregate i ("count", "sum_position_ms"). */
void win_agg_name(const struct win_agg_spec *a, char *buf, size_t len);

struct win_engine;

/* What feeding one event did. */
enum win_outcome {
	WIN_ACCEPTED = 0,             /* in at least one window */
	WIN_TOO_LATE = 1,             /* every window it belongs to closed more
	                                 than the allowed lateness ago in its
	                                 partition's event time: side output */
	WIN_BAD = 2,                  /* not a JSON object, or no usable time */
};

/* One window result to write (every pointer valid during the callback). */
struct win_result {
	const char *key;              /* the key's JSON text ("v1", ["a",1], null) */
	size_t key_len;
	int64_t start, end;           /* [start, end) in ms */
	bool tombstone;               /* this (key, start, end) no longer exists
	                                 (a session grew or merged): write a
	                                 null value so compaction deletes it */
	bool final;                   /* no event can change it any more */
	uint32_t emits;               /* the emission count: 1 + late updates */
	int64_t count;
	const void *entry;            /* private: for win_result_value() */
};

typedef int win_emit_fn(void *arg, const struct win_result *r);

struct win_stats {
	uint64_t events, accepted, too_late, bad, late_updates;
	uint64_t emitted, finals, tombstones;
	size_t open_windows, keys;
	int64_t watermark;            /* firing watermark (INT64_MIN: none) */
	int64_t final_watermark;      /* min over every partition */
};

/* An engine for spec (copied; its strings stay borrowed) reading n_parts
 * input partitions. 0 and *out (win_engine_free), or -1 with a sentence in
 * err for a spec that cannot work, -ENOMEM. @locality any, one thread */
int win_engine_new(const struct win_spec *spec, size_t n_parts, struct win_engine **out,
		   char *err, size_t errlen);
void win_engine_free(struct win_engine *e);
/* Feeds the JSON object json[0..len) read from partition part (in that
 * partition's order). An enum win_outcome, or -ENOMEM. */
int win_engine_feed(struct win_engine *e, size_t part, const char *json, size_t len);
/* Marks a partition idle (left out of the firing watermark) or active.
 * Only when results are emitted depends on it, never their values. */
void win_engine_set_idle(struct win_engine *e, size_t part, bool idle);
/*
 * Hands fn every result due, sorted by (end, key, start), tombstones
 * first: windows the firing watermark passed, fired windows a late event
 * changed, windows the final watermark finalized (final, then dropped),
 * and with flush_all every other open window too (not final). 0, fn's
 * first error, or -ENOMEM.
 */
int win_engine_emit(struct win_engine *e, bool flush_all, win_emit_fn *fn, void *arg);
/*
 * After a restart from a checkpoint: (key, start, end) -- key the JSON
 * text as in the output key -- was written to the output after that
 * checkpoint, by the run that died. Makes the output end up as an
 * uninterrupted run's: a window the engine holds and has fired is written
 * again at the next emit (and counts as in the output, so a session that
 * later grows deletes it); anything else gets a tombstone (what replaces it
 * is written when it fires). 0 or -ENOMEM.
 */
int win_engine_reconcile(struct win_engine *e, const char *key, size_t key_len, int64_t start,
			 int64_t end);
void win_engine_stats(const struct win_engine *e, struct win_stats *out);
/* The event time of partition part's watermark (INT64_MIN: none yet). */
int64_t win_engine_part_watermark(const struct win_engine *e, size_t part);

/* The output record of r: key {"key":K,"start":S,"end":E} and value
 * {"key":K,"start":S,"end":E,"window":"ISO/ISO",<aggregates>,"emits":N,
 * "final":B}. Append to out; 0 or out's error. */
int win_result_key(const struct win_result *r, struct kp_buf *out);
int win_result_value(const struct win_engine *e, const struct win_result *r, struct kp_buf *out);

/* The engine's whole state as bytes (appended to out) and back into a
 * fresh engine made with the same spec and n_parts. load: 0, or -1 with a
 * sentence in err (corrupt, another job's, other partitions), -ENOMEM. */
int win_engine_save(const struct win_engine *e, struct kp_buf *out);
int win_engine_load(struct win_engine *e, const uint8_t *p, size_t len, char *err, size_t errlen);

/* `rewind windows` arguments (tools/win_args.c). */
struct windows_args {
	bool help, quiet;
	bool verify;                  /* `windows verify A B` */
	const char *verify_a, *verify_b;
	int max_diffs;                /* verify: differences printed (default 10) */
	const char *bootstrap;
	const char **inputs;          /* owned array of borrowed names */
	size_t n_inputs;
	const char *output;
	const char *late_topic;       /* NULL: <output>-late; "" (none): count only */
	char late_buf[256];
	const char *group;            /* default windows-<output> */
	char group_buf[256];
	const char *checkpoint;       /* default ./<group>.ckpt */
	char checkpoint_buf[512];
	struct win_spec spec;
	int64_t idle_timeout_ms;      /* default 30s */
	int64_t checkpoint_interval_ms; /* default 1s */
	bool exit_at_end;
	bool from_beginning;          /* documented; the default without a checkpoint */
	int64_t max_events;           /* stop after this many input records (-1: none) */
	int32_t output_partitions;    /* -1: as the first input topic */
	int timeout_ms;
	char *key_copies[WIN_MAX_KEYS]; /* owned copies of --key values, split
	                                   at commas; spec.keys point into them */
	size_t n_key_copies;
};

/* Parses `windows` arguments (argv[0] "windows"). 0 (free with
 * cmd_windows_args_free, also after a failure), or -1 with a sentence in
 * err. Pure. */
int cmd_windows_parse(int argc, char **argv, struct windows_args *a, char *err, size_t errlen);
void cmd_windows_args_free(struct windows_args *a);

/* `rewind windows ...` and `rewind windows verify A B` (cmd_windows.c). */
int cmd_windows(int argc, char **argv);
/* `rewind windows verify` with parsed arguments (tools/win_verify.c). */
int cmd_windows_verify(const struct windows_args *a);

#endif /* REWIND_TOOLS_H */
