/* other_agent.c - a second, distinct binary for the measurement tests (an
 * exec to another program must change the pinned identity). Writes "PID\n"
 * to stdout and waits until killed. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	if (printf("%ld other_agent\n", (long)getpid()) < 0 || fflush(stdout) != 0)
		return 1;
	for (;;)
		pause();
}
