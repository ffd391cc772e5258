/* check_quote.h - `attest-verifier check-quote`: our quote checks applied to
 * files made by tpm2-tools 5.4:
 *   tpm2_quote -c ak -l sha256:0,1,2 -q NONCE -m msg -s sig -o pcrs -g sha256
 * against an AK public key PEM (tpm2_readpublic -f pem), a required PCR
 * selection and the nonce. Unlike tpm2_checkquote it refuses a quote whose
 * selection is not exactly the required one (docs/attestation.md). */
#ifndef VERIFIER_CHECK_QUOTE_H
#define VERIFIER_CHECK_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include "attestation/quote.h"

/* argv[0] == "check-quote". Prints a verdict line; returns 0 accepted,
 * 1 refused (error name and reason printed), 2 usage error. */
int vf_cmd_check_quote(int argc, char **argv);

enum vf_pcrs_format { VF_PCRS_SERIALIZED, VF_PCRS_VALUES };

/* What check-quote does, without printing: read the files, appraise with
 * attest_quote_appraise (required_mask, the nonce, no counters, no
 * reference sets). Returns an attest_err with the detail set; *res filled
 * on success. */
int vf_check_quote_files(const char *ak_pem, const char *msg, const char *sig, const char *pcrs,
			 enum vf_pcrs_format fmt, uint32_t required_mask, const uint8_t *nonce,
			 size_t nonce_len, struct attest_quote_result *res,
			 uint8_t values[24][32]) __attribute__((warn_unused_result));

/* "sha256:0,1,2" -> mask (SHA-256 bank only, PCRs 0..23, each once). */
int vf_parse_pcr_list(const char *s, uint32_t *mask) __attribute__((warn_unused_result));

/* tpm2-tools' "serialized" PCR file (tpm2-tools 5.4 lib/pcr.c
 * pcr_fwrite_serialized): the native-layout TPML_PCR_SELECTION, a 32-bit
 * count of TPML_DIGEST structs, then that many native-layout TPML_DIGEST;
 * integers little-endian. Exact size only, one SHA-256 bank, 32-byte
 * digests. values gets popcount(*mask) * 32 bytes in index order. */
int vf_parse_serialized_pcrs(const uint8_t *buf, size_t len, uint32_t *mask, uint8_t *values,
			     size_t *values_len) __attribute__((warn_unused_result));

#endif
