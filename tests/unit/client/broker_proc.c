/*
 * broker_proc.c -- start and stop a real rewind-broker for client unit
 * tests (see broker_proc.h).
 */
#include "broker_proc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_path(const struct broker_proc *b, char *out, size_t n)
{
	snprintf(out, n, "%s/broker-%d.log", b->dir, b->starts);
}

static size_t read_log(const struct broker_proc *b, char *buf, size_t n)
{
	char path[300];
	log_path(b, path, sizeof path);
	FILE *f = fopen(path, "r");
	buf[0] = '\0';   /* not yet created: no text (never an older start's) */
	if (f == NULL)
		return 0;
	size_t r = fread(buf, 1, n - 1, f);
	buf[r] = '\0';
	fclose(f);
	return r;
}

int broker_proc_init(struct broker_proc *b)
{
	memset(b, 0, sizeof *b);
	snprintf(b->dir, sizeof b->dir, "/tmp/rw-client-test-XXXXXX");
	if (mkdtemp(b->dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

int broker_proc_start(struct broker_proc *b)
{
	const char *root = getenv("REWIND_BUILD_ROOT");
	char exe[512], data[300], listen[80], logp[300];
	snprintf(exe, sizeof exe, "%s/broker/rewind-broker", root ? root : ".");
	snprintf(data, sizeof data, "log.dirs=%s/data", b->dir);
	snprintf(listen, sizeof listen, "listeners=PLAINTEXT://127.0.0.1:%d", b->port);
	b->starts++;
	log_path(b, logp, sizeof logp);

	char *argv[64];
	int argc = 0;
	argv[argc++] = exe;
	argv[argc++] = (char *)"--set";
	argv[argc++] = data;
	argv[argc++] = (char *)"--set";
	argv[argc++] = listen;
	argv[argc++] = (char *)"--set";
	argv[argc++] = (char *)"metrics.listener=";
	for (int i = 0; i < 16 && b->sets[i]; i++) {
		argv[argc++] = (char *)"--set";
		argv[argc++] = (char *)b->sets[i];
	}
	argv[argc] = NULL;

	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int devnull = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);
		if (devnull >= 0)
			dup2(devnull, 1);
		execv(exe, argv);
		_exit(127);
	}
	b->pid = pid;
	static char text[1 << 16];
	long long deadline = now_ms() + 20000;
	while (now_ms() < deadline) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			b->pid = 0;
			read_log(b, text, sizeof text);
			fprintf(stderr, "broker %s exited at start:\n%s\n", exe, text);
			return -1;
		}
		read_log(b, text, sizeof text);
		if (strstr(text, " ready")) {
			const char *l = strstr(text, "listening on 127.0.0.1:");
			if (l == NULL)
				break;
			b->port = atoi(l + strlen("listening on 127.0.0.1:"));
			snprintf(b->bootstrap, sizeof b->bootstrap, "127.0.0.1:%d", b->port);
			return 0;
		}
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "broker did not become ready:\n%s\n", text);
	broker_proc_stop(b, true);
	return -1;
}

void broker_proc_stop(struct broker_proc *b, bool kill9)
{
	if (b->pid <= 0)
		return;
	kill(b->pid, kill9 ? SIGKILL : SIGTERM);
	int st;
	while (waitpid(b->pid, &st, 0) < 0 && errno == EINTR)
		;
	b->pid = 0;
}

void broker_proc_cleanup(struct broker_proc *b)
{
	broker_proc_stop(b, false);
	if (b->dir[0]) {
		char cmd[400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", b->dir);
	}
}

int broker_proc_closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
		if (fd >= 0)
			close(fd);
		return 1;   /* tcpmux: nothing listens there either */
	}
	close(fd);
	return ntohs(a.sin_port);
}

struct broker_proc broker_proc_shared;

void broker_proc_fixture_up(void)
{
	const char *sets[16];
	memcpy(sets, broker_proc_shared.sets, sizeof sets);
	if (broker_proc_init(&broker_proc_shared) < 0)
		abort();   /* a test fixture: Check reports the crash */
	memcpy(broker_proc_shared.sets, sets, sizeof sets);
	if (broker_proc_start(&broker_proc_shared) < 0)
		abort();
}

void broker_proc_fixture_down(void)
{
	broker_proc_cleanup(&broker_proc_shared);
}
