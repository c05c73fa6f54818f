#!/usr/bin/python3
"""test_bad_input.py BROKER -- the Kafka listener against bad and awkward clients.

Starts rewind-broker on free ports (port 0; the bound port is read from its
log) with a temporary log dir, then plays clients over raw sockets:

  - truncated frames, a client closing mid-request, negative and huge
    sizes, garbage bytes, unknown API keys, unsupported versions, a body
    that does not decode: each gets a clean disconnect (or, for
    ApiVersions, UNSUPPORTED_VERSION in a v0 body listing the ranges) and
    exactly ONE log line naming the peer and the reason;
  - ApiVersions v0 and v3 answered with known bytes;
  - responses stay in request order when a handler parks (acks=all
    produce pipelined with ApiVersions);
  - a parked request whose client left is freed when it completes;
  - old message sets (magic 0/1) get UNSUPPORTED_FOR_MESSAGE_FORMAT in
    Produce v0-v2 and INVALID_RECORD in v3+, never CORRUPT_MESSAGE, and
    Produce v8 says why in its ErrorMessage (decoded by hand);
  - a slow reader is throttled (connection.max.queued.bytes) while other
    clients are served, and later gets every response, in order;
  - max.connections and connections.max.idle.ms (second broker);
  - kcat -L (Metadata) when kcat is installed.

After all that a good ApiVersions request is still answered. Processes this
test starts are stopped by PID.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kafka_frames import (closed_by_peer, frame, produce_error, produce_v3,  # noqa: E402
                          recv_frame)

BROKER = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    else:
        print("ok:", what, flush=True)


def wait_until(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.02)
    return fn()


class Broker:
    def __init__(self, tmp, name, *sets):
        self.logpath = os.path.join(tmp, name + ".log")
        self.log = open(self.logpath, "wb")
        args = [BROKER, "--set", "log.dirs=" + os.path.join(tmp, name),
                "--set", "listeners=PLAINTEXT://127.0.0.1:0",
                "--set", "metrics.listener=127.0.0.1:0"]
        for s in sets:
            args += ["--set", s]
        self.proc = subprocess.Popen(args, stderr=self.log, stdout=subprocess.DEVNULL)
        text = wait_until(lambda: " ready" in self.text() and self.text())
        if not text:
            raise SystemExit("broker did not start:\n" + self.text())
        self.port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", text).group(1))

    def text(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def lines_for(self, peer):
        return [l for l in self.text().splitlines() if peer in l]

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def connect(b):
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    return s, "127.0.0.1:%d" % s.getsockname()[1]


def one_line(b, peer, pattern, what):
    lines = wait_until(lambda: b.lines_for(peer), 5)
    check(len(lines) == 1 and re.search(pattern, lines[0]) is not None,
          "%s: one log line naming %s (%r)" % (what, peer, lines))


# ------------------------------------------------------------------ tests

def test_api_versions_known_bytes(b):
    s, _ = connect(b)
    s.sendall(frame(18, 0, 7))
    r = recv_frame(s)
    check(r is not None and r[:4] == struct.pack(">i", 7), "ApiVersions v0: correlation id echoed")
    err, n = struct.unpack(">hi", r[4:10])
    keys = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", r[10 + 6 * i:16 + 6 * i])
        keys[k] = (lo, hi)
    check(err == 0 and keys.get(18) == (0, 3) and len(r) == 10 + 6 * n,
          "ApiVersions v0: error 0, lists ApiVersions 0-3, nothing else after")
    check(list(keys) == sorted(keys), "ApiVersions v0: keys in ascending order")
    # v3: flexible request (header v2, compact strings) but response header v0.
    s.sendall(frame(18, 3, 8, b"\x05rdkf\x042.0\x00", hdr=2))
    r3 = recv_frame(s)
    expect = struct.pack(">ih", 8, 0) + bytes([n + 1])
    for k, (lo, hi) in keys.items():
        expect += struct.pack(">hhh", k, lo, hi) + b"\x00"
    expect += struct.pack(">i", 0) + b"\x00"
    check(r3 == expect, "ApiVersions v3: compact array, tags, header v0 (known bytes)")
    s.close()
    return keys


def test_api_versions_unsupported(b, keys):
    s, peer = connect(b)
    s.sendall(frame(18, 99, 9, b"", hdr=2))
    r = recv_frame(s)
    check(r is not None and r[:4] == struct.pack(">i", 9) and struct.unpack(">h", r[4:6])[0] == 35,
          "ApiVersions v99: UNSUPPORTED_VERSION (35)")
    n = struct.unpack(">i", r[6:10])[0] if r else -1
    check(n == len(keys) and len(r) == 10 + 6 * n, "ApiVersions v99: v0 body listing every range")
    s.sendall(frame(18, 0, 10))
    check(recv_frame(s) is not None, "ApiVersions v99: the connection stays usable")
    s.close()
    check(not b.lines_for(peer), "ApiVersions v99: not a disconnect, no log line")


def test_disconnects(b):
    cases = [
        ("negative size", struct.pack(">i", -5), r"invalid request size -5"),
        ("size below a header", struct.pack(">i", 3) + b"abc", r"invalid request size 3"),
        ("huge size", struct.pack(">i", 0x7FFFFFFF), r"larger than socket\.request\.max\.bytes"),
        ("garbage bytes", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", r"larger than socket\.request\.max\.bytes"),
        ("unknown API key", frame(9999, 0, 1), r"unknown API key 9999"),
        ("unsupported Metadata version", frame(3, 99, 1, b"", hdr=2), r"unsupported version 99 of Metadata"),
        ("truncated header", struct.pack(">i", 8) + struct.pack(">hhi", 3, 1, 1)[:8] + b"",
         r"malformed Metadata v1 request header"),
        ("body that does not decode", frame(3, 1, 1, b"\x00\x00\x00\x05\x00"),
         r"bad Metadata v1 request"),
    ]
    for what, data, pattern in cases:
        s, peer = connect(b)
        s.sendall(data)
        check(closed_by_peer(s), what + ": disconnected")
        s.close()
        one_line(b, peer, pattern, what)

    # A truncated frame, then the client goes away.
    for what, data in [("closing mid-frame", struct.pack(">i", 100) + b"\x00\x12\x00\x00"),
                       ("closing mid-size", b"\x00\x00")]:
        s, peer = connect(b)
        s.sendall(data)
        time.sleep(0.1)
        s.close()
        one_line(b, peer, r"mid-request", what)
    # A frame bigger than the read buffer, cut off: the direct-read path.
    s, peer = connect(b)
    s.sendall(struct.pack(">i", 200000) + frame(18, 0, 1)[4:] + b"\x00" * 100000)
    time.sleep(0.1)
    s.close()
    one_line(b, peer, r"mid-request \(\d+ of 200000 bytes", "closing mid-frame (big frame)")


def test_order_with_parked_produce(b):
    # Create the topic through Metadata auto-creation by a first produce.
    s, peer = connect(b)
    s.sendall(frame(0, 3, 1, produce_v3(b"order", b"warm-up")))
    first = recv_frame(s)
    check(first is not None and first[:4] == struct.pack(">i", 1), "produce v3 answered")
    # acks=all produce (parks until the sync) pipelined with ApiVersions,
    # which is done at once: the answers must still come in request order.
    s.sendall(frame(0, 3, 2, produce_v3(b"order", b"x" * 1000)) + frame(18, 0, 3) +
              frame(0, 3, 4, produce_v3(b"order", b"y")) + frame(18, 0, 5))
    got = [struct.unpack(">i", recv_frame(s)[:4])[0] for _ in range(4)]
    check(got == [2, 3, 4, 5], "responses in request order with parked produces (%r)" % got)
    # A parked produce whose client leaves at once: freed when it completes.
    s.sendall(frame(0, 3, 6, produce_v3(b"order", b"z" * 5000)))
    s.close()
    time.sleep(0.3)
    check(b.proc.poll() is None, "broker alive after a client left with a parked produce")


def old_message_set(magic, value):
    """One message in the pre-0.11 format (magic 0 or 1), as old clients
    send it: offset, size, CRC-32 (zlib), magic, attributes, [timestamp],
    key (null), value."""
    import zlib
    body = struct.pack(">bb", magic, 0)
    if magic == 1:
        body += struct.pack(">q", int(time.time() * 1000))
    body += struct.pack(">i", -1) + struct.pack(">i", len(value)) + value
    msg = struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF) + body
    return struct.pack(">qi", 0, len(msg)) + msg


def produce_raw(version, topic, records):
    body = struct.pack(">h", -1) if version >= 3 else b""
    return (body + struct.pack(">hi", 1, 30000) + struct.pack(">i", 1) +
            struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1) +
            struct.pack(">i", 0) + struct.pack(">i", len(records)) + records)


def produce_v8_answer(r):
    """(error, [(batch_index, message)], error_message) of the one partition
    of a Produce v8 response (KIP-467's layout, decoded by hand here)."""
    at = 4
    n_topics, tl = struct.unpack(">ih", r[at:at + 6])
    at += 6 + tl
    n_parts, _, err = struct.unpack(">iih", r[at:at + 10])
    at += 10 + 24                       # base offset, log append time, log start
    if n_topics != 1 or n_parts != 1:
        return None

    def nullable_string(at):
        n = struct.unpack(">h", r[at:at + 2])[0]
        return (None, at + 2) if n < 0 else (r[at + 2:at + 2 + n].decode(), at + 2 + n)
    n_rec = struct.unpack(">i", r[at:at + 4])[0]
    at += 4
    recs = []
    for _ in range(n_rec):
        idx = struct.unpack(">i", r[at:at + 4])[0]
        msg, at = nullable_string(at + 4)
        recs.append((idx, msg))
    msg, at = nullable_string(at)
    check(len(r) == at + 4, "Produce v8 answer: only the throttle time after the partitions")
    return err, recs, msg


def test_old_message_formats(b):
    # Old message sets (magic 0 and 1), small ones shorter than a v2 batch
    # header and big ones longer: UNSUPPORTED_FOR_MESSAGE_FORMAT (43) in
    # Produce v0-v2, INVALID_RECORD (87) in v3+ as Kafka's
    # ProduceRequest.validateRecords answers -- never CORRUPT_MESSAGE, and
    # nothing appended.
    s, _ = connect(b)
    corr = 100
    for version, magic, size, want in [(2, 0, 5, 43), (2, 1, 5, 43), (0, 0, 5, 43),
                                       (2, 1, 500, 43), (3, 1, 5, 87), (3, 0, 500, 87)]:
        corr += 1
        s.sendall(frame(0, version, corr, produce_raw(version, b"order",
                                                      old_message_set(magic, b"x" * size))))
        r = recv_frame(s)
        got = produce_error(r) if r and r[:4] == struct.pack(">i", corr) else None
        check(got == want, "produce v%d of a magic-%d message (%d-byte value): error %r, want %d"
              % (version, magic, size, got, want))
    # Produce v8+ says why (ErrorMessage, KIP-467); no one record is at
    # fault, so RecordErrors stays empty.
    s.sendall(frame(0, 8, 150, produce_raw(8, b"order", old_message_set(1, b"x" * 5))))
    ans = produce_v8_answer(recv_frame(s))
    check(ans == (87, [], "Produce requests with version 3 and above are only allowed to "
                  "contain record batches with magic version 2"),
          "produce v8 of a magic-1 message: INVALID_RECORD with Kafka's words (%r)" % (ans,))
    # The connection and the topic still work: a v2 batch is appended, and
    # its v8 answer carries no message.
    s.sendall(frame(0, 3, 200, produce_v3(b"order", b"after-old-formats")))
    r = recv_frame(s)
    check(r is not None and produce_error(r) == 0, "a v2 batch after the old formats is appended")
    s.sendall(frame(0, 8, 201, produce_v3(b"order", b"v8")))
    ans = produce_v8_answer(recv_frame(s))
    check(ans == (0, [], None), "produce v8 of a good batch: no error, no message (%r)" % (ans,))
    # A record at fault is named in RecordErrors: a batch the producer
    # stamped LogAppendTime (attribute bit 3) is INVALID_TIMESTAMP, record 0.
    s.sendall(frame(0, 8, 202, produce_v3(b"order", b"lat", attributes=0x08)))
    ans = produce_v8_answer(recv_frame(s))
    why = ("the producer set the timestamp type to LogAppendTime, which only the broker "
           "may set")
    check(ans == (32, [(0, why)], why),
          "produce v8 of a LogAppendTime batch: INVALID_TIMESTAMP naming record 0 (%r)" % (ans,))
    s.close()


def test_slow_reader(b):
    # Small kernel buffers (set before connect, so the TCP window obeys
    # them) and 14-byte requests whose answers are ~7 times bigger: a broker
    # without back-pressure would take every request and queue megabytes.
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    slow.connect(("127.0.0.1", b.port))
    peer = "127.0.0.1:%d" % slow.getsockname()[1]
    n = 200000
    payload = b"".join(frame(18, 0, i, client=b"") for i in range(n))
    slow.settimeout(0.5)
    sent = 0
    while sent < len(payload):
        try:
            sent += slow.send(payload[sent:sent + 65536])
        except socket.timeout:
            break
    check(sent < len(payload), "slow reader: the broker stopped reading it (%d of %d bytes taken)"
          % (sent, len(payload)))
    # Everyone else is still served meanwhile.
    s, _ = connect(b)
    s.sendall(frame(18, 0, 42))
    r = recv_frame(s)
    check(r is not None and r[:4] == struct.pack(">i", 42), "slow reader: another client is served")
    s.close()
    # Now read (the rest is sent by a thread): every response arrives, in order.
    import threading
    slow.settimeout(30)
    t = threading.Thread(target=lambda: slow.sendall(payload[sent:]))
    t.start()
    buf = bytearray()
    expect = 0
    ok = True
    while expect < n and ok:
        d = slow.recv(1 << 20)
        if not d:
            ok = False
            break
        buf += d
        pos = 0
        while len(buf) - pos >= 4:
            size = struct.unpack_from(">i", buf, pos)[0]
            if len(buf) - pos - 4 < size:
                break
            if struct.unpack_from(">i", buf, pos + 4)[0] != expect:
                ok = False
                break
            expect += 1
            pos += 4 + size
        del buf[:pos]
    t.join()
    check(ok and expect == n, "slow reader: all %d responses in order once it reads (%d)" % (n, expect))
    slow.close()
    check(not b.lines_for(peer), "slow reader: not logged as bad")


def test_kcat(b):
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if not kcat:
        print("skip: kcat not installed")
        return
    r = subprocess.run([kcat, "-b", "127.0.0.1:%d" % b.port, "-L", "-m", "5"],
                       capture_output=True, timeout=30)
    out = r.stdout.decode()
    check(r.returncode == 0 and "1 brokers" in out and "127.0.0.1:%d" % b.port in out,
          "kcat -L lists the broker at its bound port")


def test_metrics(b):
    import urllib.request
    port = int(re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", b.text()).group(1))
    base = "http://127.0.0.1:%d" % port
    with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
        check(r.status == 200 and r.read().strip() == b"ok", "/healthz says ok")
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    check(re.search(r'^rewind_requests_total\{api="ApiVersions",error="0"\} \d+$', text, re.M),
          "/metrics: requests by API and error code")
    check(re.search(r'^rewind_requests_total\{api="ApiVersions",error="35"\} 1$', text, re.M),
          "/metrics: the UNSUPPORTED_VERSION answer counted")
    check(re.search(r'^rewind_request_latency_seconds_bucket\{api="Produce",le="\+Inf"\} [1-9]', text, re.M)
          and 'rewind_request_latency_seconds_count{api="Fetch"}' in text,
          "/metrics: latency histograms for Produce and Fetch")
    check(re.search(r'^rewind_network_bytes_total\{direction="in"\} [1-9]', text, re.M)
          and re.search(r'^rewind_connections \d+$', text, re.M), "/metrics: bytes and connections")
    check(re.search(r'^rewind_partition_log_end_offset\{topic="order",partition="0"\} [1-9]', text, re.M)
          and re.search(r'^rewind_partition_size_bytes\{topic="order",partition="0"\} [1-9]', text, re.M),
          "/metrics: per-partition size and log end offset")
    try:
        urllib.request.urlopen(base + "/nope", timeout=10)
        check(False, "/nope is 404")
    except urllib.error.HTTPError as e:
        check(e.code == 404, "/nope is 404")


def test_limits(tmp):
    b = Broker(tmp, "limits", "max.connections=2", "connections.max.idle.ms=300")
    try:
        a, pa = connect(b)
        c, pc = connect(b)
        for s in (a, c):
            s.sendall(frame(18, 0, 1))
            recv_frame(s)
        d, pd = connect(b)
        check(closed_by_peer(d, 5), "max.connections: the third connection is closed")
        one_line(b, pd, r"max\.connections \(2\) reached", "max.connections")
        d.close()
        t0 = time.monotonic()
        check(closed_by_peer(a, 5), "idle connection closed")
        el = time.monotonic() - t0
        check(0.15 < el < 2.0, "idle close after about connections.max.idle.ms (%.2fs)" % el)
        one_line(b, pa, r"idle for \d+ ms", "idle timeout")
        closed_by_peer(c, 5)
        a.close()
        c.close()
        # Slots are given back: a new client is served.
        e, _ = connect(b)
        e.sendall(frame(18, 0, 5))
        check(recv_frame(e) is not None, "max.connections: slots freed by closed connections")
        e.close()
    finally:
        check(b.stop() == 0, "limits broker exits 0 on SIGTERM")


def main():
    tmp = tempfile.mkdtemp(prefix="rewind-bad-input-")
    b = None
    try:
        b = Broker(tmp, "main", "socket.request.max.bytes=1048576",
                   "connection.max.queued.bytes=65536")
        keys = test_api_versions_known_bytes(b)
        test_api_versions_unsupported(b, keys)
        test_disconnects(b)
        test_order_with_parked_produce(b)
        test_old_message_formats(b)
        test_slow_reader(b)
        test_kcat(b)
        test_metrics(b)
        # After all of it, a good client is answered.
        s, _ = connect(b)
        s.sendall(frame(18, 0, 77))
        r = recv_frame(s)
        check(r is not None and r[:4] == struct.pack(">i", 77), "a good ApiVersions still answered")
        s.close()
        check(b.stop() == 0, "broker exits 0 on SIGTERM")
        check("all partitions closed cleanly" in b.text(), "clean close logged")
        test_limits(tmp)
    finally:
        if b and b.proc.poll() is None:
            os.kill(b.proc.pid, signal.SIGKILL)
        if failures and b:
            sys.stderr.write("---- broker log\n" + b.text())
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failures" % len(failures))
        sys.exit(1)
    print("bad input: ok")


main()
