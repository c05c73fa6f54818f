#!/usr/bin/python3
"""test_client_produce.py BROKER REWIND [CASE...] -- `rewind produce` and
`rewind perf produce` (client/'s producer) against rewind-broker, checked
with kcat (librdkafka), a third-party reader.

Cases (all by default):
  codecs    every codec (none gzip snappy lz4 zstd): keyed records with
            headers and UTF-8 values; kcat reads them back byte for byte,
            and dump-log shows the batches carry that codec
  murmur2   keyed records land in the partition that a murmur2 computed
            here, in Python from the published algorithm (Kafka's
            Utils.murmur2 and toPositive(h) % n), says -- never our code
  restart   a broker SIGTERMed and one SIGKILLed in the middle of a long
            produce (restarted on the same port and data dir): every record
            acknowledged exactly once and in order in each partition
  proxy     connections cut right after a Produce request reached the
            broker (cut_proxy.py): the retries are duplicates, answered
            from the broker's idempotence state; every record once, in order
  errors    unknown topic with auto-create off, broker down (a message and
            a non-zero exit within the timeout), bad flags, --help, a
            keyless record to a compacted topic (the broker's reason shown)
  perf      rewind perf produce --json: every record delivered
Only processes this test started are signalled, by PID; waits poll with a
deadline.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, wait_until  # noqa: E402

BROKER, REWIND = sys.argv[1], sys.argv[2]
CASES = sys.argv[3:] or ["codecs", "murmur2", "restart", "proxy", "errors", "perf"]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2, from the published algorithm, as a Java int."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = length & ~3
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: bytes, n: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % n


# Kafka's own vectors (UtilsTest.testMurmur2) check the reference itself.
for k, v in [(b"21", -973932308), (b"foobar", -790332482), (b"abc", 479470107),
             (b"a-little-bit-long-string", -985981536)]:
    assert murmur2(k) == v, (k, murmur2(k), v)


def run(args, stdin=None, timeout=120):
    return subprocess.run([REWIND] + args, input=stdin, capture_output=True, timeout=timeout)


def kcat_read(bootstrap, topic, fmt, partition=None, count=None):
    args = ["kcat", "-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-f", fmt]
    if partition is not None:
        args += ["-p", str(partition)]
    if count is not None:
        args += ["-c", str(count)]
    p = subprocess.run(args, capture_output=True, timeout=120)
    if p.returncode != 0:
        fail("kcat -C %s failed: %s" % (topic, p.stderr.decode(errors="replace")))
    return p.stdout


def case_codecs(b):
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        topic = "codec-" + codec
        lines, expect = [], []
        for i in range(400):
            key = "key-%d" % i
            value = "value %d: é ü ☃ | spaced text %s" % (i, "x" * (i % 13))
            lines.append("%s\t%s" % (key, value))
            expect.append("%s|%s|h1=one,h2=%s\n" % (key, value, codec))
        data = ("\n".join(lines) + "\n").encode()
        p = run(["produce", topic, "--bootstrap", b.bootstrap, "--codec", codec, "-K", "\t",
                 "-H", "h1=one", "--header", "h2=" + codec, "--partition", "0"], stdin=data)
        if p.returncode != 0:
            fail("produce %s: %s" % (codec, p.stderr.decode(errors="replace")))
        if b"produced 400 records to " + topic.encode() not in p.stderr:
            fail("produce %s: no final line: %r" % (codec, p.stderr))
        got = kcat_read(b.bootstrap, topic, "%k|%s|%h\n", partition=0)
        if got != "".join(expect).encode():
            fail("codec %s: kcat read back different bytes:\n%r\nexpected\n%r"
                 % (codec, got[:300], "".join(expect)[:300]))
        seg = os.path.join(b.data, topic + "-0", "%020d.log" % 0)
        d = subprocess.run([REWIND, "dump-log", seg], capture_output=True, timeout=60)
        if ("codec: " + codec).encode() not in d.stdout:
            fail("codec %s: dump-log shows no %s batch:\n%s" % (codec, codec, d.stdout[:400]))
    # A null value line and an empty key work too.
    p = run(["produce", "codec-edge", "--bootstrap", b.bootstrap, "-K", ":", "-p", "0"],
            stdin=b":empty key\nk:\n")
    if p.returncode != 0:
        fail("produce edge: %s" % p.stderr)
    got = kcat_read(b.bootstrap, "codec-edge", "[%k][%s]\n")
    if got != b"[][empty key]\n[k][]\n":
        fail("edge records read back as %r" % got)


def case_murmur2(b):
    n = 6
    topic = "keyed"
    c = subprocess.run(["kcat", "-b", b.bootstrap, "-L"], capture_output=True, timeout=60)
    if c.returncode != 0:
        fail("kcat -L: %s" % c.stderr)
    keys = ["user-%d" % i for i in range(600)] + ["", "a", "ab", "abc", "☃-key"]
    data = "".join("%s=%d\n" % (k, i) for i, k in enumerate(keys)).encode()
    p = run(["produce", topic, "--bootstrap", b.bootstrap, "-K", "="], stdin=data)
    if p.returncode != 0:
        fail("produce keyed: %s" % p.stderr.decode(errors="replace"))
    got = kcat_read(b.bootstrap, topic, "%p|%k|%s\n").decode().splitlines()
    if len(got) != len(keys):
        fail("read %d keyed records, expected %d" % (len(got), len(keys)))
    last = {}
    for line in got:
        part, key, val = line.split("|")
        want = java_partition(key.encode(), n)
        if int(part) != want:
            fail("key %r landed in partition %s; murmur2 says %d" % (key, part, want))
        # per partition the values come in send order
        if int(val) <= last.get(part, -1):
            fail("partition %s out of order at %r" % (part, line))
        last[part] = int(val)


def data_bytes(b, topic):
    total = 0
    for d in os.listdir(b.data) if os.path.isdir(b.data) else []:
        if d.startswith(topic + "-"):
            for f in os.listdir(os.path.join(b.data, d)):
                if f.endswith(".log"):
                    try:
                        total += os.path.getsize(os.path.join(b.data, d, f))
                    except OSError:
                        pass
    return total


def check_once_in_order(bootstrap, topic, n_records, what):
    """Values 0..n_records-1 each exactly once, increasing in each partition."""
    got = kcat_read(bootstrap, topic, "%p|%k|%s\n").decode().splitlines()
    seen = {}
    per_part = {}
    for line in got:
        part, key, val = line.split("|")
        v = int(val)
        if v in seen:
            fail("%s: record %d appears twice (partitions %s and %s)" % (what, v, seen[v], part))
        seen[v] = part
        per_part.setdefault(part, []).append(v)
    missing = [i for i in range(n_records) if i not in seen]
    if missing:
        fail("%s: %d acknowledged records missing, first %r" % (what, len(missing), missing[:5]))
    for part, vals in per_part.items():
        if vals != sorted(vals):
            fail("%s: partition %s is out of order" % (what, part))


def case_restart(b):
    n_records = 150000
    for how in ["TERM", "KILL"]:
        topic = "restart-" + how.lower()
        proc = subprocess.Popen([REWIND, "produce", topic, "--bootstrap", b.bootstrap, "-K", ":",
                                 "--timeout", "120000", "--batch-size", "16384"],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        err = []
        t_err = threading.Thread(target=lambda: err.append(proc.stderr.read()))
        t_err.start()

        half = threading.Event()
        go_on = threading.Event()

        def feed():
            try:
                for i in range(0, n_records, 1000):
                    if i == n_records // 2:
                        half.set()
                        go_on.wait(60)
                    chunk = "".join("k%d:%d\n" % (j % 6, j) for j in range(i, i + 1000))
                    proc.stdin.write(chunk.encode())
                    proc.stdin.flush()
                proc.stdin.close()
            except BrokenPipeError:
                pass
        t = threading.Thread(target=feed)
        t.start()
        # Stop the broker once the first half is fed and part of it is on
        # disk, then feed the rest while it restarts.
        if not half.wait(60) or not wait_until(lambda: data_bytes(b, topic) > 200000, timeout=60):
            fail("no data reached the broker for %s" % topic)
        if how == "KILL":
            b.kill()
        else:
            b.stop()
        go_on.set()
        b.start()
        t.join(120)
        try:
            proc.wait(180)
        except subprocess.TimeoutExpired:
            proc.kill()
            fail("produce did not finish after the %s restart" % how)
        t_err.join(10)
        stderr = err[0].decode(errors="replace") if err else ""
        if proc.returncode != 0:
            fail("produce across a SIG%s restart exited %d: %s" % (how, proc.returncode, stderr))
        check_once_in_order(b.bootstrap, topic, n_records, "SIG" + how)
        print("restart SIG%s: %d records once each, in order (%s)" % (how, n_records, stderr.strip()))


def case_proxy(b):
    """Connections cut right after a Produce request reached the broker
    (cut_proxy.py): the retries are duplicates the broker must recognise by
    the producer's sequence numbers; every record once, in order."""
    here = os.path.dirname(os.path.abspath(__file__))
    n_records = 300000
    with tempfile.TemporaryDirectory() as tmp:
        events = os.path.join(tmp, "cuts")
        proxy = subprocess.Popen(["/usr/bin/python3", os.path.join(here, "cut_proxy.py"), events, "100"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        b2 = None
        try:
            line = proxy.stdout.readline().decode()
            if not line.startswith("port "):
                fail("cut_proxy said %r" % line)
            pport = int(line.split()[1])
            b2 = Broker(BROKER, tmp, "num.partitions=6",
                        "advertised.listeners=PLAINTEXT://127.0.0.1:%d" % pport)
            b2.start()
            proxy.stdin.write(b"%d\n" % b2.port)
            proxy.stdin.flush()
            data = "".join("k%d:%d\n" % (i % 6, i) for i in range(n_records)).encode()
            p = run(["produce", "cut", "--bootstrap", "127.0.0.1:%d" % pport, "-K", ":",
                     "--batch-size", "16384", "--timeout", "120000"], stdin=data, timeout=300)
            if p.returncode != 0:
                fail("produce through cut_proxy: %s" % p.stderr.decode(errors="replace"))
            os.kill(proxy.pid, signal.SIGUSR1)
            with open(events) as f:
                cuts = sum(1 for _ in f)
            if cuts == 0:
                fail("the proxy never cut a connection")
            check_once_in_order(b2.bootstrap, "cut", n_records, "cut connections")
            dups = b2.text().count("answered with its offsets, not appended again")
            if dups == 0:
                fail("no retry was answered as a duplicate (%d cuts)" % cuts)
            print("proxy: %d cuts, %d retries answered as duplicates, %d records once each in order"
                  % (cuts, dups, n_records))
            b2.stop()
            b2 = None
        finally:
            if b2 is not None:
                print(b2.tail(40))
                b2.kill()
            proxy.kill()
            proxy.wait()


def case_errors(b):
    def expect_fail(args, stdin, *words, timeout=60):
        t0 = time.monotonic()
        p = run(args, stdin=stdin, timeout=timeout)
        err = p.stderr.decode(errors="replace")
        if p.returncode == 0:
            fail("%r succeeded; expected a failure" % args)
        for w in words:
            if w not in err:
                fail("%r: message lacks %r:\n%s" % (args, w, err))
        return time.monotonic() - t0

    bs = ["--bootstrap", b.bootstrap]
    # auto-create off: a second broker
    with tempfile.TemporaryDirectory() as tmp2:
        b2 = Broker(BROKER, tmp2, "auto.create.topics.enable=false")
        b2.start()
        try:
            expect_fail(["produce", "no-such-topic", "--bootstrap", b2.bootstrap], b"x\n",
                        "UNKNOWN_TOPIC_OR_PARTITION", "rewind topics create no-such-topic")
        finally:
            b2.stop()
    # broker down: a port nobody listens on
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = "127.0.0.1:%d" % s.getsockname()[1]
    s.close()
    expect_fail(["produce", "t", "--bootstrap", dead, "--timeout", "2000"], b"x\n",
                "Connection refused", "is the broker running")
    # bad flags
    expect_fail(["produce", "t", "--codec", "brotli"] + bs, b"", "unknown codec 'brotli'")
    expect_fail(["produce", "t", "--acks", "1"] + bs, b"", "--no-idempotence")
    expect_fail(["produce", "t", "--acks", "2"] + bs, b"", "--acks")
    expect_fail(["produce"] + bs, b"", "missing TOPIC")
    expect_fail(["produce", "t", "--partition", "x"] + bs, b"", "--partition")
    expect_fail(["produce", "t", "--header", "novalue"] + bs, b"", "KEY=VALUE")
    expect_fail(["produce", "t", "--bogus"] + bs, b"", "unknown option")
    expect_fail(["produce", "t", "--bootstrap", "host:notaport"], b"x\n", "bad port")
    expect_fail(["produce", "errs", "-K", ":"] + bs, b"a:1\nno separator\n",
                "line 2 has no key separator")
    expect_fail(["produce", "errs", "--partition", "7"] + bs, b"x\n", "no partition 7")
    # records the broker refuses: Produce v9 carries its reason (KIP-467's
    # ErrorMessage), which the tool shows, and retrying is not suggested
    p = run(["topics", "create", "compacted", "--config", "cleanup.policy=compact"] + bs)
    if p.returncode != 0:
        fail("topics create compacted: %s" % p.stderr)
    expect_fail(["produce", "compacted"] + bs, b"no key\n", "INVALID_RECORD",
                "record 0 has no key, which a compacted topic (cleanup.policy=compact) needs",
                "refused the records themselves")
    p = run(["produce", "compacted", "-K", ":"] + bs, stdin=b"k:keyed\n")
    if p.returncode != 0:
        fail("a keyed record to a compacted topic: %s" % p.stderr)
    expect_fail(["perf", "produce", "--records", "0"] + bs, b"", "--records")
    expect_fail(["perf", "nonsense"], b"", "unknown mode")
    h = run(["produce", "--help"])
    if h.returncode != 0 or b"--key-separator" not in h.stdout:
        fail("produce --help: %r" % h)
    h = run(["perf", "produce", "--help"])
    if h.returncode != 0 or b"--record-size" not in h.stdout:
        fail("perf produce --help: %r" % h)
    # acks=1 and acks=0 work without idempotence
    for acks in ["1", "0"]:
        p = run(["produce", "acks" + acks, "--acks", acks, "--no-idempotence"] + bs, stdin=b"a\nb\n")
        if p.returncode != 0:
            fail("acks=%s: %s" % (acks, p.stderr))
        if not wait_until(lambda: kcat_read(b.bootstrap, "acks" + acks, "%s\n") == b"a\nb\n"):
            fail("acks=%s records not readable" % acks)


def case_perf(b):
    p = run(["perf", "produce", "perf-topic", "--bootstrap", b.bootstrap, "--records", "30000",
             "--record-size", "200", "--json"])
    if p.returncode != 0:
        fail("perf produce: %s" % p.stderr.decode(errors="replace"))
    r = json.loads(p.stdout)
    if r["records"] != 30000 or r["errors"] != 0 or r["bytes"] != 30000 * 200:
        fail("perf produce summary: %r" % r)
    lat = r["latency_ms"]
    if not (lat["count"] == 30000 and 0 <= lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"]):
        fail("perf produce latency: %r" % lat)
    got = kcat_read(b.bootstrap, "perf-topic", "%o\n")
    if len(got.splitlines()) != 30000:
        fail("perf produce wrote %d records, expected 30000" % len(got.splitlines()))
    p = run(["perf", "produce", "perf-spread", "--bootstrap", b.bootstrap, "--records", "6000",
             "--record-size", "10", "--spread", "3", "--json"])
    if p.returncode != 0 or json.loads(p.stdout)["records"] != 6000:
        fail("perf produce --spread: %r" % p)
    parts = kcat_read(b.bootstrap, "perf-spread", "%p\n").decode().split()
    if sorted(set(parts)) != ["0", "1", "2"] or parts.count("0") != 2000:
        fail("perf produce --spread 3 wrote to partitions %r" % sorted(set(parts)))
    p = run(["perf", "produce", "perf-rate", "--bootstrap", b.bootstrap, "--records", "2000",
             "--record-size", "10", "--throughput", "4000", "--codec", "lz4"])
    if p.returncode != 0 or b"records/s" not in p.stdout or b"p99.9" not in p.stdout:
        fail("perf produce --throughput: %r" % p)


def main():
    if subprocess.run(["which", "kcat"], capture_output=True).returncode != 0:
        print("SKIP: kcat not installed")
        sys.exit(77)
    with tempfile.TemporaryDirectory() as tmp:
        b = Broker(BROKER, tmp, "num.partitions=6")
        b.start()
        try:
            for c in CASES:
                globals()["case_" + c](b)
                print("ok: " + c)
            b.stop()
        finally:
            b.kill()


if __name__ == "__main__":
    main()
