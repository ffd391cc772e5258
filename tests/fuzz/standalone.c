/* standalone.c - replay driver for the fuzz targets without libFuzzer.
 *
 *   replay_<target> PATH...
 *
 * Feeds every file given, and every regular file in each directory given
 * (sorted, dot files skipped, not recursive), to LLVMFuzzerTestOneInput
 * once, each in a buffer of exactly its size so an ASan build sees
 * overreads. A crash or an abort in the target fails the run; an unreadable
 * path or no input at all also fails (a missing corpus is a broken build,
 * not a pass). Prints "fuzz-replay: N inputs OK".
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_fixture.h"

#define INPUT_CAP (1024 * 1024)

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;
	int r = -1;

	if (f == NULL) {
		fprintf(stderr, "fuzz-replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > INPUT_CAP ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "fuzz-replay: %s: unreadable or over %d bytes\n", path, INPUT_CAP);
		goto out;
	}
	/* malloc(0) may return NULL; keep a valid pointer for empty inputs. */
	if ((buf = malloc(n > 0 ? (size_t)n : 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "fuzz-replay: %s: read failed\n", path);
		goto out;
	}
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	r = 0;
out:
	free(buf);
	fclose(f);
	return r;
}

static int skip_dots(const struct dirent *d) { return d->d_name[0] != '.'; }

static int run_dir(const char *dir, unsigned long *count)
{
	struct dirent **names = NULL;
	char path[4096];
	struct stat st;
	int n, r = 0;

	if ((n = scandir(dir, &names, skip_dots, alphasort)) < 0) {
		fprintf(stderr, "fuzz-replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);

		if (r == 0 && (len < 0 || (size_t)len >= sizeof(path))) {
			fprintf(stderr, "fuzz-replay: %s/%s: path too long\n", dir, names[i]->d_name);
			r = -1;
		} else if (r == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if ((r = run_file(path)) == 0)
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	unsigned long count = 0;
	struct stat st;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int r;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "fuzz-replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			r = run_dir(argv[i], &count);
		} else {
			r = run_file(argv[i]);
			count += r == 0;
		}
		if (r != 0)
			return 1;
	}
	if (count == 0) {
		fprintf(stderr, "fuzz-replay: no inputs in the paths given\n");
		return 1;
	}
	printf("fuzz-replay: %lu inputs OK\n", count);
	return 0;
}
