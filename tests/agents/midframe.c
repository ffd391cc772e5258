/* midframe - an agent that hands its attestd connection to another process
 * image or another process, for tests/unit/test_attestd_attacks.c. Frames
 * are 4-byte big-endian length + JSON (docs/protocol.md). Replies are
 * printed as one JSON line on stdout. Self-contained: its own binary is what
 * attestd measures.
 *
 *   midframe send SOCK JSON               like raw_client: one request, print the reply
 *   midframe split SOCK JSON N NEXT       connect, send the header and the first N bytes
 *                                         of JSON, then exec "NEXT finish FD REST" with the
 *                                         socket inherited: the new image ends the frame
 *   midframe finish FD REST               write REST to FD, print the reply
 *   midframe orphan SOCK JSON             connect, fork; the parent exits at once; the child
 *                                         (same binary), once reparented, sends JSON over the
 *                                         inherited socket and prints the reply
 *   midframe handoff SOCK JSON AGENT      connect, fork; the parent execs "AGENT sleep" (a
 *                                         registered long-running agent); the child (this
 *                                         binary) waits until the parent runs AGENT, sends
 *                                         JSON over the socket the parent connected, prints
 *                                         the reply and kills the parent
 *   midframe handoff-exec AGENT CMD...    fork; the parent execs "AGENT sleep"; the child
 *                                         waits until its parent runs AGENT, then execs CMD
 *                                         (e.g. attestctl cert), whose parent is now AGENT
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int write_full(int fd, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, (const char *)buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* no SOCK_CLOEXEC: the point is to pass it on */
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void header(uint32_t len, uint8_t hdr[4])
{
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

static int print_reply(int fd)
{
	uint8_t hdr[4];
	uint32_t len;
	char *body;

	if (read_full(fd, hdr, 4) != 0) {
		printf("{\"midframe\":\"no reply\"}\n");
		return 1;
	}
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len > 1u << 20 || (body = malloc(len + 1)) == NULL || read_full(fd, body, len) != 0) {
		printf("{\"midframe\":\"bad reply\"}\n");
		return 1;
	}
	body[len] = '\0';
	printf("%s\n", body);
	fflush(stdout);
	free(body);
	return 0;
}

static int send_frame(int fd, const char *json)
{
	uint8_t hdr[4];

	header((uint32_t)strlen(json), hdr);
	return write_full(fd, hdr, 4) == 0 && write_full(fd, json, strlen(json)) == 0 ? 0 : -1;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait (<= 5 s) until process pid runs the file at path. */
static int wait_runs(pid_t pid, const char *path)
{
	char exe[64];
	struct stat want, now;

	if (stat(path, &want) != 0)
		return -1;
	snprintf(exe, sizeof(exe), "/proc/%ld/exe", (long)pid);
	for (int i = 0; i < 5000; i++) {
		if (stat(exe, &now) == 0 && now.st_dev == want.st_dev && now.st_ino == want.st_ino) {
			nap_ms(20); /* let the loader settle; attestd reads /proc/PID/environ */
			return 0;
		}
		nap_ms(1);
	}
	return -1;
}

/* The agent image keeps no stdout/stderr of ours: the test reading our
 * output sees EOF when the other process is done. */
static void quiet(void)
{
	int n = open("/dev/null", O_RDWR);

	if (n >= 0) {
		dup2(n, 1);
		dup2(n, 2);
		if (n > 2)
			close(n);
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: midframe send|split|finish|orphan|handoff|handoff-exec ...\n");
	return 2;
}

/* Strict non-negative decimal; -1 on anything else. */
static long num(const char *s)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || v < 0 ? -1 : v;
}

int main(int argc, char **argv)
{
	int fd;

	/* attestd may refuse (and close) before we finish writing: the write
	 * fails, but its reply is still there to read. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "send") == 0 && argc == 4) {
		if ((fd = connect_to(argv[2])) < 0 || send_frame(fd, argv[3]) != 0) {
			perror("midframe send");
			return 1;
		}
		return print_reply(fd);
	}
	if (strcmp(argv[1], "split") == 0 && argc == 6) {
		const char *json = argv[3];
		long nn = num(argv[4]);
		size_t n = nn < 0 ? (size_t)-1 : (size_t)nn;
		uint8_t hdr[4];
		char fdbuf[16];

		if (n > strlen(json))
			return usage();
		header((uint32_t)strlen(json), hdr);
		if ((fd = connect_to(argv[2])) < 0 || write_full(fd, hdr, 4) != 0 ||
		    write_full(fd, json, n) != 0) {
			perror("midframe split");
			return 1;
		}
		snprintf(fdbuf, sizeof(fdbuf), "%d", fd);
		execl(argv[5], argv[5], "finish", fdbuf, json + n, (char *)NULL);
		perror("midframe split: exec");
		return 127;
	}
	if (strcmp(argv[1], "finish") == 0 && argc == 4) {
		if ((fd = (int)num(argv[2])) < 0)
			return usage();
		if (write_full(fd, argv[3], strlen(argv[3])) != 0)
			perror("midframe finish (reading the reply anyway)");
		return print_reply(fd);
	}
	if (strcmp(argv[1], "orphan") == 0 && argc == 4) {
		pid_t parent = getpid(), child;

		if ((fd = connect_to(argv[2])) < 0) {
			perror("midframe orphan");
			return 1;
		}
		fflush(stdout);
		if ((child = fork()) < 0)
			return 1;
		if (child > 0)
			_exit(0); /* the connecting process is gone */
		for (int i = 0; i < 5000 && getppid() == parent; i++)
			nap_ms(1);
		nap_ms(20);
		if (send_frame(fd, argv[3]) != 0)
			perror("midframe orphan: send (reading the reply anyway)");
		return print_reply(fd);
	}
	if (strcmp(argv[1], "handoff") == 0 && argc == 5) {
		pid_t parent = getpid(), child;
		int rc;

		if ((fd = connect_to(argv[2])) < 0) {
			perror("midframe handoff");
			return 1;
		}
		fflush(stdout);
		if ((child = fork()) < 0)
			return 1;
		if (child > 0) {
			/* the connecting process becomes the registered agent */
			quiet();
			execl(argv[4], argv[4], "sleep", (char *)NULL);
			_exit(127);
		}
		if (wait_runs(parent, argv[4]) != 0) {
			printf("{\"midframe\":\"parent never ran the agent\"}\n");
			kill(parent, SIGKILL);
			return 1;
		}
		if (send_frame(fd, argv[3]) != 0)
			perror("midframe handoff: send (reading the reply anyway)");
		rc = print_reply(fd);
		kill(parent, SIGKILL);
		return rc;
	}
	if (strcmp(argv[1], "handoff-exec") == 0 && argc >= 4) {
		pid_t parent = getpid(), child;

		fflush(stdout);
		if ((child = fork()) < 0)
			return 1;
		if (child > 0) {
			quiet();
			execl(argv[2], argv[2], "sleep", (char *)NULL);
			_exit(127);
		}
		if (wait_runs(parent, argv[2]) != 0)
			return 1;
		execvp(argv[3], argv + 3);
		perror("midframe handoff-exec: exec");
		return 127;
	}
	return usage();
}
