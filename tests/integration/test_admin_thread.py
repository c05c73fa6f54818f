#!/usr/bin/python3
"""test_admin_thread.py BROKER -- blocking APIs never stall a network thread.

CreateTopics, DeleteTopics, CreatePartitions, the config changes and
DeleteRecords open, remove and fsync files, so the broker runs them on its
admin thread (br_api.blocking). With a single network thread, a CreateTopics
of many partitions is sent on one connection and an ApiVersions request on
another right after it: the ApiVersions answer must arrive while the
CreateTopics answer is still outstanding. Were the create run on the network
thread, the second connection would not even be read until it finished.
The test asserts that order, never a duration. Then the create's answer is
checked, and the broker must shut down cleanly, every partition with its
clean-shutdown marker (the logs close on several threads at once). First,
the broker's threads must carry their names (for `top -H` and perf): one
reactor (rw-reactor-0), rw-admin, rw-groups and rw-writer.
"""
import os
import select
import socket
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker  # noqa: E402

BROKER = sys.argv[1]
PARTITIONS = 2000


def request(api_key, version, corr, body):
    client = b"admin-thread-test"
    hdr = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    frame = hdr + body
    return struct.pack(">i", len(frame)) + frame


def create_topics_v0(name, partitions):
    n = name.encode()
    topic = struct.pack(">h", len(n)) + n + struct.pack(">ihii", partitions, 1, 0, 0)
    return struct.pack(">i", 1) + topic + struct.pack(">i", 120000)


def read_frame(sock):
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise SystemExit("FAIL: the broker closed the connection")
            buf += chunk
        return buf
    size = struct.unpack(">i", exactly(4))[0]
    return exactly(size)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        b = Broker(BROKER, tmp, "num.network.threads=1")
        b.start()
        try:
            names = sorted(open("/proc/%d/task/%s/comm" % (b.proc.pid, t)).read().strip()
                           for t in os.listdir("/proc/%d/task" % b.proc.pid))
            want = ["rw-admin", "rw-groups", "rw-reactor-0", "rw-writer"]
            missing = [n for n in want if n not in names]
            if missing or "rw-reactor-1" in names:
                raise SystemExit("FAIL: thread names %s; want %s and one reactor" % (names, want))
            print("ok: threads named %s" % ", ".join(n for n in names if n.startswith("rw-")))

            slow = socket.create_connection(("127.0.0.1", b.port))
            quick = socket.create_connection(("127.0.0.1", b.port))
            slow.sendall(request(19, 0, 1, create_topics_v0("wide", PARTITIONS)))
            quick.sendall(request(18, 0, 2, b""))

            answer = read_frame(quick)
            assert struct.unpack(">i", answer[:4])[0] == 2, "ApiVersions correlation id"
            assert struct.unpack(">h", answer[4:6])[0] == 0, "ApiVersions error code"
            pending, _, _ = select.select([slow], [], [], 0)
            if pending:
                raise SystemExit("FAIL: CreateTopics of %d partitions was answered before an "
                                 "ApiVersions sent after it on another connection: it ran on "
                                 "the network thread" % PARTITIONS)
            print("ok: ApiVersions answered while CreateTopics ran on the admin thread")

            created = read_frame(slow)
            corr, count, nlen = struct.unpack(">iih", created[:10])
            name = created[10:10 + nlen].decode()
            code = struct.unpack(">h", created[10 + nlen:12 + nlen])[0]
            assert (corr, count, name, code) == (1, 1, "wide", 0), (corr, count, name, code)
            dirs = [d for d in os.listdir(b.data) if d.startswith("wide-")]
            assert len(dirs) == PARTITIONS, "%d partition directories" % len(dirs)
            print("ok: CreateTopics answered with no error; %d partitions on disk" % PARTITIONS)
            slow.close()
            quick.close()
            b.stop()
            # Closed by several threads at once (br_topics_close): every
            # partition got its clean-shutdown marker all the same.
            unmarked = [d for d in dirs
                        if not os.path.exists(os.path.join(b.data, d, ".clean-shutdown"))]
            if unmarked:
                raise SystemExit("FAIL: %d of %d partitions closed without a clean-shutdown "
                                 "marker, e.g. %s" % (len(unmarked), PARTITIONS, unmarked[:3]))
            print("ok: all %d partitions closed cleanly" % PARTITIONS)
        finally:
            b.kill()
    print("admin thread: ok")


if __name__ == "__main__":
    main()
