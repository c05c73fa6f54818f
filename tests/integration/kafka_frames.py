"""kafka_frames.py -- raw Kafka frames for tests that play clients by hand.

    frame(key, ver, corr, body)      a request with header v1 (or hdr=0/2)
    recv_frame(sock)                 one answer's bytes after the size, or None at EOF
    closed_by_peer(sock, timeout)    True when the broker closes the socket
    produce_v3(topic, value, acks)   a Produce v3 body: one record batch
                                     (RecordBatch v2, CRC-32C) for partition 0
    produce_error(answer)            the one partition's error of a Produce v2/v3 answer
    delete_records_v0(topic, p, off) a DeleteRecords v0 body, and
    delete_records_error(answer)     the one partition's error of its answer

Python only, no client library: what the broker gets is exactly these bytes.
"""
import socket
import struct
import time


def frame(key, ver, corr, body=b"", hdr=1, client=b"test"):
    h = struct.pack(">hhi", key, ver, corr)
    if hdr >= 1:
        h += struct.pack(">h", len(client)) + client
    if hdr >= 2:
        h += b"\x00"
    m = h + body
    return struct.pack(">i", len(m)) + m


def recv_exact(s, n):
    d = b""
    while len(d) < n:
        c = s.recv(n - len(d))
        if not c:
            return None
        d += c
    return d


def recv_frame(s):
    h = recv_exact(s, 4)
    if h is None:
        return None
    return recv_exact(s, struct.unpack(">i", h)[0])


def closed_by_peer(s, timeout=5.0):
    """True when the broker closes s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_T = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for x in data:
        c = CRC_T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(v):
    u = (v << 1) ^ (v >> 63)
    out = b""
    while u >= 0x80:
        out += bytes([(u & 0x7F) | 0x80])
        u >>= 7
    return out + bytes([u])


def record_batch(value, attributes=0):
    rec = b"\x00" + varint(0) + varint(0) + varint(-1) + varint(len(value)) + value + varint(0)
    rec = varint(len(rec)) + rec
    ts = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", attributes, 0, ts, ts, -1, -1, -1, 1) + rec
    crc = crc32c(after_crc)
    body = struct.pack(">ib", -1, 2) + struct.pack(">I", crc) + after_crc
    return struct.pack(">qi", 0, len(body)) + body


def produce_v3(topic, value, acks=-1, attributes=0):
    batch = record_batch(value, attributes)
    return (struct.pack(">h", -1) + struct.pack(">hi", acks, 30000) + struct.pack(">i", 1) +
            struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1) +
            struct.pack(">i", 0) + struct.pack(">i", len(batch)) + batch)


def produce_error(r):
    """The first partition's error code of a Produce v2/v3 response."""
    n_topics = struct.unpack(">i", r[4:8])[0]
    tl = struct.unpack(">h", r[8:10])[0]
    at = 10 + tl
    n_parts = struct.unpack(">i", r[at:at + 4])[0]
    if n_topics != 1 or n_parts != 1:
        return None
    return struct.unpack(">h", r[at + 8:at + 10])[0]


def delete_records_v0(topic, partition, offset, timeout_ms=30000):
    """A DeleteRecords v0 body: one topic, one partition, records below
    offset go."""
    return (struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic +
            struct.pack(">iiq", 1, partition, offset) + struct.pack(">i", timeout_ms))


def delete_records_error(r):
    """The one partition's error of a DeleteRecords v0 answer, or None."""
    at = 4 + 4                                  # correlation id, throttle
    n_topics, tl = struct.unpack(">ih", r[at:at + 6])
    at += 6 + tl
    n_parts = struct.unpack(">i", r[at:at + 4])[0]
    if n_topics != 1 or n_parts != 1:
        return None
    return struct.unpack(">h", r[at + 4 + 4 + 8:at + 4 + 4 + 8 + 2])[0]
