/*
 * groups_plan.c -- the pure parts of `rewind groups`: its command line and
 * the reset plan. No network here; cmd_groups.c does the talking.
 *
 * Reset semantics are Kafka's (kafka-consumer-groups --reset-offsets):
 * --to-offset and --shift-by are clamped into [log start, log end];
 * --shift-by needs a committed offset; --to-datetime takes the first offset
 * whose timestamp is at or after the time, or the log end when there is
 * none; --by-duration is --to-datetime at now minus the duration.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

static bool parse_i64(const char *s, int64_t *v)
{
	char *e;
	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	long long x = strtoll(s, &e, 10);
	if (errno || *e != '\0')
		return false;
	*v = x;
	return true;
}

/* "T" or "T:P,P,...". Duplicated partitions are kept once. */
static int parse_topic(const char *arg, struct groups_topic *t, char *err, size_t errlen)
{
	const char *colon = strrchr(arg, ':');
	memset(t, 0, sizeof *t);
	if (colon == NULL) {
		if (*arg == '\0')
			return cmd_perr(err, errlen, "--topic needs a topic name (--topic T or --topic T:0,1)");
		t->topic = arg;
		return 0;
	}
	size_t tl = (size_t)(colon - arg);
	if (tl == 0)
		return cmd_perr(err, errlen, "--topic '%s' has no topic name before ':'", arg);
	t->topic_buf = strndup(arg, tl);
	if (t->topic_buf == NULL)
		return cmd_perr(err, errlen, "out of memory");
	t->topic = t->topic_buf;
	const char *p = colon + 1;
	size_t cap = 1;
	for (const char *q = p; *q; q++)
		cap += *q == ',';
	t->partitions = calloc(cap, sizeof *t->partitions);
	if (t->partitions == NULL)
		return cmd_perr(err, errlen, "out of memory");
	for (;;) {
		char *e;
		errno = 0;
		long v = strtol(p, &e, 10);
		if (e == p || errno || v < 0 || v > INT32_MAX || (*e != ',' && *e != '\0'))
			return cmd_perr(err, errlen,
				    "--topic '%s': partitions must be numbers >= 0 separated by commas "
				    "(e.g. --topic %s:0,1,2)", arg, t->topic);
		bool dup = false;
		for (size_t i = 0; i < t->n_partitions; i++)
			dup |= t->partitions[i] == (int32_t)v;
		if (!dup)
			t->partitions[t->n_partitions++] = (int32_t)v;
		if (*e == '\0')
			break;
		p = e + 1;
	}
	return 0;
}

static const struct {
	const char *name;
	enum groups_action action;
} actions[] = {
	{ "list", GROUPS_LIST },
	{ "describe", GROUPS_DESCRIBE },
	{ "reset-offsets", GROUPS_RESET_OFFSETS },
	{ "delete", GROUPS_DELETE },
	{ "delete-offsets", GROUPS_DELETE_OFFSETS },
};

static int set_reset(struct groups_args *a, enum groups_reset r, const char *opt,
		     char *err, size_t errlen)
{
	if (a->reset != RESET_NONE)
		return cmd_perr(err, errlen, "%s: give only one of --to-earliest, --to-latest, "
			    "--to-offset, --to-datetime, --shift-by, --by-duration", opt);
	a->reset = r;
	return 0;
}

