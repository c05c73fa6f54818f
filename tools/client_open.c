/*
 * client_open.c -- how every `rewind` subcommand that talks to the cluster
 * through client/'s blocking layer opens it: one place for the client,
 * the first connection, and the sentence a person reads when that fails
 * (which address, why, and what to do), so the tools word it alike.
 */
#include <stdio.h>

#include "client/client.h"
#include "tools/tools.h"

int cmd_client_open(const char *bootstrap, const cl_opts *opts, cl_client **out, char *err,
		    size_t errlen)
{
	char why[512];

	*out = NULL;
	if (cl_client_new(bootstrap, opts, out, why, sizeof why) < 0) {
		snprintf(err, errlen, "--bootstrap '%s': %s", bootstrap, why);
		return -1;
	}
	if (cl_client_connect(*out) < 0) {
		/* The client's sentence already asks about --bootstrap. */
		snprintf(err, errlen, "cannot reach the cluster at %s: %s; start the broker "
			 "(rewind-broker) if it is not running", bootstrap, cl_client_errmsg(*out));
		cl_client_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}
