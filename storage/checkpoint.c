/*
 * checkpoint.c -- the small files of a log directory, and its lock.
 *
 * Every small file is replaced atomically: written to "<name>.tmp",
 * fsync'ed, renamed over <name>, then the directory is fsync'ed. A crash
 * leaves either the old or the new content, never a mix; a leftover .tmp is
 * ignored (and removed at open by recovery.c).
 *
 * Byte formats (ASCII, '\n' line ends, decimal integers):
 *
 *   log-start-offset          "0\n<offset>\n"       version 0, then the offset
 *   recovery-point            "0\n<offset>\n"       offsets below it were synced
 *                                                   and validated
 *   leader-epoch-checkpoint   "0\n<count>\n" then count lines
 *                             "<epoch> <startOffset>\n", epochs and start
 *                             offsets strictly increasing (Kafka's format)
 *   .clean-shutdown           empty; present only between a clean close and
 *                             the next open
 *   .lock                     empty; flock(LOCK_EX) held while open
 *
 * A file that does not parse is reported as ST_ERR_CORRUPT to the caller,
 * which decides whether it can do without it.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "storage/st_int.h"

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int st_dir_fsync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* Empty content cannot tear: truncating in place leaves the old content or
 * none, so an empty file (a clean-shutdown marker, an empty index) is
 * made in place, without the temporary file and rename. */
static int replace_with_empty(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

int st__replace_file(const char *path, const void *data, size_t len)
{
	char tmp[4096];
	int rc;

	if (len == 0)
		return replace_with_empty(path);
	if ((rc = st__path(tmp, sizeof(tmp), "%s.tmp", path)) < 0)
		return rc;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, data, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int st_file_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	int rc = st__path(path, sizeof(path), "%s/%s", dir, name);

	if (rc < 0 || (rc = st__replace_file(path, data, len)) < 0)
		return rc;
	return st_dir_fsync(dir);
}

ssize_t st__read_small(const char *dir, const char *name, char *buf, size_t cap)
{
	char path[4096];
	int rc = st__path(path, sizeof(path), "%s/%s", dir, name);

	assert(cap > 0);
	if (rc < 0)
		return rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t got = 0;
	for (;;) {
		if (got == cap - 1) {
			char extra;
			ssize_t n = read(fd, &extra, 1);
			close(fd);
			return n == 0 ? (ssize_t)got : -EFBIG;
		}
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

/* Parses a non-negative decimal integer ending at `end`; advances *p. */
static int parse_i64(const char **p, char end, int64_t *out)
{
	const char *s = *p;
	int64_t v = 0;

	if (*s == '-' && s[1] == '1' && s[2] == end) {
		*out = -1;
		*p = s + 3;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return ST_ERR_CORRUPT;
	while (*s >= '0' && *s <= '9') {
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return ST_ERR_CORRUPT;
		v = v * 10 + (*s - '0');
		s++;
	}
	if (*s != end)
		return ST_ERR_CORRUPT;
	*out = v;
	*p = s + 1;
	return 0;
}

int st__offset_file_read(const char *dir, const char *name, int64_t *out)
{
	char buf[64];
	ssize_t n = st__read_small(dir, name, buf, sizeof(buf));

	if (n < 0)
		return n == -EFBIG ? ST_ERR_CORRUPT : (int)n;
	const char *p = buf;
	int64_t version, v;
	if (parse_i64(&p, '\n', &version) < 0 || version != 0 ||
	    parse_i64(&p, '\n', &v) < 0 || v < 0 || *p != '\0')
		return ST_ERR_CORRUPT;
	*out = v;
	return 0;
}

int st__offset_file_write(const char *dir, const char *name, int64_t value)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "0\n%" PRId64 "\n", value);

	assert(n > 0 && (size_t)n < sizeof(buf));
	return st_file_write_atomic(dir, name, buf, (size_t)n);
}

int st__epochs_read(const char *dir, st__epoch **out, size_t *n)
{
	/* Leader changes are rare; a few hundred entries are plenty. */
	char buf[16384];
	ssize_t len = st__read_small(dir, "leader-epoch-checkpoint", buf, sizeof(buf));

	*out = NULL;
	*n = 0;
	if (len == -ENOENT)
		return 0;
	if (len < 0)
		return len == -EFBIG ? ST_ERR_CORRUPT : (int)len;
	const char *p = buf;
	int64_t version, count;
	if (parse_i64(&p, '\n', &version) < 0 || version != 0 ||
	    parse_i64(&p, '\n', &count) < 0 || count < 0 || count > 4096)
		return ST_ERR_CORRUPT;
	st__epoch *e = calloc(count ? (size_t)count : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (int64_t i = 0; i < count; i++) {
		int64_t epoch, start;
		if (parse_i64(&p, ' ', &epoch) < 0 || epoch < 0 || epoch > INT32_MAX ||
		    parse_i64(&p, '\n', &start) < 0 || start < 0 ||
		    (i > 0 && (epoch <= e[i - 1].epoch || start < e[i - 1].start))) {
			free(e);
			return ST_ERR_CORRUPT;
		}
		e[i].epoch = (int32_t)epoch;
		e[i].start = start;
	}
	if (*p != '\0') {
		free(e);
		return ST_ERR_CORRUPT;
	}
	*out = e;
	*n = (size_t)count;
	return 0;
}

int st__epochs_write(const char *dir, const st__epoch *e, size_t n)
{
	size_t cap = 32 + n * 40;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	size_t len = (size_t)snprintf(buf, cap, "0\n%zu\n", n);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%" PRId32 " %" PRId64 "\n",
					e[i].epoch, e[i].start);
	assert(len < cap);
	int rc = st_file_write_atomic(dir, "leader-epoch-checkpoint", buf, len);
	free(buf);
	return rc;
}

int st__dir_lock(const char *dir)
{
	char path[4096];
	int rc = st__path(path, sizeof(path), "%s/.lock", dir);

	if (rc < 0)
		return rc;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	/* flock() locks belong to the open file description, so a second
	 * st_log_open() in this same process conflicts as well. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? ST_ERR_LOCKED : -errno;
		close(fd);
		return rc;
	}
	return fd;
}
