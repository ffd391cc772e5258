/* nodump.c - see nodump.h. */
#include <errno.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "nodump.h"

/* OpenSSL's secure heap: private keys (BN_FLG_SECURE) live there */
#define SECURE_HEAP (256 * 1024)
#define SECURE_MIN 32

int attestd_nodump(void)
{
	struct rlimit none = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || setrlimit(RLIMIT_CORE, &none) != 0)
		return -1;
	/* 1: heap ready; 2: ready but not mlock'ed (RLIMIT_MEMLOCK), still
	 * MADV_DONTDUMP; 0: no secure heap, OpenSSL falls back to malloc */
	if (CRYPTO_secure_malloc_init(SECURE_HEAP, SECURE_MIN) == 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static size_t pages(size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t p = pg > 0 ? (size_t)pg : 4096;

	return (n + p - 1) / p * p;
}

void *attestd_secret_alloc(size_t n)
{
	size_t len = pages(n);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* best effort: a kernel without them still gives working memory */
	(void)madvise(p, len, MADV_DONTDUMP);
	(void)madvise(p, len, MADV_WIPEONFORK);
	return p; /* anonymous pages are zeroed */
}

void attestd_secret_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, n);
	(void)munmap(p, pages(n));
}
