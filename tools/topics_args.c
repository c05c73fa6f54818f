/*
 * topics_args.c -- the pure parts of `rewind topics`: its command line,
 * and the small formatters its output needs (Kafka's base64 topic ids,
 * byte sizes for people, JSON strings). No network, so
 * tests/unit/tools/test_topics_args.c checks them alone.
 *
 * Invariants: every string a parsed topics_args points at is borrowed from
 * argv except configs[i].key/value, which are owned copies (a "k=v"
 * argument is split); cmd_topics_args_free() is safe after any failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

static const struct {
	const char *name;
	enum topics_action action;
} actions[] = {
	{ "create", TOPICS_CREATE }, { "list", TOPICS_LIST }, { "describe", TOPICS_DESCRIBE },
	{ "alter", TOPICS_ALTER }, { "delete", TOPICS_DELETE },
};

const char *cmd_topics_action_name(enum topics_action a)
{
	for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (actions[i].action == a)
			return actions[i].name;
	return "";
}

/* A whole decimal number in [lo, hi]. */
static bool parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static int push_name(struct topics_args *a, const char *s)
{
	const char **n = realloc(a->names, (a->n_names + 1) * sizeof *n);
	if (n == NULL)
		return -1;
	a->names = n;
	a->names[a->n_names++] = s;
	return 0;
}

static int push_delete(struct topics_args *a, const char *s)
{
	const char **n = realloc(a->delete_configs, (a->n_delete_configs + 1) * sizeof *n);
	if (n == NULL)
		return -1;
	a->delete_configs = n;
	a->delete_configs[a->n_delete_configs++] = s;
	return 0;
}

int cmd_topics_config_parse(const char *arg, char **key, char **value, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	*key = *value = NULL;
	if (eq == NULL || eq == arg)
		return cmd_perr(err, errlen, "--config '%s' is not KEY=VALUE (e.g. --config retention.ms=86400000)",
			    arg);
	size_t kl = (size_t)(eq - arg);
	*key = malloc(kl + 1);
	*value = strdup(eq + 1);
	if (*key == NULL || *value == NULL) {
		free(*key);
		free(*value);
		*key = *value = NULL;
		return cmd_perr(err, errlen, "out of memory");
	}
	memcpy(*key, arg, kl);
	(*key)[kl] = '\0';
	return 0;
}

