/* attest-verifier - remote verifier (issue 5, under construction). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		puts("usage: attest-verifier COMMAND ... (under construction)");
		return 0;
	}
	fputs("attest-verifier: not built yet\n", stderr);
	return 2;
}
