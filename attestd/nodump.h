/* nodump.h - keeping attestd's secrets out of core dumps and debuggers.
 *
 * attestd holds every agent's TPM auth value (struct agent, for the life of
 * the registration) and the session issuers' private keys. A crash dump or
 * a same-uid debugger would carry them all away, so attestd makes itself
 * non-dumpable (no core file, no ptrace or /proc/PID/mem by processes
 * without CAP_SYS_PTRACE), sets RLIMIT_CORE to 0, keeps OpenSSL's private
 * key material in its secure heap (mlock'ed, MADV_DONTDUMP) and the agent
 * records in pages marked MADV_DONTDUMP that are wiped when freed.
 */
#ifndef ATTESTD_NODUMP_H
#define ATTESTD_NODUMP_H

#include <stddef.h>

/* At start, before any secret is loaded. 0, or -1 with errno. */
int attestd_nodump(void);
/* Zeroed memory for secrets: whole pages, MADV_DONTDUMP (and
 * MADV_WIPEONFORK). NULL when out of memory. */
void *attestd_secret_alloc(size_t n);
/* Wipe and unmap what attestd_secret_alloc(n) returned; NULL is fine. */
void attestd_secret_free(void *p, size_t n);

#endif
