/*
 * frame.c -- Kafka request/response framing and version choice, as pure
 * functions (no sockets), so the blocking connection (conn.c) and a future
 * event-loop client share them.
 *
 * A request on the wire is int32 size, then the request header (v1 for
 * classic versions, v2 with a tagged-field section for flexible ones; see
 * kp_request_header_version), then the body. A response is int32 size, the
 * response header (v0: correlation id; v1 adds tagged fields; ApiVersions
 * always answers with v0), then the body.
 */
#include "client/cl_int.h"

int cl_frame_request(kp_buf *out, int16_t api_key, int16_t version,
		     int32_t correlation_id, const char *client_id,
		     const kp_buf *body)
{
	kp_RequestHeader h;
	size_t start = out->len;
	int rc;

	if (body->n_ext != 0 || body->err != 0)
		return body->err ? body->err : CL_ERR_ARG;
	kp_RequestHeader_init(&h);
	h.RequestApiKey = api_key;
	h.RequestApiVersion = version;
	h.CorrelationId = correlation_id;
	h.ClientId = kp_str_from(client_id);

	kp_buf_put_i32(out, 0);      /* size, filled below */
	rc = kp_RequestHeader_encode(out, (int16_t)kp_request_header_version(api_key, version), &h);
	if (rc < 0) {
		kp_buf_truncate(out, start, out->n_ext);
		return rc;
	}
	kp_buf_put(out, body->data, body->len);
	if (out->err) {
		rc = out->err;
		return rc;
	}
	size_t size = out->len - start - 4;
	if (size > INT32_MAX) {
		kp_buf_truncate(out, start, out->n_ext);
		return KP_ERR_OVERFLOW;
	}
	kp_store_be32(out->data + start, (uint32_t)size);
	return 0;
}

int cl_frame_response(const uint8_t *frame, size_t len, int16_t api_key,
		      int16_t version, int32_t *correlation_id, kp_reader *body)
{
	kp_reader r = kp_reader_make(frame, len);
	kp_ResponseHeader h;

	if (kp_ResponseHeader_decode(&r, (int16_t)kp_response_header_version(api_key, version),
				     NULL, &h) < 0)
		return CL_ERR_PROTOCOL;
	*correlation_id = h.CorrelationId;
	*body = r;
	return 0;
}

int16_t cl_version_pick(int16_t api_key, int16_t broker_min, int16_t broker_max,
			int16_t client_min)
{
	const kp_api_info *api = kp_api_find(api_key);
	if (api == NULL || broker_min < 0 || broker_max < broker_min)
		return -1;
	int16_t lo = broker_min;
	if (api->min_version > lo)
		lo = api->min_version;
	if (client_min > lo)
		lo = client_min;
	int16_t hi = broker_max < api->max_version ? broker_max : api->max_version;
	return hi >= lo ? hi : -1;
}
