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
 *   - x86-64 with SSE4.2: the crc32 instruction, 8 bytes per step. Only
 *     these functions are compiled for SSE4.2 (a function-level target
 *     attribute), and they are only called after the CPU said it has SSE4.2,
 *     so the library still runs on any x86-64.
 *   - everywhere: slicing-by-8 over eight 256-entry tables, built once.
 * Both must agree bit for bit; tests compare them on random inputs and
 * against a bit-at-a-time reference.
 *
 * Three streams. The crc32 instruction takes 3 cycles but a core can start
 * one every cycle, so one running CRC uses a third of what the core can do.
 * Buffers of at least 3 * CRC_SHORT bytes are cut into three blocks of equal
 * length n whose CRCs run interleaved, the second and third starting from
 * a zero register. They are then joined with the rule that makes CRCs
 * extendable: the register after A then B is shift_n(reg after A) ^ (reg
 * after B from zero), where shift_n is "feed n zero bytes", a linear map of
 * the 32-bit register. shift_n for the two block lengths used (CRC_LONG and
 * CRC_SHORT) is kept as four 256-entry tables, one per register byte, so a
 * join costs 4 lookups. (This is the method of Intel's crc_pcl and of Mark
 * Adler's crc32c.c.) Big buffers go in rounds of 3 * CRC_LONG bytes, what
 * is left in rounds of 3 * CRC_SHORT, the last < 3 * CRC_SHORT bytes as one
 * stream.
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

/* Block lengths of the three-stream rounds (bytes, multiples of 8). A long
 * block keeps the joins rare on big batches; a short one still pays for its
 * join (~20 cycles) by running 96 instructions three at a time. */
#define CRC_LONG 8192
#define CRC_SHORT 256

static uint32_t crc_table[8][256];
/* crc_shift_long[k][b]: the register holding b in byte k, after CRC_LONG
 * zero bytes; the same for crc_shift_short and CRC_SHORT. */
static uint32_t crc_shift_long[4][256];
static uint32_t crc_shift_short[4][256];
static bool crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Fills t with the map "feed `zeros` zero bytes" on a raw (not inverted)
 * register. The map is linear (crc_table[0] is, and a zero byte adds
 * nothing), so it is known by where it sends each of the 32 one-bit
 * registers, and t[k][b] is the XOR of the images of b's bits in byte k.
 * Needs crc_table[0]. 32 * zeros table steps: ~0.3 ms for CRC_LONG, once. */
static void crc_shift_table_init(uint32_t t[4][256], size_t zeros)
{
	uint32_t image[32];
	size_t i;
	int bit, k, b;

	for (bit = 0; bit < 32; bit++) {
		uint32_t c = 1u << bit;

		for (i = 0; i < zeros; i++)
			c = crc_table[0][c & 0xff] ^ (c >> 8);
		image[bit] = c;
	}
	for (k = 0; k < 4; k++) {
		for (b = 0; b < 256; b++) {
			uint32_t v = 0;

			for (bit = 0; bit < 8; bit++)
				if (b & (1 << bit))
					v ^= image[8 * k + bit];
			t[k][b] = v;
		}
	}
}

static uint32_t crc_shift(const uint32_t t[4][256], uint32_t c)
{
	return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

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
	crc_shift_table_init(crc_shift_long, CRC_LONG);
	crc_shift_table_init(crc_shift_short, CRC_SHORT);
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
/* One round: the 3 * n bytes at p as three interleaved streams of n bytes
 * (n a multiple of 8), joined with shift_n. c is the raw register before
 * the round; returns the raw register after it. */
__attribute__((target("sse4.2")))
static inline uint64_t crc32c_sse42_round(uint64_t c, const uint8_t *p, size_t n,
					  const uint32_t shift[4][256])
{
	const uint8_t *end = p + n;
	uint64_t c1 = 0, c2 = 0;

	do {
		uint64_t w0, w1, w2;

		memcpy(&w0, p, sizeof w0);
		memcpy(&w1, p + n, sizeof w1);
		memcpy(&w2, p + 2 * n, sizeof w2);
		c = _mm_crc32_u64(c, w0);
		c1 = _mm_crc32_u64(c1, w1);
		c2 = _mm_crc32_u64(c2, w2);
		p += 8;
	} while (p < end);
	c = crc_shift(shift, (uint32_t)c) ^ c1;
	return crc_shift(shift, (uint32_t)c) ^ c2;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = ~crc;

	/* Bytes up to an 8-byte boundary first, so the main loops' loads are
	 * aligned (the instruction does not need it, but loads that straddle
	 * cache lines cost more). */
	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 3 * CRC_LONG) {
		c = crc32c_sse42_round(c, p, CRC_LONG, crc_shift_long);
		p += 3 * CRC_LONG;
		len -= 3 * CRC_LONG;
	}
	while (len >= 3 * CRC_SHORT) {
		c = crc32c_sse42_round(c, p, CRC_SHORT, crc_shift_short);
		p += 3 * CRC_SHORT;
		len -= 3 * CRC_SHORT;
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
