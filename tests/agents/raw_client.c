/* raw_client SOCKET JSON - a minimal agent for tests: sends one frame
 * (4-byte big-endian length + JSON) to attestd's socket and prints the
 * reply's JSON on stdout. Self-contained on purpose: its own binary is what
 * attestd measures. Exit 0 if a reply arrived. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t hdr[4];
	uint32_t len;
	char *body;
	int fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: raw_client SOCKET JSON\n");
		return 2;
	}
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
	len = (uint32_t)strlen(argv[2]);
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	/* attestd may refuse (busy) and close before we finish writing: the
	 * write fails, but its refusal is there to read */
	signal(SIGPIPE, SIG_IGN);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("raw_client");
		return 1;
	}
	if (write(fd, hdr, 4) != 4 || write(fd, argv[2], len) != (ssize_t)len)
		perror("raw_client: write (reading the reply anyway)");
	if (read_full(fd, hdr, 4) != 0) {
		fprintf(stderr, "raw_client: no reply\n");
		return 1;
	}
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len > 1u << 20 || (body = malloc(len + 1)) == NULL || read_full(fd, body, len) != 0) {
		fprintf(stderr, "raw_client: bad reply\n");
		return 1;
	}
	body[len] = '\0';
	printf("%s\n", body);
	free(body);
	close(fd);
	return 0;
}
