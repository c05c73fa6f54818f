"""cut_proxy.py -- a fault-injecting TCP proxy for Kafka connections (loopback).

    /usr/bin/python3 cut_proxy.py EVENTS_FILE [EVERY_MS]

Listens on 127.0.0.1 (a free port, printed as "port N" on stdout), then
reads the broker's port as one line on stdin -- so the broker can be
started with advertised.listeners naming the proxy, and every client
connection, also those opened after Metadata, goes through it -- and relays
each client connection to 127.0.0.1:<that port> byte for byte.
Every EVERY_MS (default 300, jittered by +-50%) of producing it arms a cut:
the next Produce request (api key 0) is forwarded to the broker whole, and
then the connection is cut before the broker's response can reach the
client -- the
client sees its socket close with that request (and any after it) in
flight, so it does not know whether the records were appended. The broker
side stays open for CUT_LINGER_S afterwards, reading and dropping what the
broker sends, so the broker surely handles the request: the retry the client
sends on a new connection is then a duplicate, which is what the test is
after. The clock for the next cut starts at the first Produce request after
a cut, not at the cut: a client that takes a while to reconnect and resume
(librdkafka drains its in-flight requests first) still gets EVERY_MS of
producing between cuts, instead of having every new connection cut at its
first request. Nothing is delayed or reordered otherwise.

Each cut appends a line "cut <connection> produce <bytes>" to EVENTS_FILE.
SIGUSR1 stops cutting (for the consumer that checks the result afterwards);
SIGTERM ends the process. The test starts it and stops it by PID.

Threads: one accept loop, and per connection one thread per direction; a
connection's lock orders "cut" against forwarding a response, so no byte of
a response to a cut request reaches the client.
"""
import random
import signal
import socket
import struct
import sys
import threading
import time

CUT_LINGER_S = 0.2


class Proxy:
    def __init__(self, upstream_port, events_path, every_ms):
        self.upstream_port = upstream_port
        self.every = every_ms / 1000.0
        self.events = open(events_path, "a", buffering=1)
        self.cutting = True
        self.lock = threading.Lock()
        self.next_cut = 0.0  # the first Produce request is cut; None: the
                             # clock starts at the next Produce request
        self.n_conns = 0

    def _interval(self):
        return self.every * random.uniform(0.5, 1.5)

    def cut_due(self):
        """True (and schedules the next cut) when a cut is due now."""
        with self.lock:
            now = time.monotonic()
            if self.next_cut is None:
                self.next_cut = now + self._interval()
            if not self.cutting or now < self.next_cut:
                return False
            self.next_cut = None
            return True

    def serve(self, listener):
        while True:
            client, _ = listener.accept()
            try:
                broker = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            for s in (client, broker):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.n_conns += 1
            Conn(self, self.n_conns, client, broker).start()


def recv_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            return None
        got += k
    return bytes(buf)


class Conn:
    def __init__(self, proxy, ident, client, broker):
        self.proxy = proxy
        self.ident = ident
        self.client = client
        self.broker = broker
        self.lock = threading.Lock()
        self.cut = False
        self.closed = False

    def start(self):
        threading.Thread(target=self.client_to_broker, daemon=True).start()
        threading.Thread(target=self.broker_to_client, daemon=True).start()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.broker):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def client_to_broker(self):
        try:
            while True:
                head = recv_exact(self.client, 4)
                if head is None:
                    break
                (size,) = struct.unpack(">i", head)
                if size < 2 or size > 256 << 20:
                    break
                body = recv_exact(self.client, size)
                if body is None:
                    break
                (api_key,) = struct.unpack(">h", body[:2])
                cut = api_key == 0 and self.proxy.cut_due()
                if cut:
                    # From here no byte from the broker reaches the client.
                    with self.lock:
                        self.cut = True
                self.broker.sendall(head + body)
                if cut:
                    self.proxy.events.write("cut %d produce %d\n" % (self.ident, size))
                    try:
                        self.client.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    threading.Timer(CUT_LINGER_S, self.close).start()
                    return
        except OSError:
            pass
        self.close()

    def broker_to_client(self):
        try:
            while True:
                data = self.broker.recv(1 << 16)
                if not data:
                    break
                with self.lock:
                    if self.cut:
                        continue  # dropped: the response of a cut request
                    self.client.sendall(data)
        except OSError:
            pass
        with self.lock:
            if self.cut:
                return  # the timer closes it
        self.close()


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: cut_proxy.py EVENTS_FILE [EVERY_MS]\n")
        sys.exit(2)
    proxy = Proxy(0, sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300)

    def stop_cutting(signum, frame):
        with proxy.lock:
            proxy.cutting = False

    signal.signal(signal.SIGUSR1, stop_cutting)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print("port %d" % listener.getsockname()[1], flush=True)
    proxy.upstream_port = int(sys.stdin.readline())
    proxy.serve(listener)


if __name__ == "__main__":
    main()
