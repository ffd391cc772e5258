/* fuzz_monproto.c - libFuzzer target for attestd's monitor protocol (the
 * typed SEQPACKET messages between the unprivileged front and the root
 * monitor, docs/privsep.md): what the monitor reads from a front that may be
 * compromised, mint_order_get (attestd/mintwire.c), admin_req_get
 * (adminwire.c), push_reply_get for each push kind (pushwire.c), and what
 * the front reads back, mint_result_get, admin_result_get and the
 * federation list fed_list_get (attestd/federation.c); all on the bounded
 * cursor of monproto.c.
 *
 * Input: [u8 which reader][u8 its argument (push kind, admin op)][message
 * body after the op word].
 * Oracles besides the sanitizers: a message read is canonical, so writing
 * the typed value back with the matching *_put gives exactly the bytes that
 * were read (one encoding per value: nothing the front can smuggle past one
 * reader that another would read differently); a request's values are
 * within their contracts (admin_registration_check holds for a register
 * the monitor would act on only after its own check, so it is not asserted
 * here; lists stay inside their caps).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "core/cursor.h"
#include "federation.h"
#include "fuzz_fixture.h"
#include "mint.h"
#include "monproto.h"
#include "pushwire.h"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_monproto: %s\n", what);
		abort();
	}
}

/* the bytes m holds after its op word are exactly the n read from p */
static void same(const struct mon_out *m, const uint8_t *p, size_t n, const char *what)
{
	check(m->err == 0, what);
	check(m->len == 4 + n && memcmp(m->buf + 4, p, n) == 0, what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attest_cur c;
	struct mon_out m;
	const uint8_t *body;
	size_t n, used;
	uint8_t which, arg;

	if (size < 2)
		return 0;
	which = data[0] % 6;
	arg = data[1];
	body = data + 2;
	n = size - 2;
	attest_cur_init(&c, body, n);
	mon_out_init(&m, 0);
	switch (which) {
	case 0: {
		struct mint_order *o = calloc(1, sizeof(*o));

		check(o != NULL, "out of memory");
		if (fz_note("mint_order_get", mint_order_get(&c, o)) == ATTEST_OK) {
			check(o->nwant <= AGENT_MAX_SCOPES && o->spki_len <= MINT_SPKI_MAX,
			      "an order over its caps");
			mint_order_put(&m, o);
			same(&m, body, n, "an issue order is not read canonically");
		}
		free(o);
		break;
	}
	case 1: {
		struct admin_req *q = calloc(1, sizeof(*q));

		check(q != NULL, "out of memory");
		if (fz_note("admin_req_get", admin_req_get(&c, q)) == ATTEST_OK && mon_get_end(&c)) {
			check(q->reg.nuids <= AGENT_MAX_UIDS && q->reg.nscopes <= AGENT_MAX_SCOPES &&
				      q->reg.nclasses <= AGENT_MAX_CLASSES &&
				      q->reg.nenv_allow <= AGENT_MAX_ENV_ALLOW,
			      "an admin request over its caps");
			admin_req_put(&m, q);
			same(&m, body, n, "an admin request is not read canonically");
		}
		free(q);
		break;
	}
	case 2: {
		struct push_reply *rep = calloc(1, sizeof(*rep));
		uint32_t kind = (uint32_t)(arg % 5);

		check(rep != NULL, "out of memory");
		if (fz_note("push_reply_get", push_reply_get(&c, kind, rep)) == ATTEST_OK) {
			used = attest_cur_pos(&c);
			push_reply_put(&m, kind, rep);
			same(&m, body, used, "a push reply is not read canonically");
			push_reply_clear(rep);
		}
		free(rep);
		break;
	}
	case 3: {
		struct mint_result res;

		if (fz_note("mint_result_get", mint_result_get(&c, &res)) == ATTEST_OK) {
			mint_result_put(&m, &res);
			same(&m, body, n, "an issue result is not read canonically");
			free(res.chain);
		}
		break;
	}
	case 4: {
		struct admin_result res;
		uint32_t op = arg % 8;

		memset(&res, 0, sizeof(res));
		if (fz_note("admin_result_get", admin_result_get(&c, op, &res)) == ATTEST_OK) {
			used = attest_cur_pos(&c);
			res.op = op;
			admin_result_put(&m, &res);
			same(&m, body, used, "an admin result is not read canonically");
		}
		admin_result_clear(&res);
		break;
	}
	case 5: {
		struct fed_list *l = calloc(1, sizeof(*l));

		check(l != NULL, "out of memory");
		if (fz_note("fed_list_get", fed_list_get(&c, l)) == ATTEST_OK) {
			check(l->n <= FED_MAX, "a federation list over its cap");
			used = attest_cur_pos(&c);
			fed_list_put(&m, l);
			same(&m, body, used, "a federation list is not read canonically");
		}
		fed_list_clear(l);
		free(l);
		break;
	}
	}
	mon_out_free(&m);
	return 0;
}
