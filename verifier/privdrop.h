/* privdrop.h - the verifier's serving process under its own uid (issue 12,
 * docs/verifier.md "Key custody").
 *
 * attest-verifier serve started as root forks the signer (which stays root
 * and alone reads CA_DIR/issuing/<serial>.key), opens everything the
 * serving process needs while still root (the listening socket, the TLS
 * key, the store, the audit log, an optional TPM), puts the state and CA
 * directories into the ownership layout below and then drops the serving
 * process to an unprivileged user (--user NAME; default the system user
 * attest-verifier): setgroups(0), setresgid, setresuid, the capability
 * bounding and ambient sets cleared, no_new_privs, not dumpable, no core.
 *
 * The layout (vf_layout_fix, as root, before the drop; nothing is followed
 * through a symbolic link):
 *   STATE                        USER, 0700 (the store's journal, audit/)
 *   STATE/verifier.db{,-wal,-shm,-journal}, STATE/audit/...   USER
 *   STATE/tls, tls/ca.key, tls/server.key   must already be root's (the
 *                                serving user could otherwise have planted
 *                                them: the start is refused); tls 0700
 *   CA_DIR, config.json, issuing/, issuing/SERIAL.pem, current   root:GROUP
 *                                0750/0640 (readable, not writable)
 *   CA_DIR/issuing/SERIAL.key, root.key   root:root 0600
 *   CA_DIR/{tokens,allowlist,challenges,eks,names,hosts}, lock   USER
 *                                but root's tokens/HASH.json and allowlist/
 *                                entries stay root's, 0644 (an operator's
 *                                authorisations, told apart by the signer)
 *   CA_DIR/signed                root:root 0700 (the signer's ledger)
 */
#ifndef VERIFIER_PRIVDROP_H
#define VERIFIER_PRIVDROP_H

#include <sys/types.h>

#include "attest/attest.h"
#include "config.h"

#define VF_DEFAULT_USER "attest-verifier"

struct vf_user {
	int drop;        /* 1: switch the serving process to uid/gid */
	int keep_root;   /* started as root with --user root: no separation */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* Who the serving process runs as. As root: name (NULL: the system user
 * attest-verifier, an error naming --user when it does not exist; "root":
 * no drop). Not root: it stays as it is (name, if given, must be itself). */
int vf_user_resolve(const char *name, struct vf_user *u) ATTEST_MUST_CHECK;
/* As root, for a user to drop to: the ownership layout above. */
int vf_layout_fix(const struct vf_config *cfg, const struct vf_user *u) ATTEST_MUST_CHECK;
/* Become u for good (when u->drop), then no_new_privs, not dumpable, no
 * core; checks that root cannot be regained and no capability is left. */
int vf_user_drop(const struct vf_user *u) ATTEST_MUST_CHECK;

#endif
