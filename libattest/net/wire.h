/* wire.h - attestd's local protocol framing (docs/protocol.md).
 *
 * A frame is a 4-byte big-endian length followed by that many bytes of one
 * JSON object (UTF-8). Lengths of 0 or above ATTEST_WIRE_MAX_FRAME are
 * refused before anything is read. JSON inside is parsed strictly
 * (attest_json_parse: depth cap, duplicate keys, trailing bytes).
 */
#ifndef LIBATTEST_WIRE_H
#define LIBATTEST_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "attest/attest.h"

#define ATTEST_WIRE_MAX_FRAME (64 * 1024)
#define ATTEST_WIRE_HDR 4

/* Length announced by a frame header; ATTEST_E_TOO_LARGE / ATTEST_E_PARSE
 * for a length over the cap or zero. */
int attest_wire_frame_len(const uint8_t hdr[ATTEST_WIRE_HDR], size_t *len) ATTEST_MUST_CHECK;
/* Serialise obj into a frame; *out malloc'd (header + JSON). */
int attest_wire_encode(const cJSON *obj, uint8_t **out, size_t *outlen) ATTEST_MUST_CHECK;
/* Blocking helpers for clients and tests on a connected stream socket. */
int attest_wire_send(int fd, const cJSON *obj) ATTEST_MUST_CHECK;
int attest_wire_recv(int fd, int timeout_ms, cJSON **out) ATTEST_MUST_CHECK;

#endif
