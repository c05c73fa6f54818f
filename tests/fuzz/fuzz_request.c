/*
 * fuzz_request.c -- libFuzzer target for request decoding: one input is
 * one request frame's bytes (after the int32 size), fed through the header
 * parse conn.c uses (br__request_header_parse) and then the generated
 * decoder of that API and version, as the handlers call it.
 *
 * Oracle, beyond the sanitizers: a body that decodes must encode again,
 * and that encoding must decode to an equal message (the generated test
 * support's deep comparison) -- so a decoder that accepts what its encoder
 * cannot reproduce is found too.
 *
 * Built only with -Dfuzz=true (clang); `meson test --suite fuzz` runs a
 * short pass seeded with the captured client requests in
 * tests/fixtures/requests.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/br_int.h"
#include "kp_msgs_test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The request decoder of api_key in the generated test table. */
static const kp_msgs_test_msg *request_msg(int16_t api_key)
{
	for (size_t i = 0; i < kp_msgs_test_table_len; i++) {
		const kp_msgs_test_msg *m = &kp_msgs_test_table[i];
		size_t n = strlen(m->name);

		if (m->api_key == api_key && n > 7 && strcmp(m->name + n - 7, "Request") == 0)
			return m;
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	br_request req;
	const br_api *api;
	const kp_msgs_test_msg *m;
	void *a = NULL, *b = NULL;
	kp_buf out;
	kp_arena arena2;
	int rc;

	memset(&req, 0, sizeof(req));
	/* The broker reads into a frame of its own; so does this. */
	req.frame = malloc(size ? size : 1);
	if (!req.frame)
		return 0;
	memcpy(req.frame, data, size);
	req.frame_len = size;
	kp_arena_init(&req.arena, 1 << 24);
	kp_arena_init(&arena2, 1 << 24);
	kp_buf_init(&out);

	rc = br__request_header_parse(&req, &api);
	if (rc != BR__HDR_OK || !(m = request_msg(req.api_key)))
		goto done;
	a = calloc(1, m->size);
	b = calloc(1, m->size);
	if (!a || !b)
		goto done;
	if (m->decode(&req.body, req.api_version, &req.arena, a) < 0)
		goto done;
	rc = m->encode(&out, req.api_version, a);
	if (rc < 0) {
		/* A decoded message the encoder refuses: only values a version
		 * cannot carry may do that, and decode never produces those. */
		fprintf(stderr, "%s v%d decoded but does not encode: %s\n", m->name,
			req.api_version, kp_strerror(rc));
		abort();
	}
	{
		kp_reader r2 = kp_reader_make(out.data, out.len);
		const char *diff;

		if (m->decode(&r2, req.api_version, &arena2, b) < 0 || kp_reader_left(&r2) != 0) {
			fprintf(stderr, "%s v%d: its own encoding does not decode\n", m->name,
				req.api_version);
			abort();
		}
		if ((diff = m->compare(a, b)) != NULL) {
			fprintf(stderr, "%s v%d: round trip changed %s\n", m->name, req.api_version, diff);
			abort();
		}
	}
done:
	free(a);
	free(b);
	kp_buf_free(&out);
	kp_arena_free(&arena2);
	kp_arena_free(&req.arena);
	free(req.frame);
	return 0;
}
