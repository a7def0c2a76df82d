/*
 * ntlm_message: the NTLMSSP wire format (MS-NLMP 2.2), parsing NEGOTIATE and
 * AUTHENTICATE and building CHALLENGE.  Internal to core/.  No crypto and no
 * state here: every field is checked against the message it came from, and a
 * parsed message points into the caller's buffer.
 */
#ifndef XI_NTLM_MESSAGE_H
#define XI_NTLM_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xi_error.h"

/* NegotiateFlags (MS-NLMP 2.2.2.5) that we read or set. */
#define XI_NTLMSSP_NEGOTIATE_UNICODE          0x00000001u
#define XI_NTLMSSP_NEGOTIATE_OEM              0x00000002u
#define XI_NTLMSSP_REQUEST_TARGET             0x00000004u
#define XI_NTLMSSP_NEGOTIATE_SIGN             0x00000010u
#define XI_NTLMSSP_NEGOTIATE_SEAL             0x00000020u
#define XI_NTLMSSP_NEGOTIATE_LM_KEY           0x00000080u
#define XI_NTLMSSP_NEGOTIATE_NTLM             0x00000200u
#define XI_NTLMSSP_NEGOTIATE_ANONYMOUS        0x00000800u
#define XI_NTLMSSP_NEGOTIATE_ALWAYS_SIGN      0x00008000u
#define XI_NTLMSSP_TARGET_TYPE_DOMAIN         0x00010000u
#define XI_NTLMSSP_NEGOTIATE_ESS              0x00080000u
#define XI_NTLMSSP_NEGOTIATE_TARGET_INFO      0x00800000u
#define XI_NTLMSSP_NEGOTIATE_VERSION          0x02000000u
#define XI_NTLMSSP_NEGOTIATE_128              0x20000000u
#define XI_NTLMSSP_NEGOTIATE_KEY_EXCH         0x40000000u
#define XI_NTLMSSP_NEGOTIATE_56               0x80000000u

/* AV pair ids (MS-NLMP 2.2.2.1). */
enum xi_ntlm_av_id {
	XI_MSV_AV_EOL = 0,
	XI_MSV_AV_NB_COMPUTER = 1,
	XI_MSV_AV_NB_DOMAIN = 2,
	XI_MSV_AV_DNS_COMPUTER = 3,
	XI_MSV_AV_DNS_DOMAIN = 4,
	XI_MSV_AV_FLAGS = 6,
	XI_MSV_AV_TIMESTAMP = 7
};
#define XI_MSV_AV_FLAG_MIC_PRESENT 0x00000002u

#define XI_NTLM_CHALLENGE_HEADER 56    /* through Version */
#define XI_NTLM_AUTH_MIC_OFFSET 72
#define XI_NTLM_AUTH_HEADER_MIC 88     /* header with Version and MIC */
#define XI_NTLM_V2_BLOB_MIN 28         /* NTLMv2_CLIENT_CHALLENGE before AvPairs */
#define XI_NTLM_FIELD_MAX 1024         /* any single field, in bytes */

/* A field of a parsed message: a slice of the message buffer. */
struct xi_ntlm_field {
	const uint8_t *data;
	uint16_t len;
	uint32_t offset;
};

struct xi_ntlm_negotiate {
	uint32_t flags;
};

struct xi_ntlm_authenticate {
	uint32_t flags;
	struct xi_ntlm_field lm;
	struct xi_ntlm_field nt;
	struct xi_ntlm_field domain;
	struct xi_ntlm_field user;
	struct xi_ntlm_field workstation;
	struct xi_ntlm_field session_key;
	/* Where the payload starts: the smallest offset of a non-empty field
	 * (or the message length).  The header before it may hold Version and
	 * MIC. */
	uint32_t payload_start;
};

/* Parse results: 0, or -1 with err set (always a malformed message). */
int xi_ntlm_parse_negotiate(const uint8_t *msg, size_t len, struct xi_ntlm_negotiate *out,
			    struct xi_error *err);
int xi_ntlm_parse_authenticate(const uint8_t *msg, size_t len, struct xi_ntlm_authenticate *out,
			       struct xi_error *err);

/* The fields of an NTLMv2 response the server needs.  blob points at the
 * NTLMv2_CLIENT_CHALLENGE (the NT response after NTProofStr). */
struct xi_ntlm_v2_blob {
	uint64_t timestamp;            /* FILETIME from the blob header */
	const uint8_t *client_challenge;
	bool has_av_flags;
	uint32_t av_flags;
	bool has_av_timestamp;
	uint64_t av_timestamp;
};

int xi_ntlm_parse_v2_blob(const uint8_t *blob, size_t len, struct xi_ntlm_v2_blob *out,
			  struct xi_error *err);

/* Input for building a CHALLENGE: names in UTF-8, NULL or "" to leave out. */
struct xi_ntlm_challenge_spec {
	uint32_t flags;                /* already negotiated */
	uint8_t server_challenge[8];
	uint64_t timestamp;            /* FILETIME for MsvAvTimestamp */
	const char *target_name;
	const char *nb_domain;
	const char *nb_computer;
	const char *dns_domain;
	const char *dns_computer;
};

/* Builds a CHALLENGE message (malloc'd into *out_r).  0 or -1. */
int xi_ntlm_build_challenge(const struct xi_ntlm_challenge_spec *spec, uint8_t **out_r,
			    size_t *len_r, struct xi_error *err);

/* Little-endian readers, also for the tests. */
uint16_t xi_ntlm_le16(const uint8_t *p);
uint32_t xi_ntlm_le32(const uint8_t *p);
uint64_t xi_ntlm_le64(const uint8_t *p);

/* Current time as a Windows FILETIME (100 ns units since 1601-01-01 UTC). */
uint64_t xi_ntlm_filetime_now(void);

#endif
