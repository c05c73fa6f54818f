/*
 * win_args.c -- the command line of `rewind windows` (and `rewind windows
 * verify A B`), parsed into struct windows_args without touching the
 * network, so tests can check every refusal and default alone.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end || errno || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static int duration(const char *opt, const char *v, bool zero_ok, int64_t *out, char *err,
		    size_t errlen)
{
	if (gen_parse_duration_ms(v, out) < 0 || (!zero_ok && *out == 0))
		return cmd_perr(err, errlen, "%s '%s' is not a duration%s (e.g. 500ms, 10s, 5m, 2h, "
				"PT1H)", opt, v, zero_ok ? "" : " above 0");
	return 0;
}

static int parse_agg(const char *v, struct windows_args *a, char *err, size_t errlen)
{
	static const char *const names[] = { "count", "sum", "min", "max", "avg", "distinct" };
	struct win_spec *s = &a->spec;
	const char *colon = strchr(v, ':');
	size_t nl = colon ? (size_t)(colon - v) : strlen(v);
	int kind = -1;
	for (int i = 0; i < 6; i++)
		if (strlen(names[i]) == nl && strncmp(v, names[i], nl) == 0)
			kind = i;
	if (kind < 0)
		return cmd_perr(err, errlen, "--agg '%s': use count, sum:FIELD, min:FIELD, max:FIELD, "
				"avg:FIELD or distinct:FIELD", v);
	if (kind == WIN_AGG_COUNT && colon)
		return cmd_perr(err, errlen, "--agg '%s': count takes no field (it counts events)", v);
	if (kind != WIN_AGG_COUNT && (!colon || colon[1] == '\0'))
		return cmd_perr(err, errlen, "--agg '%s' needs a field: %s:FIELD", v, names[kind]);
	if (s->n_aggs >= WIN_MAX_AGGS)
		return cmd_perr(err, errlen, "at most %d --agg", WIN_MAX_AGGS);
	struct win_agg_spec g = { (enum win_agg_kind)kind, colon ? colon + 1 : NULL };
	for (size_t i = 0; i < s->n_aggs; i++)
		if (s->aggs[i].kind == g.kind &&
		    (g.field == NULL || strcmp(s->aggs[i].field, g.field) == 0))
			return cmd_perr(err, errlen, "--agg '%s' is given twice", v);
	s->aggs[s->n_aggs++] = g;
	return 0;
}

/* --key a,b or repeated --key: split in an owned copy (argv stays as it
 * is), spec.keys pointing into it. */
