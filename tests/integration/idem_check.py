"""idem_check.py -- reads numbered records back and checks exactly-once order.

Shared by the idempotence tests. Records are the decimal numbers a
producer sent, record i to partition i % parts; consume() reads every
partition from the beginning to its high watermark with confluent-kafka
(assign, no groups) and check() says what is wrong, if anything.
"""
from confluent_kafka import Consumer, TopicPartition


def consume(bootstrap, topic, parts, timeout=120.0):
    """{partition: [numbers in offset order]}."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "idem-check",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "fetch.max.bytes": 8 << 20})
    out = {}
    try:
        for p in range(parts):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            out[p] = []
            if hi <= lo:
                continue
            c.assign([TopicPartition(topic, p, lo)])
            import time
            deadline = time.monotonic() + timeout
            last = lo - 1
            while last < hi - 1:
                if time.monotonic() > deadline:
                    raise AssertionError("partition %d: consumed up to offset %d of %d in %ds"
                                         % (p, last, hi, timeout))
                for m in c.consume(10000, 1.0):
                    if m.error():
                        raise AssertionError("partition %d: %s" % (p, m.error()))
                    last = m.offset()
                    out[p].append(int(m.value()))
            c.unassign()
    finally:
        c.close()
    return out


def check(got, parts, count=None, acked=None):
    """Every number at most once, increasing within each partition, in the
    partition it was sent to; all of 0..count-1 present (count given), or
    all acknowledged ones present (acked given). Returns the total."""
    seen = set()
    total = 0
    for p, nums in got.items():
        prev = -1
        for n in nums:
            if n in seen:
                raise AssertionError("number %d read twice (partition %d)" % (n, p))
            seen.add(n)
            if n % parts != p:
                raise AssertionError("number %d in partition %d" % (n, p))
            if n <= prev:
                raise AssertionError("partition %d: %d after %d (out of order)" % (p, n, prev))
            prev = n
        total += len(nums)
    if count is not None and len(seen) != count:
        missing = sorted(set(range(count)) - seen)
        raise AssertionError("%d of %d numbers missing, first %r" % (len(missing), count, missing[:10]))
    if acked is not None:
        lost = sorted(acked - seen)
        if lost:
            raise AssertionError("%d acknowledged numbers missing, first %r" % (len(lost), lost[:10]))
    return total
