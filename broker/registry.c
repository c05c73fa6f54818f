/*
 * registry.c -- the broker's open partition logs.
 *
 * At start every `<topic>-<partition>` directory under log.dirs is opened
 * (which recovers it). Directories that are not of that form are left alone
 * and named in a warning, so stray files in a data dir are visible but never
 * touched. The registry is built before any reactor starts and is read-only
 * afterwards, so it needs no lock.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/br_int.h"

/* Kafka's legal topic characters: ASCII alphanumerics, '.', '_' and '-'. */
static bool topic_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

bool br_partition_dir_parse(const char *name, size_t *topic_len, int32_t *partition)
{
	const char *dash = strrchr(name, '-');
	size_t tlen;
	int64_t p = 0;

	if (!dash || dash == name || dash[1] == '\0')
		return false;
	tlen = (size_t)(dash - name);
	if (tlen > 249 || (tlen == 1 && name[0] == '.') ||
	    (tlen == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	for (size_t i = 0; i < tlen; i++)
		if (!topic_char_ok(name[i]))
			return false;
	for (const char *d = dash + 1; *d; d++) {
		if (*d < '0' || *d > '9')
			return false;
		p = p * 10 + (*d - '0');
		if (p > INT32_MAX)
			return false;
	}
	/* "topic-01" would not round-trip to the same directory name. */
	if (dash[1] == '0' && dash[2] != '\0')
		return false;
	*topic_len = tlen;
	*partition = (int32_t)p;
	return true;
}

static int registry_add(br_registry *r, const char *topic, size_t tlen, int32_t partition,
			const char *dir, st_log *log)
{
	br_partition *bp;

	if (r->n_parts == r->cap_parts) {
		size_t cap = r->cap_parts ? r->cap_parts * 2 : 16;
		br_partition *np = realloc(r->parts, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		r->parts = np;
		r->cap_parts = cap;
	}
	bp = &r->parts[r->n_parts];
	bp->topic = strndup(topic, tlen);
	bp->dir = strdup(dir);
	if (!bp->topic || !bp->dir) {
		free(bp->topic);
		free(bp->dir);
		return -ENOMEM;
	}
	bp->partition = partition;
	bp->log = log;
	r->n_parts++;
	return 0;
}

static int open_log_dir(br_registry *r, const br_config *c, const char *root, int64_t now_ms)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (mkdir(root, 0755) < 0 && errno != EEXIST) {
		int err = -errno;
		br__logf(ST_LOG_ERROR, "log dir %s: cannot create: %s", root, st_strerror(err));
		return BR_ERR_DATA_DIR;
	}
	if (!(d = opendir(root))) {
		int err = -errno;
		br__logf(ST_LOG_ERROR, "log dir %s: cannot open: %s", root, st_strerror(err));
		return BR_ERR_DATA_DIR;
	}
	while (rc == 0 && (de = readdir(d))) {
		char path[4096];
		struct stat stbuf;
		size_t tlen;
		int32_t part;
		st_log *log;
		int err;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, de->d_name) >= sizeof(path))
			continue;
		if (stat(path, &stbuf) < 0 || !S_ISDIR(stbuf.st_mode))
			continue;
		if (!br_partition_dir_parse(de->d_name, &tlen, &part)) {
			br__logf(ST_LOG_WARN, "log dir %s: ignoring %s (not <topic>-<partition>)",
				 root, de->d_name);
			continue;
		}
		err = st_log_open(r->store, path, &c->log, now_ms, &log);
		if (err < 0) {
			br__logf(ST_LOG_ERROR, "partition %s: cannot open: %s", path, st_strerror(err));
			rc = BR_ERR_DATA_DIR;
			break;
		}
		{
			const st_recovery_report *rep = st_log_recovery(log);
			st_log_stats st;
			st_log_get_stats(log, &st);
			br__logf(ST_LOG_INFO,
				 "partition %s: %s, %d segments, offsets [%lld, %lld), "
				 "%lld bytes truncated, %d indexes rebuilt",
				 path, rep->clean ? "clean" : "recovered", rep->segments,
				 (long long)st.start_offset, (long long)st.end_offset,
				 (long long)rep->bytes_truncated, rep->indexes_rebuilt);
		}
		if ((err = registry_add(r, de->d_name, tlen, part, path, log)) < 0) {
			st_log_close(log);
			br__logf(ST_LOG_ERROR, "partition %s: %s", path, st_strerror(err));
			rc = BR_ERR_DATA_DIR;
		}
	}
	closedir(d);
	return rc;
}

int br_registry_open(br_registry *r, st_store *store, const br_config *c, int64_t now_ms)
{
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->store = store;
	for (int i = 0; i < c->n_log_dirs && rc == 0; i++)
		rc = open_log_dir(r, c, c->log_dirs[i], now_ms);
	if (rc < 0)
		br_registry_close(r);
	return rc;
}

void br_registry_close(br_registry *r)
{
	for (size_t i = 0; i < r->n_parts; i++) {
		st_log_close(r->parts[i].log);
		free(r->parts[i].topic);
		free(r->parts[i].dir);
	}
	free(r->parts);
	r->parts = NULL;
	r->n_parts = r->cap_parts = 0;
}

int br_registry_enforce_retention(br_registry *r, int64_t now_ms)
{
	int total = 0;

	for (size_t i = 0; i < r->n_parts; i++) {
		int deleted = 0;
		int err = st_log_enforce_retention(r->parts[i].log, now_ms, &deleted);
		if (err < 0)
			br__logf(ST_LOG_WARN, "partition %s: retention failed: %s",
				 r->parts[i].dir, st_strerror(err));
		else if (deleted > 0)
			br__logf(ST_LOG_INFO, "partition %s: retention deleted %d segments",
				 r->parts[i].dir, deleted);
		total += deleted;
	}
	return total;
}
