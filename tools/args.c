/*
 * args.c -- small helpers every subcommand's argument parser shares
 * (groups_plan.c, topics_args.c, gen_events.c): an error sentence into the
 * caller's buffer, and GNU-style "--name VALUE" / "--name=VALUE" options.
 * Pure; no state.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tools/tools.h"

int cmd_perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (errlen > 0)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

bool cmd_is_opt(const char *arg, const char *name)
{
	size_t n = strlen(name);
	return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

const char *cmd_opt_value(int argc, char **argv, int *i, const char *name, char *err,
			  size_t errlen)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (a[n] == '=')
		return a + n + 1;
	if (*i + 1 >= argc) {
		cmd_perr(err, errlen, "%s needs a value", name);
		return NULL;
	}
	return argv[++*i];
}
