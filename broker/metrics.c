/*
 * metrics.c -- the broker's counters and their Prometheus text rendering.
 *
 * Counters are plain atomics, written by reactor threads with relaxed
 * order (a scrape may see one counter a request ahead of another; nothing
 * relies on their agreement) and read by the HTTP thread (http.c) when
 * /metrics is scraped. Fixed-size arrays indexed by API key and error
 * code: no allocation, no lock on the request path.
 *
 * Exposed (https://prometheus.io/docs/instrumenting/exposition_formats/):
 *   rewind_requests_total{api,error}            counter
 *   rewind_request_latency_seconds{api}         histogram (every API served)
 *   rewind_network_bytes_total{direction}       counter (in/out)
 *   rewind_connections                          gauge
 *   rewind_partition_size_bytes{topic,partition}, _log_start_offset,
 *   _log_end_offset, _high_watermark            gauges, read from the topics
 *                                               layer at scrape time
 *   rewind_log_cleaner_*                        the log cleaner's counters and
 *                                               gauges (storage/cleaner.c),
 *                                               read at scrape time
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "broker/br_int.h"

#define MET_APIS 128                  /* api keys 0..127 */
#define MET_ERRS 130                  /* error codes -1..128 */

/* Upper bounds of the latency buckets, in ns (the last is +Inf). */
static const int64_t bucket_ns[] = {
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000,
	50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000,
	10000000000,
};
#define MET_BUCKETS (sizeof(bucket_ns) / sizeof(bucket_ns[0]))

struct br_metrics {
	atomic_llong requests[MET_APIS][MET_ERRS];
	atomic_llong latency_bucket[MET_APIS][MET_BUCKETS + 1];
	atomic_llong latency_sum_ns[MET_APIS];
	atomic_llong bytes_in, bytes_out;
	atomic_llong connections;
};

