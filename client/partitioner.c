/*
 * partitioner.c -- where Kafka's Java client puts a keyed record, so keys
 * produced by rewind land in the partition a Java (or librdkafka with
 * partitioner=murmur2_random) producer would choose.
 *
 * murmur2 is Kafka's org.apache.kafka.common.utils.Utils.murmur2: MurmurHash2
 * with seed 0x9747b28c, the bytes read as little-endian 32-bit words, the
 * tail folded in, then the final mix. Java computes in signed int with
 * wrapping multiplication and >>> shifts; unsigned 32-bit arithmetic here
 * gives the same bits. The partition is Utils.toPositive(h) % n, where
 * toPositive(h) = h & 0x7fffffff (not abs(): abs(INT_MIN) stays negative).
 */
#include "client/client.h"

uint32_t cl_murmur2(const void *key, size_t len)
{
	const uint8_t *d = key;
	const uint32_t seed = 0x9747b28cu, m = 0x5bd1e995u;
	const int r = 24;
	uint32_t h = seed ^ (uint32_t)len;
	size_t len4 = len / 4;

	for (size_t i = 0; i < len4; i++) {
		const uint8_t *p = d + i * 4;
		uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			     (uint32_t)p[3] << 24;
		k *= m;
		k ^= k >> r;
		k *= m;
		h *= m;
		h ^= k;
	}
	const uint8_t *tail = d + (len & ~(size_t)3);
	switch (len % 4) {
	case 3:
		h ^= (uint32_t)tail[2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)tail[1] << 8;
		/* fall through */
	case 1:
		h ^= tail[0];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

int32_t cl_partition_for_key(const void *key, size_t len, int32_t n_partitions)
{
	return (int32_t)((cl_murmur2(key, len) & 0x7fffffffu) % (uint32_t)n_partitions);
}