static int push_config(struct topics_args *a, const char *arg, char *err, size_t errlen)
{
	char *k, *v;
	if (cmd_topics_config_parse(arg, &k, &v, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < a->n_configs; i++)
		if (strcmp(a->configs[i].key, k) == 0) {
			cmd_perr(err, errlen, "--config %s is given twice; give each key once", k);
			free(k);
			free(v);
			return -1;
		}
	struct topics_kv *n = realloc(a->configs, (a->n_configs + 1) * sizeof *n);
	if (n == NULL) {
		free(k);
		free(v);
		return cmd_perr(err, errlen, "out of memory");
	}
	a->configs = n;
	a->configs[a->n_configs++] = (struct topics_kv){ k, v };
	return 0;
}

int cmd_topics_parse(int argc, char **argv, struct topics_args *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof *a);
	a->bootstrap = TOPICS_DEFAULT_BOOTSTRAP;
	a->partitions = -1;
	a->replication_factor = -1;
	if (errlen)
		err[0] = '\0';

	/* The action is the first word that is neither an option nor the
	 * value of one, so common options may come before it. */
	int at = -1;
	for (int i = 1; i < argc && at < 0; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
			a->help = true;
		else if (s[0] != '-' || s[1] == '\0')
			at = i;
		else if (!strchr(s, '=') && (strcmp(s, "--bootstrap") == 0 ||
					     strcmp(s, "--bootstrap-server") == 0 ||
					     strcmp(s, "-b") == 0 || strcmp(s, "--timeout") == 0))
			i++;
	}
	if (at < 0) {
		if (a->help)
			return 0;
		return cmd_perr(err, errlen, "missing action: one of create, list, describe, alter, "
			    "delete; see 'rewind topics --help'");
	}
	for (size_t k = 0; k < sizeof actions / sizeof actions[0]; k++)
		if (strcmp(argv[at], actions[k].name) == 0)
			a->action = actions[k].action;
	if (a->action == TOPICS_NONE)
		return cmd_perr(err, errlen, "unknown action '%s': use create, list, describe, alter or "
			    "delete; see 'rewind topics --help'", argv[at]);
	const char *act = argv[at];

	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char *v;
		long n;

		if (i == at)
			continue;
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			a->help = true;
		} else if (cmd_is_opt(s, "--bootstrap") || cmd_is_opt(s, "--bootstrap-server") ||
			   cmd_is_opt(s, "-b")) {
			const char *name = cmd_is_opt(s, "--bootstrap") ? "--bootstrap"
				: cmd_is_opt(s, "-b") ? "-b" : "--bootstrap-server";
			if (!(v = cmd_opt_value(argc, argv, &i, name, err, errlen)))
				return -1;
			a->bootstrap = v;
		} else if (cmd_is_opt(s, "--timeout")) {
			if (!(v = cmd_opt_value(argc, argv, &i, "--timeout", err, errlen)))
				return -1;
			if (!parse_long(v, 1, 3600000, &n))
				return cmd_perr(err, errlen, "--timeout '%s' is not a number of milliseconds "
					    "(1..3600000)", v);
			a->timeout_ms = (int)n;
		} else if (strcmp(s, "--json") == 0) {
			a->json = true;
		} else if (cmd_is_opt(s, "--partitions")) {
			if (a->action != TOPICS_CREATE && a->action != TOPICS_ALTER)
				return cmd_perr(err, errlen, "--partitions is for create and alter, not %s", act);
			if (!(v = cmd_opt_value(argc, argv, &i, "--partitions", err, errlen)))
				return -1;
			if (!parse_long(v, 1, 1000000, &n))
				return cmd_perr(err, errlen, "--partitions '%s' is not a partition count "
					    "(a whole number, at least 1)", v);
			a->partitions = (int32_t)n;
		} else if (cmd_is_opt(s, "--replication-factor")) {
			if (a->action != TOPICS_CREATE)
				return cmd_perr(err, errlen, "--replication-factor is for create, not %s", act);
			if (!(v = cmd_opt_value(argc, argv, &i, "--replication-factor", err, errlen)))
				return -1;
			if (!parse_long(v, 1, 32767, &n))
				return cmd_perr(err, errlen, "--replication-factor '%s' is not a replica count "
					    "(a whole number, at least 1)", v);
			a->replication_factor = (int16_t)n;
		} else if (cmd_is_opt(s, "--config")) {
			if (a->action != TOPICS_CREATE && a->action != TOPICS_ALTER)
				return cmd_perr(err, errlen, "--config is for create and alter, not %s", act);
			if (!(v = cmd_opt_value(argc, argv, &i, "--config", err, errlen)))
				return -1;
			if (push_config(a, v, err, errlen) < 0)
				return -1;
		} else if (cmd_is_opt(s, "--delete-config")) {
			if (a->action != TOPICS_ALTER)
				return cmd_perr(err, errlen, "--delete-config is for alter, not %s", act);
			if (!(v = cmd_opt_value(argc, argv, &i, "--delete-config", err, errlen)))
				return -1;
			if (v[0] == '\0' || strchr(v, '='))
				return cmd_perr(err, errlen, "--delete-config takes a key alone (e.g. "
					    "--delete-config retention.ms), not '%s'", v);
			if (push_delete(a, v) < 0)
				return cmd_perr(err, errlen, "out of memory");
		} else if (strcmp(s, "--if-not-exists") == 0 && a->action == TOPICS_CREATE) {
			a->if_not_exists = true;
		} else if (strcmp(s, "--if-exists") == 0 &&
			   (a->action == TOPICS_DELETE || a->action == TOPICS_ALTER)) {
			a->if_exists = true;
		} else if (strcmp(s, "--validate-only") == 0 &&
			   (a->action == TOPICS_CREATE || a->action == TOPICS_ALTER)) {
			a->validate_only = true;
		} else if (strcmp(s, "--internal") == 0 &&
			   (a->action == TOPICS_LIST || a->action == TOPICS_DESCRIBE)) {
			a->internal = true;
		} else if ((strcmp(s, "--long") == 0 || strcmp(s, "-l") == 0) &&
			   a->action == TOPICS_LIST) {
			a->long_list = true;
		} else if (strcmp(s, "--") == 0) {
			for (i++; i < argc; i++)
				if (push_name(a, argv[i]) < 0)
					return cmd_perr(err, errlen, "out of memory");
		} else if (s[0] == '-' && s[1] != '\0') {
			return cmd_perr(err, errlen, "unknown option '%s' for 'topics %s'; see "
				    "'rewind topics %s --help'", s, act, act);
		} else {
			if (push_name(a, s) < 0)
				return cmd_perr(err, errlen, "out of memory");
		}
	}
	if (a->help)
		return 0;

	switch (a->action) {
	case TOPICS_CREATE:
		if (a->n_names == 0)
			return cmd_perr(err, errlen, "create needs a topic name: rewind topics create "
				    "NAME --partitions N");
		if (a->n_names > 1)
			return cmd_perr(err, errlen, "create takes one topic name, not %zu", a->n_names);
		break;
	case TOPICS_LIST:
		if (a->n_names)
			return cmd_perr(err, errlen, "list takes no topic names (got '%s'); use "
				    "'rewind topics describe NAME' for one topic", a->names[0]);
		break;
	case TOPICS_DESCRIBE:
		break;
	case TOPICS_ALTER:
		if (a->n_names == 0)
			return cmd_perr(err, errlen, "alter needs a topic name: rewind topics alter NAME "
				    "--partitions N | --config K=V | --delete-config K");
		if (a->n_names > 1)
			return cmd_perr(err, errlen, "alter takes one topic name, not %zu", a->n_names);
		if (a->partitions < 0 && a->n_configs == 0 && a->n_delete_configs == 0)
			return cmd_perr(err, errlen, "alter needs something to change: --partitions N, "
				    "--config K=V or --delete-config K");
		for (size_t k = 0; k < a->n_delete_configs; k++)
			for (size_t j = 0; j < a->n_configs; j++)
				if (strcmp(a->delete_configs[k], a->configs[j].key) == 0)
					return cmd_perr(err, errlen, "%s is both set (--config) and deleted "
						    "(--delete-config); pick one", a->configs[j].key);
		break;
	case TOPICS_DELETE:
		if (a->n_names == 0)
			return cmd_perr(err, errlen, "delete needs at least one topic name: rewind topics "
				    "delete NAME...");
		break;
	default:
		break;
	}
	for (size_t k = 0; k < a->n_names; k++)
		if (a->names[k][0] == '\0')
			return cmd_perr(err, errlen, "a topic name cannot be empty");
	return 0;
}

void cmd_topics_args_free(struct topics_args *a)
{
	for (size_t i = 0; i < a->n_configs; i++) {
		free(a->configs[i].key);
		free(a->configs[i].value);
	}
	free(a->configs);
	free(a->names);
	free(a->delete_configs);
	memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------ formatters */

void cmd_uuid_base64(const uint8_t id[16], char out[23])
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	/* Kafka's Uuid.toString(): URL-safe base64 of the 16 bytes, no
	 * padding, so 22 characters. */
	for (size_t i = 0; i < 16; i += 3) {
		uint32_t v = (uint32_t)id[i] << 16;
		if (i + 1 < 16)
			v |= (uint32_t)id[i + 1] << 8;
		if (i + 2 < 16)
			v |= id[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		if (i + 1 < 16)
			out[o++] = tab[(v >> 6) & 63];
		if (i + 2 < 16)
			out[o++] = tab[v & 63];
	}
	out[o] = '\0';
}

const char *cmd_human_bytes(int64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (n < 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	if (n < 1024) {
		snprintf(buf, len, "%" PRId64 " B", n);
		return buf;
	}
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof unit / sizeof unit[0]) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, v < 10 ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return buf;
}

void cmd_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}
