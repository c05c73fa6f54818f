"""test_idempotence_proxy.py -- idempotent producers through a proxy that
cuts their connections: every record lands exactly once, in order.

    /usr/bin/python3 test_idempotence_proxy.py BROKER_EXE IDEM_PRODUCER_EXE

The broker advertises the proxy (cut_proxy.py), so every connection of the
clients goes through it. While the proxy cuts a connection right after
forwarding a Produce request (every ~300 ms), two idempotent producers send
numbered records to 3 partitions each: librdkafka 2.0.2 from C
(idem_producer.c) and confluent-kafka 1.7.0 (on the same librdkafka) from
this process. Then the cuts stop and a consumer reads everything back:
each number exactly once, increasing within its partition.

The test also checks that what it claims to test happened: cuts did occur,
and the broker answered retries as duplicates (its log says so).

REWIND_IDEM_RECORDS sets the records per producer (default 100000; the
full run, scripts/idempotence.sh, uses 1000000).
"""
import os
import signal
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, wait_until  # noqa: E402
import idem_check  # noqa: E402

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PARTS = 3
HERE = os.path.dirname(os.path.abspath(__file__))


def python_producer(bootstrap, topic, count):
    failed = []
    delivered = [0]

    def dr(err, msg):
        if err is not None:
            failed.append((msg.value(), str(err)))
        else:
            delivered[0] += 1

    fatal = []

    def on_error(err):
        if err.fatal():
            fatal.append(str(err))

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                  "linger.ms": 5, "batch.num.messages": 100, "message.timeout.ms": 300000, "retry.backoff.ms": 20,
                  "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 500,
                  "queue.buffering.max.messages": 200000, "error_cb": on_error})
    for i in range(count):
        while True:
            try:
                p.produce(topic, value=str(i).encode(), partition=i % PARTS, on_delivery=dr)
                break
            except BufferError:
                p.poll(0.01)
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(300)
    assert not fatal, "confluent-kafka fatal error: %s" % fatal
    assert left == 0, "%d records still queued after flush" % left
    assert not failed, "%d records failed, first %r" % (len(failed), failed[:3])
    assert delivered[0] == count, "%d of %d delivered" % (delivered[0], count)


def main():
    broker_exe, producer_exe = sys.argv[1], sys.argv[2]
    count = int(os.environ.get("REWIND_IDEM_RECORDS", "100000"))
    tmp = tempfile.mkdtemp(prefix="rewind-idem-proxy-")
    events = os.path.join(tmp, "cuts")
    proxy = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "cut_proxy.py"), events, "300"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    broker = None
    cproc = None
    try:
        line = proxy.stdout.readline().decode()
        assert line.startswith("port "), "proxy said %r" % line
        pport = int(line.split()[1])
        broker = Broker(broker_exe, tmp, "advertised.listeners=PLAINTEXT://127.0.0.1:%d" % pport)
        broker.start()
        proxy.stdin.write(b"%d\n" % broker.port)
        proxy.stdin.flush()
        via = "127.0.0.1:%d" % pport

        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        fs = admin.create_topics([NewTopic(t, PARTS, 1) for t in ("idem-c", "idem-py")])
        for f in fs.values():
            f.result(30)

        # Both producers at once, as two applications would be.
        cproc = subprocess.Popen([producer_exe, via, "idem-c", str(count)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        python_producer(via, "idem-py", count)
        out, err = cproc.communicate(timeout=600)
        assert cproc.returncode == 0, "idem_producer failed:\n%s%s" % (out.decode(), err.decode())
        cproc = None

        os.kill(proxy.pid, signal.SIGUSR1)
        with open(events) as f:
            cuts = sum(1 for _ in f)
        assert cuts > 0, "the proxy never cut a connection"
        for topic in ("idem-c", "idem-py"):
            got = idem_check.consume(broker.bootstrap, topic, PARTS)
            total = idem_check.check(got, PARTS, count=count)
            print("%s: %d records, each exactly once and in order" % (topic, total))
        dups = broker.text().count("answered with its offsets, not appended again")
        assert dups > 0, "no retry was answered as a duplicate (%d cuts)" % cuts
        print("%d connections cut after a Produce request; %d retries answered as duplicates"
              % (cuts, dups))
        broker.stop()
        broker = None
    finally:
        if cproc is not None:
            cproc.kill()
            cproc.wait()
        if broker is not None:
            print(broker.tail(60))
            broker.kill()
        proxy.kill()
        proxy.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
