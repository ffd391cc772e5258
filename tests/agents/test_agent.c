/* test_agent.c - a stand-in agent for the measurement and launch tests.
 * Every mode first writes "PID\n" to stdout, so a test reading the pipe
 * knows the process is past the loader and in main().
 *   test_agent sleep            wait until killed
 *   test_agent connect SOCK     connect to the Unix socket SOCK, then wait for
 *                               one byte (or EOF) from it and exit 0
 *   test_agent name COMM        set comm (prctl PR_SET_NAME), wait until killed
 *   test_agent exec PATH ARG... wait for one byte on stdin, then execv(PATH)
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int say_pid(void)
{
	if (printf("%ld\n", (long)getpid()) < 0 || fflush(stdout) != 0)
		return -1;
	return 0;
}

static void wait_forever(void)
{
	for (;;)
		pause();
}

static int usage(void)
{
	fprintf(stderr, "usage: test_agent sleep | connect SOCK | name COMM | exec PATH ARG...\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "sleep") == 0 && argc == 2) {
		if (say_pid() != 0)
			return 1;
		wait_forever();
	}
	if (argc == 3 && strcmp(argv[1], "connect") == 0) {
		struct sockaddr_un sa;
		char b;
		int fd;

		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		if (strlen(argv[2]) >= sizeof(sa.sun_path))
			return usage();
		memcpy(sa.sun_path, argv[2], strlen(argv[2]) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			perror("test_agent: connect");
			return 1;
		}
		if (say_pid() != 0)
			return 1;
		if (read(fd, &b, 1) < 0)
			perror("read");
		close(fd);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "name") == 0) {
		if (prctl(PR_SET_NAME, argv[2], 0, 0, 0) != 0) {
			perror("test_agent: prctl");
			return 1;
		}
		if (say_pid() != 0)
			return 1;
		wait_forever();
	}
	if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
		char b;

		if (say_pid() != 0)
			return 1;
		if (read(STDIN_FILENO, &b, 1) != 1)
			return 1;
		execv(argv[2], argv + 2);
		perror("test_agent: execv");
		return 127;
	}
	return usage();
}
