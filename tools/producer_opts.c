/*
 * producer_opts.c -- the producer options every producing command shares
 * (`rewind produce`, `rewind perf produce`, and any other that sends
 * through client/'s producer): --acks, -z/--codec, --linger-ms,
 * --batch-size, --no-idempotence, one meaning and one message each.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "tools/tools.h"

bool cmd_parse_ll(const char *s, long long lo, long long hi, long long *out)
{
	char *e;
	errno = 0;
	long long v = strtoll(s, &e, 10);
	if (s[0] == '\0' || *e != '\0' || errno || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int cmd_producer_opt(int opt, const char *arg, struct cl_producer_conf *conf, char *err,
		     size_t errlen)
{
	long long v;
	switch (opt) {
	case CMD_OPT_ACKS:
		if (strcmp(arg, "all") == 0 || strcmp(arg, "-1") == 0)
			conf->acks = -1;
		else if (strcmp(arg, "1") == 0 || strcmp(arg, "0") == 0)
			conf->acks = arg[0] - '0';
		else
			return cmd_perr(err, errlen, "--acks '%s' must be all, -1, 1 or 0", arg);
		return 1;
	case 'z': {
		int codec = kp_codec_parse(arg);
		if (codec < 0)
			return cmd_perr(err, errlen, "unknown codec '%s' (none, gzip, snappy, lz4, zstd)", arg);
		conf->codec = codec;
		return 1;
	}
	case CMD_OPT_LINGER:
		if (!cmd_parse_ll(arg, 0, 3600000, &v))
			return cmd_perr(err, errlen, "--linger-ms '%s' must be 0..3600000", arg);
		conf->linger_ms = (int)v;
		return 1;
	case CMD_OPT_BATCH:
		if (!cmd_parse_ll(arg, 1, 1LL << 30, &v))
			return cmd_perr(err, errlen, "--batch-size '%s' must be 1..1073741824 bytes", arg);
		conf->batch_size = (size_t)v;
		return 1;
	case CMD_OPT_NO_IDEM:
		conf->idempotence = false;
		return 1;
	default:
		return 0;
	}
}

int cmd_producer_check(const struct cl_producer_conf *conf, char *err, size_t errlen)
{
	if (conf->acks != -1 && conf->idempotence)
		return cmd_perr(err, errlen, "--acks %d needs --no-idempotence (an idempotent "
				"producer waits for all replicas)", conf->acks);
	return 0;
}
