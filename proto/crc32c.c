/*
 * crc32c.c -- CRC-32C (Castagnoli), the checksum of RecordBatch v2.
 *
 * Parameters: reflected polynomial 0x82F63B78, initial value and final xor
 * 0xFFFFFFFF, so CRC-32C("123456789") = 0xE3069283. The public functions
 * take and return the finished (post-xor) value, which is what lets a caller
 * extend a CRC over several pieces: kp_crc32c(kp_crc32c(0, a), b) equals the
 * CRC of a followed by b.
 *
 * Two implementations:
 *   - x86-64 with SSE4.2: the crc32 instruction, 8 bytes per step. Only the
 *     one function is compiled for SSE4.2 (a function-level target
 *     attribute), and it is only called after the CPU said it has SSE4.2, so
 *     the library still runs on any x86-64.
 *   - everywhere: slicing-by-8 over eight 256-entry tables, built once.
 * Both must agree bit for bit; tests compare them on random inputs.
 *
 * The tables and the CPU check are process-wide, written exactly once under
 * pthread_once and read-only after that, so any thread may call in.
 */
#include <assert.h>
#include <pthread.h>
#include <string.h>

#include "proto/kp_int.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#define KP_CRC_HAVE_X86 1
#else
#define KP_CRC_HAVE_X86 0
#endif

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static bool crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	/* table[k][i] is the CRC of byte i followed by k zero bytes, which lets
	 * eight input bytes be folded in with eight independent lookups. */
	for (i = 0; i < 256; i++) {
		c = crc_table[0][i];
		for (j = 1; j < 8; j++) {
			c = crc_table[0][c & 0xff] ^ (c >> 8);
			crc_table[j][i] = c;
		}
	}
#if KP_CRC_HAVE_X86
	crc_hw = __builtin_cpu_supports("sse4.2");
#else
	crc_hw = false;
#endif
}

static void crc_ensure_init(void)
{
	/* pthread_once cannot fail with a valid, statically initialised
	 * control; a failure would be a programmer error. */
	int rc = pthread_once(&crc_once, crc_init);
	(void)rc;
	assert(rc == 0);
}

uint32_t kp_crc32c_portable(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t c = ~crc;

	crc_ensure_init();
	while (len >= 8) {
		/* Assemble little-endian by hand: independent of host byte
		 * order and of p's alignment. */
		uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				   (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
			      (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;

		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

#if KP_CRC_HAVE_X86
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = ~crc;

	/* Bytes up to an 8-byte boundary first, so the main loop's loads are
	 * aligned (the instruction does not need it, but loads that straddle
	 * cache lines cost more). */
	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, sizeof w);
		c = _mm_crc32_u64(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

bool kp_crc32c_hw_available(void)
{
	crc_ensure_init();
	return crc_hw;
}

uint32_t kp_crc32c(uint32_t crc, const void *data, size_t len)
{
	crc_ensure_init();
#if KP_CRC_HAVE_X86
	if (crc_hw)
		return crc32c_sse42(crc, data, len);
#endif
	return kp_crc32c_portable(crc, data, len);
}
