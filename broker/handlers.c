/*
 * handlers.c -- the table of APIs the broker serves: for each, the versions
 * it accepts and advertises in ApiVersions, and its handler.
 *
 * Like librdkafka's mock broker, dispatch is one table rather than a switch:
 * conn.c looks the key up, refuses versions outside [min, max] (per Kafka's
 * rules) and calls the handler. ApiVersions advertises exactly these rows,
 * so a range here is a promise: widen it only with the handler and tests
 * for the new versions. Each range lies inside what the generated codecs
 * implement (tests/unit/broker/test_handlers.c checks that).
 *
 * Sorted by api_key; br_api_find() bisects.
 */
#include "broker/br_int.h"

const br_api br_apis[] = {
	{ KP_API_API_VERSIONS, 0, 3, br_handle_api_versions },
};

const size_t br_apis_len = sizeof(br_apis) / sizeof(br_apis[0]);

const br_api *br_api_find(int16_t api_key)
{
	size_t lo = 0, hi = br_apis_len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (br_apis[mid].api_key == api_key)
			return &br_apis[mid];
		if (br_apis[mid].api_key < api_key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