int cmd_groups_parse(int argc, char **argv, struct groups_args *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof *a);
	a->bootstrap = GROUPS_DEFAULT_BOOTSTRAP;
	bool dry_run = false;
	const char *extra = NULL;
	size_t cap_topics = 0;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *v;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			a->help = true;
			continue;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			if (a->action == GROUPS_NONE) {
				for (size_t k = 0; k < sizeof actions / sizeof actions[0]; k++)
					if (strcmp(arg, actions[k].name) == 0)
						a->action = actions[k].action;
				if (a->action == GROUPS_NONE)
					return cmd_perr(err, errlen,
						    "unknown action '%s' (known: list, describe, "
						    "reset-offsets, delete, delete-offsets)", arg);
			} else if (a->group == NULL && a->action != GROUPS_LIST) {
				a->group = arg;
			} else if (extra == NULL) {
				extra = arg;
			}
			continue;
		}
		const char *bopt = strcmp(arg, "-b") == 0 ? "-b"
				 : cmd_is_opt(arg, "--bootstrap") ? "--bootstrap"
				 : cmd_is_opt(arg, "--bootstrap-server") ? "--bootstrap-server" : NULL;
		if (bopt) {
			/* --bootstrap-server is kafka-consumer-groups' name. */
			if ((v = cmd_opt_value(argc, argv, &i, bopt, err, errlen)) == NULL)
				return -1;
			a->bootstrap = v;
		} else if (cmd_is_opt(arg, "--timeout")) {
			int64_t t;
			if ((v = cmd_opt_value(argc, argv, &i, "--timeout", err, errlen)) == NULL)
				return -1;
			if (!parse_i64(v, &t) || t < 1 || t > 3600000)
				return cmd_perr(err, errlen, "--timeout '%s': give milliseconds, 1..3600000", v);
			a->timeout_ms = (int)t;
		} else if (cmd_is_opt(arg, "--group")) {
			if ((v = cmd_opt_value(argc, argv, &i, "--group", err, errlen)) == NULL)
				return -1;
			a->group = v;
		} else if (strcmp(arg, "--state") == 0) {
			a->state = true;
		} else if (cmd_is_opt(arg, "--topic")) {
			if ((v = cmd_opt_value(argc, argv, &i, "--topic", err, errlen)) == NULL)
				return -1;
			if (a->n_topics == cap_topics) {
				size_t nc = cap_topics ? cap_topics * 2 : 4;
				struct groups_topic *t = realloc(a->topics, nc * sizeof *t);
				if (t == NULL)
					return cmd_perr(err, errlen, "out of memory");
				a->topics = t;
				cap_topics = nc;
			}
			if (parse_topic(v, &a->topics[a->n_topics++], err, errlen) < 0)
				return -1;
		} else if (strcmp(arg, "--all-topics") == 0) {
			a->all_topics = true;
		} else if (strcmp(arg, "--to-earliest") == 0) {
			if (set_reset(a, RESET_EARLIEST, arg, err, errlen) < 0)
				return -1;
		} else if (strcmp(arg, "--to-latest") == 0) {
			if (set_reset(a, RESET_LATEST, arg, err, errlen) < 0)
				return -1;
		} else if (cmd_is_opt(arg, "--to-offset")) {
			if (set_reset(a, RESET_OFFSET, "--to-offset", err, errlen) < 0 ||
			    (v = cmd_opt_value(argc, argv, &i, "--to-offset", err, errlen)) == NULL)
				return -1;
			if (!parse_i64(v, &a->value) || a->value < 0)
				return cmd_perr(err, errlen, "--to-offset '%s': give an offset >= 0", v);
		} else if (cmd_is_opt(arg, "--shift-by")) {
			if (set_reset(a, RESET_SHIFT, "--shift-by", err, errlen) < 0 ||
			    (v = cmd_opt_value(argc, argv, &i, "--shift-by", err, errlen)) == NULL)
				return -1;
			if (!parse_i64(v, &a->value))
				return cmd_perr(err, errlen,
					    "--shift-by '%s': give a whole number of records, "
					    "negative to go back (e.g. --shift-by -10)", v);
		} else if (cmd_is_opt(arg, "--to-datetime")) {
			if (set_reset(a, RESET_DATETIME, "--to-datetime", err, errlen) < 0 ||
			    (v = cmd_opt_value(argc, argv, &i, "--to-datetime", err, errlen)) == NULL)
				return -1;
			if (cmd_parse_iso8601(v, &a->value) < 0)
				return cmd_perr(err, errlen,
					    "--to-datetime '%s' is not an ISO 8601 time; write e.g. "
					    "2024-05-01T12:00:00Z, 2024-05-01T12:00:00.000+02:00 or "
					    "2024-05-01 (local time when no zone is given)", v);
		} else if (cmd_is_opt(arg, "--by-duration")) {
			if (set_reset(a, RESET_DURATION, "--by-duration", err, errlen) < 0 ||
			    (v = cmd_opt_value(argc, argv, &i, "--by-duration", err, errlen)) == NULL)
				return -1;
			if (cmd_parse_duration(v, &a->value) < 0)
				return cmd_perr(err, errlen,
					    "--by-duration '%s' is not a duration; write PnDTnHnM, "
					    "e.g. PT30M (30 minutes), P1DT2H (26 hours), PT1H30M", v);
		} else if (strcmp(arg, "--execute") == 0) {
			a->execute = true;
		} else if (strcmp(arg, "--dry-run") == 0) {
			dry_run = true;
		} else {
			return cmd_perr(err, errlen, "unknown option '%s'; run 'rewind groups%s%s --help'",
				    arg, a->action ? " " : "",
				    a->action ? actions[a->action - 1].name : "");
		}
	}
	if (a->help)
		return 0;
	if (a->action == GROUPS_NONE)
		return cmd_perr(err, errlen, "say what to do: rewind groups list|describe|reset-offsets|"
			    "delete|delete-offsets ... (rewind groups --help)");
	const char *name = actions[a->action - 1].name;
	if (extra)
		return cmd_perr(err, errlen, "unexpected argument '%s' (rewind groups %s --help)",
			    extra, name);
	if (a->action != GROUPS_LIST && a->group == NULL)
		return cmd_perr(err, errlen, "rewind groups %s needs a GROUP (rewind groups list shows them)",
			    name);
	if (a->group && a->group[0] == '\0')
		return cmd_perr(err, errlen, "the group id is empty");
	if (a->action == GROUPS_RESET_OFFSETS) {
		if (a->reset == RESET_NONE)
			return cmd_perr(err, errlen, "reset-offsets needs one of --to-earliest, --to-latest, "
				    "--to-offset N, --to-datetime ISO8601, --shift-by N, --by-duration PnDTnHnM");
		if (a->execute && dry_run)
			return cmd_perr(err, errlen, "give --dry-run or --execute, not both");
		if (a->n_topics == 0 && !a->all_topics)
			return cmd_perr(err, errlen, "reset-offsets needs --topic T[:P,...] (or --all-topics "
				    "for every topic the group has offsets for)");
		if (a->n_topics && a->all_topics)
			return cmd_perr(err, errlen, "give --topic or --all-topics, not both");
	} else {
		if (a->reset != RESET_NONE || a->execute || dry_run)
			return cmd_perr(err, errlen, "reset options belong to 'rewind groups reset-offsets'");
		if (a->all_topics)
			return cmd_perr(err, errlen, "--all-topics belongs to 'rewind groups reset-offsets'");
	}
	if (a->action == GROUPS_DELETE_OFFSETS && a->n_topics == 0)
		return cmd_perr(err, errlen, "delete-offsets needs --topic T[:P,...]");
	if (a->n_topics && a->action != GROUPS_RESET_OFFSETS &&
	    a->action != GROUPS_DELETE_OFFSETS)
		return cmd_perr(err, errlen, "--topic belongs to reset-offsets and delete-offsets");
	if (a->state && a->action != GROUPS_LIST)
		return cmd_perr(err, errlen, "--state belongs to 'rewind groups list'");
	return 0;
}