int br_metrics_new(br_metrics **out)
{
	/* calloc: all-zero bytes are valid initial atomics on every target
	 * libevent supports (lock-free 64-bit atomics). */
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void br_metrics_free(br_metrics *m)
{
	free(m);
}

void br_metrics_request(br_metrics *m, int16_t api_key, int16_t error_code)
{
	if (!m || api_key < 0 || api_key >= MET_APIS || error_code < -1 ||
	    error_code >= MET_ERRS - 1)
		return;
	atomic_fetch_add_explicit(&m->requests[api_key][error_code + 1], 1, memory_order_relaxed);
}

void br_metrics_bytes(br_metrics *m, int64_t in, int64_t out)
{
	if (!m)
		return;
	if (in)
		atomic_fetch_add_explicit(&m->bytes_in, in, memory_order_relaxed);
	if (out)
		atomic_fetch_add_explicit(&m->bytes_out, out, memory_order_relaxed);
}

void br_metrics_latency(br_metrics *m, int16_t api_key, int64_t ns)
{
	size_t i = 0;

	if (!m || api_key < 0 || api_key >= MET_APIS)
		return;
	while (i < MET_BUCKETS && ns > bucket_ns[i])
		i++;
	atomic_fetch_add_explicit(&m->latency_bucket[api_key][i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->latency_sum_ns[api_key], ns, memory_order_relaxed);
}

int64_t br_metrics_connections(br_metrics *m, int delta)
{
	if (!m)
		return 0;
	return atomic_fetch_add_explicit(&m->connections, delta, memory_order_relaxed) + delta;
}

/* ---------------------------------------------------------------- render */

static const char *api_label(int key, char *buf, size_t len)
{
	const kp_api_info *i = kp_api_find((int16_t)key);

	if (i)
		return i->name;
	snprintf(buf, len, "%d", key);
	return buf;
}

/* Prometheus label values escape backslash, quote and newline. Topic
 * names cannot hold them (Kafka's legal characters), but the rule costs
 * nothing here. */
static void put_label(struct evbuffer *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' || s[i] == '"')
			evbuffer_add_printf(out, "\\%c", s[i]);
		else if (s[i] == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, &s[i], 1);
	}
}

struct part_render {
	struct evbuffer *out;
	const char *metric;
	int which;
};

static void render_topic(br_topic *topic, void *arg)
{
	struct part_render *pr = arg;

	for (int32_t i = 0; i < topic->n_parts; i++) {
		br_part *p = br_topic_part(topic, i);
		st_log_stats st;
		int64_t v;

		if (!p || !p->log)
			continue;
		st_log_get_stats(p->log, &st);
		switch (pr->which) {
		case 0: v = st.size_bytes; break;
		case 1: v = st.start_offset; break;
		case 2: v = st.end_offset; break;
		default: v = st.high_watermark; break;
		}
		evbuffer_add_printf(pr->out, "%s{topic=\"", pr->metric);
		put_label(pr->out, topic->name, strlen(topic->name));
		evbuffer_add_printf(pr->out, "\",partition=\"%" PRId32 "\"} %" PRId64 "\n", i, v);
	}
}

static void render_cleaner(st_cleaner *c, struct evbuffer *out)
{
	st_cleaner_stats st;

	st_cleaner_get_stats(c, &st);
	evbuffer_add_printf(out,
		"# HELP rewind_log_cleaner_passes_total Compaction passes that rewrote segments.\n"
		"# TYPE rewind_log_cleaner_passes_total counter\n"
		"rewind_log_cleaner_passes_total %" PRId64 "\n"
		"# HELP rewind_log_cleaner_failures_total Compaction passes that failed (retried after log.cleaner.backoff.ms).\n"
		"# TYPE rewind_log_cleaner_failures_total counter\n"
		"rewind_log_cleaner_failures_total %" PRId64 "\n"
		"# HELP rewind_log_cleaner_bytes_total Bytes the cleaner read and wrote.\n"
		"# TYPE rewind_log_cleaner_bytes_total counter\n"
		"rewind_log_cleaner_bytes_total{direction=\"read\"} %" PRId64 "\n"
		"rewind_log_cleaner_bytes_total{direction=\"written\"} %" PRId64 "\n"
		"# HELP rewind_log_cleaner_records_removed_total Records dropped: superseded by a later value of their key, or tombstones past their delete horizon.\n"
		"# TYPE rewind_log_cleaner_records_removed_total counter\n"
		"rewind_log_cleaner_records_removed_total{kind=\"superseded\"} %" PRId64 "\n"
		"rewind_log_cleaner_records_removed_total{kind=\"tombstone\"} %" PRId64 "\n"
		"# HELP rewind_log_cleaner_last_pass_seconds Duration of the latest pass.\n"
		"# TYPE rewind_log_cleaner_last_pass_seconds gauge\n"
		"rewind_log_cleaner_last_pass_seconds %.3f\n"
		"# HELP rewind_log_cleaner_max_dirty_ratio Highest dirty ratio among compacted logs at the last pick.\n"
		"# TYPE rewind_log_cleaner_max_dirty_ratio gauge\n"
		"rewind_log_cleaner_max_dirty_ratio %.4f\n"
		"# HELP rewind_log_cleaner_map_bytes_per_key Memory of the latest pass's key map per key it held.\n"
		"# TYPE rewind_log_cleaner_map_bytes_per_key gauge\n"
		"rewind_log_cleaner_map_bytes_per_key %.2f\n"
		"# HELP rewind_log_cleaner_busy_threads Cleaner threads in a pass now.\n"
		"# TYPE rewind_log_cleaner_busy_threads gauge\n"
		"rewind_log_cleaner_busy_threads %d\n",
		st.passes, st.failures, st.bytes_read, st.bytes_written, st.records_removed,
		st.tombstones_removed, (double)st.last_pass_ms / 1000.0, st.max_dirty_ratio,
		st.map_keys > 0 ? (double)st.map_bytes / (double)st.map_keys : 0.0, st.busy_threads);
}

void br__metrics_render(br_metrics *m, br_broker *b, struct evbuffer *out)
{
	static const struct {
		const char *name, *help;
	} part_metrics[] = {
		{ "rewind_partition_size_bytes", "Bytes of the partition's segment files." },
		{ "rewind_partition_log_start_offset", "First offset still in the log." },
		{ "rewind_partition_log_end_offset", "Next offset to be assigned." },
		{ "rewind_partition_high_watermark", "Offsets below it are visible to consumers." },
	};
	char kb[16];

	evbuffer_add_printf(out,
		"# HELP rewind_requests_total Requests answered, by API and Kafka error code.\n"
		"# TYPE rewind_requests_total counter\n");
	for (int k = 0; k < MET_APIS; k++)
		for (int e = 0; e < MET_ERRS; e++) {
			long long n = atomic_load_explicit(&m->requests[k][e], memory_order_relaxed);

			if (n)
				evbuffer_add_printf(out, "rewind_requests_total{api=\"%s\",error=\"%d\"} %lld\n",
						    api_label(k, kb, sizeof(kb)), e - 1, n);
		}

	evbuffer_add_printf(out,
		"# HELP rewind_request_latency_seconds Time from a request's arrival to its response being queued.\n"
		"# TYPE rewind_request_latency_seconds histogram\n");
	for (int k = 0; k < MET_APIS; k++) {
		long long cum = 0, counts[MET_BUCKETS + 1];
		const char *api = api_label(k, kb, sizeof(kb));
		bool any = false;

		for (size_t i = 0; i <= MET_BUCKETS; i++) {
			counts[i] = atomic_load_explicit(&m->latency_bucket[k][i], memory_order_relaxed);
			any = any || counts[i];
		}
		/* Produce and Fetch always appear, so dashboards have them from
		 * the start; other APIs once used. */
		if (!any && k != KP_API_PRODUCE && k != KP_API_FETCH)
			continue;
		for (size_t i = 0; i < MET_BUCKETS; i++) {
			cum += counts[i];
			evbuffer_add_printf(out, "rewind_request_latency_seconds_bucket{api=\"%s\",le=\"%g\"} %lld\n",
					    api, (double)bucket_ns[i] / 1e9, cum);
		}
		cum += counts[MET_BUCKETS];
		evbuffer_add_printf(out, "rewind_request_latency_seconds_bucket{api=\"%s\",le=\"+Inf\"} %lld\n",
				    api, cum);
		evbuffer_add_printf(out, "rewind_request_latency_seconds_sum{api=\"%s\"} %.9f\n", api,
				    (double)atomic_load_explicit(&m->latency_sum_ns[k], memory_order_relaxed) / 1e9);
		evbuffer_add_printf(out, "rewind_request_latency_seconds_count{api=\"%s\"} %lld\n", api, cum);
	}

	evbuffer_add_printf(out,
		"# HELP rewind_network_bytes_total Bytes read from and written to Kafka clients.\n"
		"# TYPE rewind_network_bytes_total counter\n"
		"rewind_network_bytes_total{direction=\"in\"} %lld\n"
		"rewind_network_bytes_total{direction=\"out\"} %lld\n"
		"# HELP rewind_connections Open Kafka client connections.\n"
		"# TYPE rewind_connections gauge\n"
		"rewind_connections %lld\n",
		(long long)atomic_load(&m->bytes_in), (long long)atomic_load(&m->bytes_out),
		(long long)atomic_load(&m->connections));

	if (b->cleaner)
		render_cleaner(b->cleaner, out);
	if (!b->topics)
		return;
	for (int w = 0; w < 4; w++) {
		struct part_render pr = { out, part_metrics[w].name, w };

		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", part_metrics[w].name,
				    part_metrics[w].help, part_metrics[w].name);
		br_topics_foreach(b->topics, render_topic, &pr);
	}
}
