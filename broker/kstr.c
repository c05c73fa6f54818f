/*
 * kstr.c -- between the generated codecs' string views (kp_str: bytes and a
 * length, -1 for null) and the C strings the topics layer and logs use.
 * Copies live in a request's arena and go with it, so handlers never free
 * them one by one.
 */
#include <string.h>

#include "broker/br_int.h"

kp_str br__kstr(kp_arena *a, const char *s)
{
	size_t len;
	char *p;

	if (!s)
		return KP_STR_NULL;
	len = strlen(s);
	if (len > INT32_MAX || !(p = kp_arena_alloc(a, len + 1)))
		return KP_STR_NULL;
	memcpy(p, s, len + 1);
	return (kp_str){ (const uint8_t *)p, (int32_t)len };
}

kp_str br__kstr_msg(kp_arena *a, const char *s)
{
	return br__kstr(a, s && s[0] ? s : NULL);
}

const char *br__cstr(kp_arena *a, kp_str s)
{
	char *p;

	if (s.len < 0 || !(p = kp_arena_alloc(a, (size_t)s.len + 1)))
		return NULL;
	memcpy(p, s.p, (size_t)s.len);
	p[s.len] = '\0';
	return p;
}

const char *br__cstr_empty(kp_arena *a, kp_str s)
{
	const char *c = br__cstr(a, s);

	return c ? c : "";
}
