/* test_logline.c - a log line is one write(2) (issue 17: attestd wrote
 * stderr a character at a time, ~90 system calls per certificate), and
 * the escaping that keeps a peer's bytes from starting a line holds.
 * stderr is made a SOCK_SEQPACKET socket for the test: every write(2) is
 * one packet, so the count of writes is exact.
 * Targets: journal_line (cli/journal.c; attestd/log.c and the verifier's
 * reply.c log through it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "journal.h"
#include "testutil.h"

struct capture {
	int saved, rd;
};

static void capture_start(struct capture *c)
{
	int sv[2];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	fflush(stderr);
	c->saved = dup(STDERR_FILENO);
	CU_ASSERT_FATAL(c->saved >= 0 && dup2(sv[1], STDERR_FILENO) == STDERR_FILENO);
	close(sv[1]);
	c->rd = sv[0];
}

/* The packets written since capture_start, each into pk[i] (NUL-ended). */
static int capture_end(struct capture *c, char pk[][8192], int max)
{
	int n = 0;
	ssize_t got;

	CU_ASSERT_FATAL(dup2(c->saved, STDERR_FILENO) == STDERR_FILENO);
	close(c->saved);
	while (n < max && (got = recv(c->rd, pk[n], 8191, MSG_DONTWAIT)) > 0)
		pk[n++][got] = '\0';
	close(c->rd);
	return n;
}

static void test_one_write_per_line(void)
{
	static char pk[4][8192];
	char msg[600];
	struct capture c;
	const char *p;

	unsetenv("JOURNAL_STREAM");
	capture_start(&c);
	journal_line(JOURNAL_INFO, "attestd", "issued a certificate to agent billing (serial 01ab)");
	journal_line(JOURNAL_NOTICE, "attestd", "peer said \"x\nINJECTED\" \\ \x01\xff");
	CU_ASSERT_EQUAL_FATAL(capture_end(&c, pk, 4), 2);
	p = strstr(pk[0], "Z attestd: issued a certificate to agent billing (serial 01ab)\n");
	CU_ASSERT_PTR_NOT_NULL(p);
	CU_ASSERT(p != NULL && p[strlen(p) - 1] == '\n' && strchr(pk[0], '\n') == p + strlen(p) - 1);
	/* escaped: the newline, the backslash, the control and high bytes */
	CU_ASSERT_PTR_NOT_NULL(strstr(pk[1], "peer said \"x\\x0aINJECTED\" \\x5c \\x01\\xff\n"));
	CU_ASSERT_EQUAL(strchr(pk[1], '\n'), pk[1] + strlen(pk[1]) - 1);

	/* a message escaping past the cap: still one write, cut, marked */
	memset(msg, '\x02', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	capture_start(&c);
	journal_line(JOURNAL_ERR, "attest-verifier", msg);
	journal_line(JOURNAL_ERR, "attest-verifier", "");
	CU_ASSERT_EQUAL_FATAL(capture_end(&c, pk, 4), 2);
	CU_ASSERT(strlen(pk[0]) < JOURNAL_LINE_MAX + 300);
	CU_ASSERT(strlen(pk[0]) > 4 * (sizeof(msg) - 1)); /* 600 bytes escape to 2400: all kept */
	CU_ASSERT_PTR_NOT_NULL(strstr(pk[1], "attest-verifier: \n"));
	{
		static char big[3000];

		memset(big, '\x03', sizeof(big) - 1);
		capture_start(&c);
		journal_line(JOURNAL_ERR, "attest-verifier", big);
		CU_ASSERT_EQUAL_FATAL(capture_end(&c, pk, 4), 1);
		CU_ASSERT(strlen(pk[0]) <= JOURNAL_LINE_MAX + 300);
		CU_ASSERT(strlen(pk[0]) > 4 && strcmp(pk[0] + strlen(pk[0]) - 4, "...\n") == 0);
	}
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "one log line, one write; escaping and the length cap", test_one_write_per_line },
		{ NULL, NULL },
	};

	return tu_main("logline", tests);
}
