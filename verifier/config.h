/* config.h - how attest-verifier serve is configured (its command line,
 * attest-verifier.c), read by the server and every part of it. */
#ifndef VERIFIER_CONFIG_H
#define VERIFIER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* --dashboard: who may see the fleet dashboard (docs/dashboard.md) */
enum vf_dash { VF_DASH_LOOPBACK = 0, VF_DASH_ADMIN = 1, VF_DASH_OFF = 2 };

struct vf_config {
	const char *state;      /* state dir (attest-verifier init) */
	const char *store;      /* postgresql:// URI, or NULL: the SQLite STATE/verifier.db */
	const char *ca_dir;     /* fleet CA dir (attest-provision init) */
	const char *listen;     /* "ADDR:PORT"; port 0 = any free port */
	const char *port_file;  /* written with the bound port once listening */
	const char *policy;     /* policy file; default STATE/policy.json */
	uint32_t quote_mask;    /* PCRs a host quote must select; default 0,1,...,7 */
	int nonce_ttl;          /* seconds; default 60 */
	long rate_resource;     /* decisions per second per caller (--rate-caller); default 2000 */
	long rate_host;         /* host requests per second per address (--rate-host); default 50 */
	size_t leaf_cache;      /* decider leaf cache entries (--leaf-cache); 0: 16384 */
	size_t issuer_cache;    /* decider issuer cache entries (--issuer-cache); 0: 16384 */
	size_t ak_cache;        /* host AK cache entries (--ak-cache); 0: 4096 */
	const char *tcti;       /* a TPM for checkpoints of the verifier's own log, or NULL */
	int request_deadline;   /* seconds for a whole request; 0: 10 */
	unsigned max_conns;     /* 0: 256 (a quarter reserved for authenticated clients) */
	unsigned per_source;    /* unauthenticated connections per address; 0: 16 */
	const char *user;       /* as root: the serving process's user (NULL: attest-verifier) */
	/* replicas on one store (issue 18; docs/verifier-store.md "Replicas") */
	const char *replica_id; /* --replica-id; NULL: HOSTNAME:PORT */
	int sync_ms;            /* generation check period (--sync-ms); 0: 500 */
	int notify;             /* LISTEN for changes on PostgreSQL (--notify on|off) */
	int heartbeat;          /* seconds between heartbeats (--heartbeat); 0: 5 */
	int push_interval;      /* hosts' expected quote interval, seconds (--push-interval); 0: 60 */
	enum vf_dash dashboard; /* --dashboard; default loopback */
	/* behaviour detection (docs/detection.md) */
	int detect_off;             /* --no-detect: decisions are not scored */
	size_t detect_entities;     /* --detect-entities; 0: VD_ENTITIES_DEFAULT */
	const char *alert_webhook;  /* --alert-webhook URL, or NULL */
	const char *alert_ca;       /* --alert-webhook-ca FILE, or NULL */
	int alert_syslog;           /* --alert-syslog */
	int64_t posture_window;     /* --posture-attest-window seconds; 0: 3600 */
	int64_t posture_ttl_cap;    /* --posture-ttl-cap seconds; 0: VP_TTL_CAP_DEFAULT */
	/* federated trust domains (docs/spiffe.md "Decisions for federated agents") */
	const char *federation;     /* --federation FILE, or NULL: none */
	int64_t federation_max_age; /* --federation-max-age seconds; default 3600 */
};

#endif
