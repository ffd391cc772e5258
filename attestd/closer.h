/* closer.h - the one thread that closes descriptors a peer sent us.
 *
 * The last close() of a file can block for as long as its creator chose: a
 * TCP socket with SO_LINGER and a full send buffer waits up to its linger
 * time, and a file on a FUSE mount sends FLUSH to a user-run server that
 * may never answer. attestd's event loop therefore never closes (nor
 * fstat()s, nor reads) a descriptor a peer passed; it hands it here. The
 * queue is bounded by the descriptor limit (at least ATTESTD_CLOSER_MAX,
 * at least RLIMIT_NOFILE at start): every queued entry is a distinct open
 * descriptor, so it cannot overflow while the limit is not raised;
 * attestd_closer_give() refuses (returns -1, the caller keeps the
 * descriptor) if it ever is full. Sockets are closed abortively
 * (SO_LINGER 0), so a lingering one does not hold the thread either.
 */
#ifndef ATTESTD_CLOSER_H
#define ATTESTD_CLOSER_H

#include <stddef.h>

/* Least size of the queue. */
#define ATTESTD_CLOSER_MAX 4096

/* Start the thread (once per process; it lives until exit). 0, or -1 with
 * errno. */
int attestd_closer_start(void);
/* Queue fd for closing; 0, or -1 when the queue is full (fd not taken). */
int attestd_closer_give(int fd);

#endif
