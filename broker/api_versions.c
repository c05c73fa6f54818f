/*
 * api_versions.c -- ApiVersions (key 18), v0-v3: the versions of every API
 * in br_apis, so clients pick the newest version both sides speak.
 *
 * v3 is flexible (compact arrays, tag sections; its request carries the
 * client's software name and version) but its response header stays v0:
 * a client reads it before it knows what the broker speaks.
 *
 * A version we do not know (v4+ from a newer client) is not a disconnect:
 * as Kafka does, the broker answers UNSUPPORTED_VERSION in a v0 body that
 * still lists its ranges, and the client retries with one of them.
 */
#include "broker/br_int.h"

/* Fills m with br_apis' rows, allocated from req's arena. */
static int fill_api_keys(br_request *req, kp_ApiVersionsResponse *m)
{
	kp_ApiVersionsResponse_ApiVersion *v =
		kp_arena_calloc(&req->arena, br_apis_len, sizeof(*v));

	if (v == NULL)
		return KP_ERR_NOMEM;
	for (size_t i = 0; i < br_apis_len; i++) {
		kp_ApiVersionsResponse_ApiVersion_init(&v[i]);
		v[i].ApiKey = br_apis[i].api_key;
		v[i].MinVersion = br_apis[i].min_version;
		v[i].MaxVersion = br_apis[i].max_version;
	}
	m->ApiKeys.count = (int32_t)br_apis_len;
	m->ApiKeys.items = v;
	return 0;
}

int br__api_versions_unsupported(br_request *req)
{
	kp_ApiVersionsResponse m;
	int rc;

	kp_ApiVersionsResponse_init(&m);
	m.ErrorCode = KE_UNSUPPORTED_VERSION;
	if ((rc = fill_api_keys(req, &m)) < 0)
		return rc;
	return kp_ApiVersionsResponse_encode(&req->resp, 0, &m);
}

int br_handle_api_versions(br_request *req)
{
	kp_ApiVersionsRequest q;
	kp_ApiVersionsResponse m;
	int rc;

	kp_ApiVersionsResponse_init(&m);
	rc = kp_ApiVersionsRequest_decode(&req->body, req->api_version, &req->arena, &q);
	if (rc < 0) {
		/* Kafka answers a v3 body it cannot parse with INVALID_REQUEST
		 * rather than a disconnect, so the client sees why. */
		m.ErrorCode = br_request_note_error(req, KE_INVALID_REQUEST);
	} else if (fill_api_keys(req, &m) < 0) {
		return br_request_fail(req, KP_ERR_NOMEM, "out of memory for the ApiVersions answer");
	}
	req->error_code = m.ErrorCode;
	rc = kp_ApiVersionsResponse_encode(&req->resp, req->api_version, &m);
	if (rc < 0)
		return br_request_fail(req, rc, "cannot encode the ApiVersions answer");
	return BR_RESPOND;
}