static int parse_key(const char *arg, struct windows_args *a, char *err, size_t errlen)
{
	struct win_spec *s = &a->spec;
	if (a->n_key_copies >= WIN_MAX_KEYS)
		return cmd_perr(err, errlen, "at most %d key fields", WIN_MAX_KEYS);
	char *v = strdup(arg);
	if (v == NULL)
		return cmd_perr(err, errlen, "out of memory");
	a->key_copies[a->n_key_copies++] = v;
	if (*v == '\0')
		return cmd_perr(err, errlen, "--key: an empty field name");
	for (char *p = v; p && *p;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (*p == '\0')
			return cmd_perr(err, errlen, "--key: an empty field name");
		if (s->n_keys >= WIN_MAX_KEYS)
			return cmd_perr(err, errlen, "at most %d key fields", WIN_MAX_KEYS);
		s->keys[s->n_keys++] = p;
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

int cmd_windows_parse(int argc, char **argv, struct windows_args *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof *a);
	win_spec_default(&a->spec);
	a->bootstrap = "localhost:9092";
	a->idle_timeout_ms = 30000;
	a->checkpoint_interval_ms = 1000;
	a->max_events = -1;
	a->output_partitions = -1;
	a->max_diffs = 10;
	a->inputs = calloc((size_t)argc + 1, sizeof *a->inputs);
	if (a->inputs == NULL)
		return cmd_perr(err, errlen, "out of memory");
	int window_opts = 0;
	int first = 1;
	if (argc > 1 && strcmp(argv[1], "verify") == 0) {
		a->verify = true;
		first = 2;
	}
	for (int i = first; i < argc; i++) {
		const char *arg = argv[i];
		const char *v = NULL;
#define VALUE(name) \
	do { \
		if ((v = cmd_opt_value(argc, argv, &i, name, err, errlen)) == NULL) \
			return -1; \
	} while (0)
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			a->help = true;
			return 0;
		} else if (strcmp(arg, "-q") == 0 || strcmp(arg, "--quiet") == 0) {
			a->quiet = true;
		} else if (strcmp(arg, "-b") == 0 || cmd_is_opt(arg, "--bootstrap") ||
			   cmd_is_opt(arg, "--bootstrap-server")) {
			VALUE(arg[1] == 'b' ? "-b" : cmd_is_opt(arg, "--bootstrap") ? "--bootstrap"
							    : "--bootstrap-server");
			a->bootstrap = v;
		} else if (cmd_is_opt(arg, "--max-diffs")) {
			int64_t n;
			VALUE("--max-diffs");
			if (!parse_i64(v, 0, 1000000, &n))
				return cmd_perr(err, errlen, "--max-diffs '%s': give a count >= 0", v);
			a->max_diffs = (int)n;
		} else if (cmd_is_opt(arg, "--timeout")) {
			int64_t n;
			VALUE("--timeout");
			if (!parse_i64(v, 1, INT_MAX, &n))
				return cmd_perr(err, errlen, "--timeout '%s': give milliseconds > 0", v);
			a->timeout_ms = (int)n;
		} else if (a->verify && arg[0] == '-') {
			return cmd_perr(err, errlen, "windows verify: unknown option '%s' (it takes "
					"--bootstrap, --max-diffs and --timeout)", arg);
		} else if (cmd_is_opt(arg, "--output")) {
			VALUE("--output");
			a->output = v;
		} else if (cmd_is_opt(arg, "--late-topic")) {
			VALUE("--late-topic");
			a->late_topic = strcmp(v, "none") == 0 ? "" : v;
		} else if (cmd_is_opt(arg, "--group")) {
			VALUE("--group");
			a->group = v;
		} else if (cmd_is_opt(arg, "--checkpoint")) {
			VALUE("--checkpoint");
			a->checkpoint = v;
		} else if (cmd_is_opt(arg, "--time-field")) {
			VALUE("--time-field");
			a->spec.time_field = v;
		} else if (cmd_is_opt(arg, "--key")) {
			VALUE("--key");
			if (parse_key(v, a, err, errlen) < 0)
				return -1;
		} else if (cmd_is_opt(arg, "--agg")) {
			VALUE("--agg");
			if (parse_agg(v, a, err, errlen) < 0)
				return -1;
		} else if (cmd_is_opt(arg, "--tumbling")) {
			VALUE("--tumbling");
			window_opts++;
			a->spec.kind = WIN_TUMBLING;
			if (duration("--tumbling", v, false, &a->spec.size_ms, err, errlen) < 0)
				return -1;
			a->spec.slide_ms = a->spec.size_ms;
		} else if (cmd_is_opt(arg, "--hopping")) {
			VALUE("--hopping");
			window_opts++;
			a->spec.kind = WIN_HOPPING;
			const char *slash = strchr(v, '/');
			char size[64];
			if (slash == NULL || (size_t)(slash - v) >= sizeof size)
				return cmd_perr(err, errlen, "--hopping '%s': give SIZE/HOP, e.g. 5m/1m", v);
			memcpy(size, v, (size_t)(slash - v));
			size[slash - v] = '\0';
			if (duration("--hopping size", size, false, &a->spec.size_ms, err, errlen) < 0 ||
			    duration("--hopping hop", slash + 1, false, &a->spec.slide_ms, err, errlen) < 0)
				return -1;
			if (a->spec.slide_ms > a->spec.size_ms)
				return cmd_perr(err, errlen, "--hopping '%s': the hop is longer than the "
						"window, so events would fall between windows", v);
			if (a->spec.size_ms % a->spec.slide_ms)
				return cmd_perr(err, errlen, "--hopping '%s': the size must be a whole "
						"number of hops", v);
		} else if (cmd_is_opt(arg, "--session")) {
			VALUE("--session");
			window_opts++;
			a->spec.kind = WIN_SESSION;
			if (duration("--session", v, false, &a->spec.gap_ms, err, errlen) < 0)
				return -1;
		} else if (cmd_is_opt(arg, "--out-of-order")) {
			VALUE("--out-of-order");
			if (duration("--out-of-order", v, true, &a->spec.out_of_order_ms, err, errlen) < 0)
				return -1;
		} else if (cmd_is_opt(arg, "--allowed-lateness")) {
			VALUE("--allowed-lateness");
			if (duration("--allowed-lateness", v, true, &a->spec.lateness_ms, err, errlen) < 0)
				return -1;
		} else if (cmd_is_opt(arg, "--idle-timeout")) {
			VALUE("--idle-timeout");
			if (duration("--idle-timeout", v, false, &a->idle_timeout_ms, err, errlen) < 0)
				return -1;
		} else if (cmd_is_opt(arg, "--checkpoint-interval")) {
			VALUE("--checkpoint-interval");
			if (duration("--checkpoint-interval", v, false, &a->checkpoint_interval_ms, err,
				     errlen) < 0)
				return -1;
		} else if (cmd_is_opt(arg, "--hll-precision")) {
			int64_t n;
			VALUE("--hll-precision");
			if (!parse_i64(v, 4, 16, &n))
				return cmd_perr(err, errlen, "--hll-precision '%s': give 4 to 16", v);
			a->spec.hll_precision = (int)n;
		} else if (cmd_is_opt(arg, "--max-events")) {
			VALUE("--max-events");
			if (!parse_i64(v, 1, INT64_MAX, &a->max_events))
				return cmd_perr(err, errlen, "--max-events '%s': give a count > 0", v);
		} else if (cmd_is_opt(arg, "--output-partitions")) {
			int64_t n;
			VALUE("--output-partitions");
			if (!parse_i64(v, 1, 100000, &n))
				return cmd_perr(err, errlen, "--output-partitions '%s': give 1 or more", v);
			a->output_partitions = (int32_t)n;
		} else if (strcmp(arg, "--exit-at-end") == 0 || strcmp(arg, "-e") == 0) {
			a->exit_at_end = true;
		} else if (strcmp(arg, "--from-beginning") == 0) {
			a->from_beginning = true;
		} else if (arg[0] == '-' && arg[1] != '\0') {
			return cmd_perr(err, errlen, "unknown option '%s' (see 'rewind windows --help')", arg);
		} else if (a->verify) {
			if (a->verify_a == NULL)
				a->verify_a = arg;
			else if (a->verify_b == NULL)
				a->verify_b = arg;
			else
				return cmd_perr(err, errlen, "windows verify takes two topics; '%s' is a "
						"third", arg);
		} else {
			a->inputs[a->n_inputs++] = arg;
		}
#undef VALUE
	}
	if (a->verify) {
		if (a->verify_b == NULL)
			return cmd_perr(err, errlen, "windows verify needs two output topics: rewind "
					"windows verify metrics_v1 metrics_v2");
		return 0;
	}
	if (a->n_inputs == 0)
		return cmd_perr(err, errlen, "no input topic: rewind windows TOPIC... --output TOPIC "
				"(see --help)");
	if (a->output == NULL || a->output[0] == '\0')
		return cmd_perr(err, errlen, "--output TOPIC is required: the compacted topic the "
				"window results go to");
	if (window_opts > 1)
		return cmd_perr(err, errlen, "give one of --tumbling, --hopping and --session");
	for (size_t i = 0; i < a->n_inputs; i++) {
		if (strcmp(a->inputs[i], a->output) == 0)
			return cmd_perr(err, errlen, "--output '%s' is also an input; write results "
					"to another topic", a->output);
		for (size_t j = 0; j < i; j++)
			if (strcmp(a->inputs[i], a->inputs[j]) == 0)
				return cmd_perr(err, errlen, "input topic '%s' is given twice", a->inputs[i]);
	}
	if (a->spec.n_aggs == 0)
		a->spec.aggs[a->spec.n_aggs++] = (struct win_agg_spec){ WIN_AGG_COUNT, NULL };
	if (a->late_topic == NULL) {
		snprintf(a->late_buf, sizeof a->late_buf, "%s-late", a->output);
		a->late_topic = a->late_buf;
	}
	if (a->late_topic[0] && strcmp(a->late_topic, a->output) == 0)
		return cmd_perr(err, errlen, "--late-topic cannot be the --output topic");
	if (a->group == NULL) {
		snprintf(a->group_buf, sizeof a->group_buf, "windows-%s", a->output);
		a->group = a->group_buf;
	}
	if (a->checkpoint == NULL) {
		snprintf(a->checkpoint_buf, sizeof a->checkpoint_buf, "%s.ckpt", a->group);
		for (char *p = a->checkpoint_buf; *p; p++)
			if (*p == '/')
				*p = '_';
		a->checkpoint = a->checkpoint_buf;
	}
	return 0;
}

void cmd_windows_args_free(struct windows_args *a)
{
	free(a->inputs);
	a->inputs = NULL;
	for (size_t i = 0; i < a->n_key_copies; i++)
		free(a->key_copies[i]);
	a->n_key_copies = 0;
}