void cmd_groups_args_free(struct groups_args *a)
{
	for (size_t i = 0; i < a->n_topics; i++) {
		free(a->topics[i].topic_buf);
		free(a->topics[i].partitions);
	}
	free(a->topics);
	a->topics = NULL;
	a->n_topics = 0;
}

/* Moves off into [lo, hi]; sets *clamped when it had to. */
static int64_t clamp(int64_t off, int64_t lo, int64_t hi, bool *clamped)
{
	if (off < lo) {
		*clamped = true;
		return lo;
	}
	if (off > hi) {
		*clamped = true;
		return hi;
	}
	return off;
}

size_t cmd_groups_plan(enum groups_reset how, int64_t value,
		       struct groups_plan_row *rows, size_t n)
{
	size_t missing = 0;
	for (size_t i = 0; i < n; i++) {
		struct groups_plan_row *r = &rows[i];
		r->clamped = false;
		r->no_current = false;
		switch (how) {
		case RESET_EARLIEST:
			r->target = r->log_start;
			break;
		case RESET_LATEST:
			r->target = r->log_end;
			break;
		case RESET_OFFSET:
			r->target = clamp(value, r->log_start, r->log_end, &r->clamped);
			break;
		case RESET_SHIFT: {
			if (r->current < 0) {
				r->no_current = true;
				r->target = -1;
				missing++;
				break;
			}
			int64_t t;
			if (__builtin_add_overflow(r->current, value, &t))
				t = value < 0 ? INT64_MIN : INT64_MAX;
			r->target = clamp(t, r->log_start, r->log_end, &r->clamped);
			break;
		}
		case RESET_DATETIME:
		case RESET_DURATION:
			r->target = r->by_time >= 0 ? r->by_time : r->log_end;
			break;
		case RESET_NONE:
			r->target = r->current;
			break;
		}
	}
	return missing;
}
