/*
 * sync_shim.c -- an LD_PRELOAD library for fault tests of the broker's
 * directory syncs.
 *
 *   REWIND_SHIM_LOG=FILE         each successful mkdir() and each fsync()
 *                                appends "mkdir PATH" or "fsync PATH" (the
 *                                descriptor's path, from /proc/self/fd) to
 *                                FILE, one line per call in call order
 *   REWIND_SHIM_FAIL_FSYNC=PATH  fsync() of PATH fails with EIO ...
 *   REWIND_SHIM_ARM=FILE         ... while FILE exists (so the broker can
 *                                start before the fault is turned on)
 *
 * Only the libc entry points are seen: the broker's io_uring writer syncs
 * segment data without them, and is not what this shim is for.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fsync(int fd);
int mkdir(const char *path, mode_t mode);

/* One line to the log, written whole (O_APPEND), errno kept. */
static void note(const char *what, const char *path)
{
	const char *log = getenv("REWIND_SHIM_LOG");
	char line[4200];
	int saved = errno;

	if (!log)
		return;
	int n = snprintf(line, sizeof(line), "%s %s\n", what, path);
	int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0 && n > 0 && (size_t)n < sizeof(line))
		(void)!write(fd, line, (size_t)n);
	if (fd >= 0)
		close(fd);
	errno = saved;
}

int fsync(int fd)
{
	static int (*real)(int);
	char link[64], path[4096];

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	note("fsync", path);
	const char *fail = getenv("REWIND_SHIM_FAIL_FSYNC");
	const char *arm = getenv("REWIND_SHIM_ARM");
	if (fail && arm && strcmp(fail, path) == 0 && access(arm, F_OK) == 0) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int mkdir(const char *path, mode_t mode)
{
	static int (*real)(const char *, mode_t);

	if (!real)
		real = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");
	int rc = real(path, mode);
	if (rc == 0)
		note("mkdir", path);
	return rc;
}
