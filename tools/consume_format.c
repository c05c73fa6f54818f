/*
 * consume_format.c -- the output format of `rewind consume`: kcat's -f
 * format strings, parsed once into a list of items and applied to each
 * record.
 *
 * Tokens (as kcat 1.7): %t topic, %p partition, %o offset, %k key, %K key
 * length (-1 for a null key), %s value, %S value length (-1 for null), %R
 * value length as a big-endian int32 (-1 for null), %T timestamp (ms), %h
 * headers as "name=value" joined by ',' (a null value prints NULL), %%
 * a '%'. A null or empty key or value prints nothing. Escapes in the text
 * between tokens: \n \r \t, \xHH (hex digits), \NNN (a number as C's
 * strtoul with base 0 reads it: 0NN octal, 0xHH hex, else decimal), and
 * any other escaped character stands for itself. As in kcat, a header's
 * name and value print up to their first NUL byte.
 *
 * Where kcat differs by accident, rewind does the evident thing: "\xff"
 * is the byte 0xff (kcat 1.7 reads hex letters after \x as text), and a
 * "\0" in the text is kept (kcat cuts the text there).
 *
 * Pure: no global state; output goes to the FILE the caller gives.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "tools/tools.h"

static int fmt_add(struct consume_fmt *f, enum consume_fmt_kind kind,
		   const char *text, size_t len)
{
	struct consume_fmt_item *n = realloc(f->items, (f->n + 1) * sizeof *n);
	if (n == NULL)
		return -1;
	f->items = n;
	struct consume_fmt_item *it = &f->items[f->n];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	if (kind == FMT_TEXT) {
		/* Escapes shrink text, never grow it. */
		char *d = malloc(len + 1);
		if (d == NULL)
			return -1;
		size_t k = 0;
		for (size_t i = 0; i < len; i++) {
			if (text[i] != '\\' || i + 1 >= len) {
				d[k++] = text[i];
				continue;
			}
			char c = text[++i];
			int base = -1;
			if (c == 'n')
				d[k++] = '\n';
			else if (c == 'r')
				d[k++] = '\r';
			else if (c == 't')
				d[k++] = '\t';
			else if (c == 'x' && i + 1 < len && isxdigit((unsigned char)text[i + 1]))
				base = 16, i++;
			else if (c >= '0' && c <= '9')
				base = 0;
			else
				d[k++] = c;
			if (base >= 0) {
				/* strtoul needs a terminated string: copy the rest. */
				char num[32];
				size_t m = 0;
				while (i + m < len && m + 1 < sizeof num)
					num[m] = text[i + m], m++;
				num[m] = '\0';
				char *end;
				unsigned long v = strtoul(num, &end, base);
				d[k++] = (char)v;
				i += (size_t)(end - num) - 1;
			}
		}
		it->text = d;
		it->len = k;
	}
	f->n++;
	return 0;
}

int cmd_consume_format_parse(const char *fmt, struct consume_fmt *f, char *err, size_t errlen)
{
	memset(f, 0, sizeof *f);
	const char *s = fmt;
	while (*s) {
		const char *t = strchr(s, '%');
		if (t == NULL) {
			if (fmt_add(f, FMT_TEXT, s, strlen(s)) < 0)
				goto nomem;
			break;
		}
		if (t > s && fmt_add(f, FMT_TEXT, s, (size_t)(t - s)) < 0)
			goto nomem;
		enum consume_fmt_kind k;
		switch (t[1]) {
		case 't': k = FMT_TOPIC; break;
		case 'p': k = FMT_PARTITION; break;
		case 'o': k = FMT_OFFSET; break;
		case 'k': k = FMT_KEY; break;
		case 'K': k = FMT_KEY_LEN; break;
		case 's': k = FMT_VALUE; break;
		case 'S': k = FMT_VALUE_LEN; break;
		case 'R': k = FMT_VALUE_LEN_BE32; break;
		case 'T': k = FMT_TIMESTAMP; break;
		case 'h': k = FMT_HEADERS; break;
		case '%': k = FMT_TEXT; break;
		case '\0':
			snprintf(err, errlen, "the format '%s' ends with a lone '%%' (write %%%% for a "
				 "percent sign)", fmt);
			cmd_consume_format_free(f);
			return -1;
		default:
			snprintf(err, errlen, "the format '%s' has an unknown token '%%%c' (known: "
				 "%%t %%p %%o %%k %%K %%s %%S %%R %%T %%h %%%%)", fmt, t[1]);
			cmd_consume_format_free(f);
			return -1;
		}
		if (fmt_add(f, k, "%", 1) < 0)
			goto nomem;
		s = t + 2;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory parsing the format");
	cmd_consume_format_free(f);
	return -1;
}

void cmd_consume_format_free(struct consume_fmt *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->items[i].text);
	free(f->items);
	memset(f, 0, sizeof *f);
}

