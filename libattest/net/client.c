/* client.c - the agent side of docs/protocol.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "net/client.h"
#include "core/err.h"
#include "core/json.h"
#include "net/wire.h"

static int connect_unix(const char *path, int *fd_out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	*fd_out = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return attest_fail(ATTEST_E_INVALID_ARG, "socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return attest_fail(ATTEST_E_IO, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		close(fd);
		/* "is attestd running?" only where that is the likely cause: a
		 * refused permission means attestd runs but this uid is not in
		 * the socket's group (attestd --group, attestd-agents) */
		return attest_fail(ATTEST_E_IO, "connect %s: %s (%s)", path, strerror(e),
				   e == EACCES || e == EPERM
					   ? "this user may not use the socket: agents need its "
					     "group, attestd --group (attestd-agents when installed)"
				   : e == ENOENT || e == ECONNREFUSED ? "is attestd running?"
								      : "see docs/agents.md");
	}
	*fd_out = fd;
	return ATTEST_OK;
}

/* The first byte goes with the descriptor attached, the rest plainly. */
static int send_with_fd(int fd, const cJSON *req, int pidfd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	uint8_t *frame = NULL;
	size_t len, off;
	int r;

	if ((r = attest_wire_encode(req, &frame, &len)) != ATTEST_OK)
		return r;
	{
		struct iovec iov = { frame, 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				      .msg_controllen = sizeof(ctl.buf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pidfd, sizeof(int));
		if (sendmsg(fd, &msg, MSG_NOSIGNAL) != 1) {
			r = attest_fail(ATTEST_E_IO, "sendmsg: %s", strerror(errno));
			goto out;
		}
	}
	for (off = 1; off < len;) {
		ssize_t w = send(fd, frame + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = attest_fail(ATTEST_E_IO, "send: %s", strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	r = ATTEST_OK;
out:
	free(frame);
	return r;
}

int attest_client_call(const char *socket_path, const cJSON *req, int pidfd, cJSON **reply)
{
	cJSON *rep = NULL;
	const cJSON *ok, *code, *reason, *detail;
	int fd = -1, r;

	*reply = NULL;
	if (socket_path == NULL)
		socket_path = ATTEST_DEFAULT_SOCKET;
	if ((r = connect_unix(socket_path, &fd)) != ATTEST_OK)
		return r;
	r = pidfd >= 0 ? send_with_fd(fd, req, pidfd) : attest_wire_send(fd, req);
	if (r == ATTEST_OK)
		r = attest_wire_recv(fd, ATTEST_CLIENT_TIMEOUT_MS, &rep);
	close(fd);
	if (r != ATTEST_OK)
		return r;
	ok = cJSON_GetObjectItemCaseSensitive(rep, "ok");
	if (cJSON_IsTrue(ok)) {
		*reply = rep;
		return ATTEST_OK;
	}
	code = cJSON_GetObjectItemCaseSensitive(rep, "code");
	reason = cJSON_GetObjectItemCaseSensitive(rep, "reason");
	detail = cJSON_GetObjectItemCaseSensitive(rep, "detail");
	r = cJSON_IsNumber(code) && code->valuedouble > 0 && code->valuedouble < ATTEST_E__COUNT
		    ? (int)code->valuedouble
		    : ATTEST_E_PARSE;
	attest_fail(r, "attestd refused: %.200s%s%.300s",
		    cJSON_IsString(reason) ? reason->valuestring : "malformed reply",
		    cJSON_IsString(detail) ? ": " : "", cJSON_IsString(detail) ? detail->valuestring : "");
	cJSON_Delete(rep);
	return r;
}

static int dup_field(const cJSON *o, const char *key, char **out)
{
	const char *s;
	int r;

	*out = NULL;
	if (cJSON_GetObjectItemCaseSensitive(o, key) == NULL)
		return ATTEST_OK;
	if ((r = attest_json_str(o, key, 256 * 1024, &s)) != ATTEST_OK)
		return r;
	if ((*out = strdup(s)) == NULL)
		return attest_fail(ATTEST_E_NOMEM, "%s", key);
	return ATTEST_OK;
}

int attest_client_issue(const char *socket_path, const struct attest_cert_request *req,
			struct attest_cert **out)
{
	cJSON *o = NULL, *reply = NULL, *arr;
	struct attest_cert *c = NULL;
	int r;

	*out = NULL;
	if (req == NULL || req->agent == NULL || req->ttl < 0)
		return attest_fail(ATTEST_E_INVALID_ARG, "issue: agent name required");
	if ((o = cJSON_CreateObject()) == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
		r = attest_fail(ATTEST_E_NOMEM, "request");
		goto out;
	}
	cJSON_AddStringToObject(o, "op", "issue");
	cJSON_AddStringToObject(o, "agent", req->agent);
	if (req->mode != NULL)
		cJSON_AddStringToObject(o, "mode", req->mode);
	if (req->ttl > 0)
		cJSON_AddNumberToObject(o, "ttl", (double)req->ttl);
	if (req->task_id != NULL)
		cJSON_AddStringToObject(o, "task_id", req->task_id);
	if (req->csr_pem != NULL)
		cJSON_AddStringToObject(o, "csr", req->csr_pem);
	if (req->intent != NULL)
		cJSON_AddStringToObject(o, "intent", req->intent);
	if (req->renew_pem != NULL)
		cJSON_AddStringToObject(o, "renew", req->renew_pem);
	if (req->scopes != NULL || req->nscopes > 0) {
		if ((arr = cJSON_AddArrayToObject(o, "scopes")) == NULL) {
			r = attest_fail(ATTEST_E_NOMEM, "scopes");
			goto out;
		}
		for (size_t i = 0; i < req->nscopes; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(req->scopes[i]));
	}
	if (req->ndns_names > 0) {
		if (req->dns_names == NULL || (arr = cJSON_AddArrayToObject(o, "dns_names")) == NULL) {
			r = attest_fail(req->dns_names == NULL ? ATTEST_E_INVALID_ARG : ATTEST_E_NOMEM,
					"dns_names");
			goto out;
		}
		for (size_t i = 0; i < req->ndns_names; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(req->dns_names[i]));
	}
	if (req->for_parent) /* attestd pins our parent itself (docs/protocol.md) */
		cJSON_AddTrueToObject(o, "parent");
	if ((r = attest_client_call(socket_path, o, -1, &reply)) != ATTEST_OK)
		goto out;
	if ((r = dup_field(reply, "chain", &c->chain_pem)) != ATTEST_OK ||
	    (r = dup_field(reply, "key", &c->key_pem)) != ATTEST_OK ||
	    (r = dup_field(reply, "id", &c->id)) != ATTEST_OK)
		goto out;
	if (c->chain_pem == NULL || c->id == NULL) {
		r = attest_fail(ATTEST_E_PARSE, "reply without chain or id");
		goto out;
	}
	*out = c;
	c = NULL; /* transferred */
out:
	attest_cert_free(c);
	cJSON_Delete(reply);
	cJSON_Delete(o);
	return r;
}

void attest_cert_free(struct attest_cert *c)
{
	if (c == NULL)
		return;
	if (c->key_pem != NULL) {
		OPENSSL_cleanse(c->key_pem, strlen(c->key_pem));
		free(c->key_pem);
	}
	free(c->chain_pem);
	free(c->id);
	free(c);
}
