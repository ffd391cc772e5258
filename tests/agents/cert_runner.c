/* cert_runner NAME DIR SOCK [ATTESTCTL] - an agent that gets its certificate
 * through the CLI: fork + exec `attestctl cert --agent NAME --out DIR
 * --socket SOCK` (attestctl from PATH unless given) and wait for it. attestd
 * measures this process (the CLI's parent), so it must be a registered
 * binary of its own. Exits with attestctl's status. */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *ctl;
	pid_t pid;
	int st;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: cert_runner NAME DIR SOCK [ATTESTCTL]\n");
		return 2;
	}
	ctl = argc == 5 ? argv[4] : "attestctl";
	fflush(stdout);
	if ((pid = fork()) < 0) {
		perror("cert_runner: fork");
		return 1;
	}
	if (pid == 0) {
		execlp(ctl, "attestctl", "cert", "--agent", argv[1], "--out", argv[2], "--socket",
		       argv[3], (char *)NULL);
		perror("cert_runner: exec attestctl");
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}