bool cmd_consume_format_uses(const struct consume_fmt *f, enum consume_fmt_kind kind)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->items[i].kind == kind)
			return true;
	return false;
}

/* Bytes up to the first NUL, as kcat's %s / %.*s print them. */
static size_t cstr_len(const uint8_t *p, size_t n)
{
	const uint8_t *z = p ? memchr(p, 0, n) : NULL;
	return z ? (size_t)(z - p) : n;
}

static int put_headers(FILE *out, const kp_record *rec)
{
	size_t pos = 0;
	kp_header h;
	int rc, i = 0;
	while ((rc = kp_record_header_next(rec, &pos, &h)) == 1) {
		if (i++ && fputc(',', out) == EOF)
			return -1;
		size_t kl = cstr_len(h.key, h.key_len > 0 ? (size_t)h.key_len : 0);
		if ((kl && fwrite(h.key, kl, 1, out) != 1) || fputc('=', out) == EOF)
			return -1;
		if (h.value == NULL) {
			if (fputs("NULL", out) == EOF)
				return -1;
		} else if (h.value_len > 0) {
			size_t vl = cstr_len(h.value, (size_t)h.value_len);
			if (vl && fwrite(h.value, vl, 1, out) != 1)
				return -1;
		}
	}
	return rc < 0 ? -1 : 0;
}

int cmd_consume_format_write(const struct consume_fmt *f, FILE *out, const char *topic,
			     int32_t partition, const kp_record *rec)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct consume_fmt_item *it = &f->items[i];
		int ok = 1;
		switch (it->kind) {
		case FMT_TEXT:
			ok = it->len == 0 || fwrite(it->text, it->len, 1, out) == 1;
			break;
		case FMT_TOPIC:
			ok = fputs(topic, out) != EOF;
			break;
		case FMT_PARTITION:
			ok = fprintf(out, "%" PRId32, partition) > 0;
			break;
		case FMT_OFFSET:
			ok = fprintf(out, "%" PRId64, rec->offset) > 0;
			break;
		case FMT_TIMESTAMP:
			ok = fprintf(out, "%" PRId64, rec->timestamp) > 0;
			break;
		case FMT_KEY:
			ok = rec->key_len <= 0 || fwrite(rec->key, (size_t)rec->key_len, 1, out) == 1;
			break;
		case FMT_VALUE:
			ok = rec->value_len <= 0 ||
			     fwrite(rec->value, (size_t)rec->value_len, 1, out) == 1;
			break;
		case FMT_KEY_LEN:
			ok = fprintf(out, "%" PRId32, rec->key ? rec->key_len : -1) > 0;
			break;
		case FMT_VALUE_LEN:
			ok = fprintf(out, "%" PRId32, rec->value ? rec->value_len : -1) > 0;
			break;
		case FMT_VALUE_LEN_BE32: {
			uint8_t be[4];
			kp_store_be32(be, (uint32_t)(rec->value ? rec->value_len : -1));
			ok = fwrite(be, 4, 1, out) == 1;
			break;
		}
		case FMT_HEADERS:
			ok = put_headers(out, rec) == 0;
			break;
		}
		if (!ok)
			return -1;
	}
	return 0;
}
