"""broker_harness.py -- start and stop one rewind-broker for an integration test.

    from broker_harness import Broker
    b = Broker(BROKER_EXE, tmpdir, "num.partitions=1")
    b.start()            # port 0 the first time; the bound port is read from the log
    b.bootstrap          # "127.0.0.1:PORT"
    b.restart()          # SIGTERM, wait, start again on the same data dir and port
    b.stop()             # SIGTERM; fails on a non-zero exit or a sanitizer report
    b.kill()             # SIGKILL, for cleanup paths
    free_port()          # a loopback port nothing listens on
    c = RawConn(b.bootstrap)   # raw Kafka frames over one socket:
    c.send(18, 0, 1, b"")      #   ApiVersions v0, correlation id 1
    corr, body = c.recv()      #   the answer's correlation id and body
    check = Checks()           # check(cond, "what") prints ok:/FAIL: lines;
    check.exit()               # at the end: summary, exit status 1 on a failure
    stop = FailFast(b, tmpdir) # stop.check(cond, "what"): the first failure
                               # exits 1 with the broker log, after cleanup;
                               # stop.count: the checks that passed
    note("text")               # a progress line, flushed

Each start logs to its own file (TMP/broker-N.log), so "ready" and
"listening on" are read from this start's log only. Only the process this
object started is signalled, by PID. Waits poll with a deadline; nothing
here sleeps a fixed time.
"""
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time


class BrokerError(Exception):
    pass


def wait_until(fn, timeout=20.0, step=0.05):
    """Polls fn() until it returns something true or timeout seconds pass;
    returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def free_port():
    """A loopback TCP port nothing listens on (as far as the kernel knows
    now): for a 'broker that is not there', or a proxy's listener."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


SANITIZER_MARKS = ("runtime error:", "AddressSanitizer", "LeakSanitizer")


class Broker:
    def __init__(self, exe, tmp, *sets):
        self.exe = exe
        self.tmp = tmp
        self.data = os.path.join(tmp, "data")
        self.sets = list(sets)
        self.proc = None
        self.port = 0
        self.starts = 0
        self.logpath = None

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    def text(self):
        if not self.logpath or not os.path.exists(self.logpath):
            return ""
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def start(self):
        assert self.proc is None
        self.starts += 1
        self.logpath = os.path.join(self.tmp, "broker-%d.log" % self.starts)
        args = [self.exe, "--set", "log.dirs=" + self.data,
                "--set", "listeners=PLAINTEXT://127.0.0.1:%d" % self.port,
                "--set", "metrics.listener="]
        for s in self.sets:
            args += ["--set", s]
        with open(self.logpath, "wb") as log:
            self.proc = subprocess.Popen(args, stderr=log, stdout=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                return "exited"
            t = self.text()
            return " ready" in t and t

        text = wait_until(ready)
        if not text or text == "exited":
            rc = self.proc.poll()
            self.kill()
            raise BrokerError("broker did not start (status %r):\n%s" % (rc, self.tail()))
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
        if not m:
            self.kill()
            raise BrokerError("broker log names no port:\n" + self.tail())
        self.port = int(m.group(1))

    def stop(self):
        """SIGTERM and wait; raises BrokerError on a non-zero exit status or a
        sanitizer report in this start's log."""
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
                raise BrokerError("broker did not exit within 30 s of SIGTERM:\n" + self.tail())
        if p.returncode != 0:
            raise BrokerError("broker exited with status %d:\n%s" % (p.returncode, self.tail()))
        text = self.text()
        for mark in SANITIZER_MARKS:
            if mark in text:
                raise BrokerError("sanitizer report in %s:\n%s" % (self.logpath, self.tail(80)))

    def restart(self):
        self.stop()
        self.start()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def tail(self, n=40):
        return "".join("  | " + l + "\n" for l in self.text().splitlines()[-n:])


class RawConn:
    """One socket speaking raw Kafka frames: requests with header v1 (api
    key, version, correlation id, client id), answers read whole as
    (correlation id, body after the v0 response header)."""

    def __init__(self, bootstrap, client_id=b"raw", timeout=30):
        host, port = bootstrap.split(":")
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.client_id = client_id

    def send(self, api_key, version, corr, body):
        msg = struct.pack(">hhih", api_key, version, corr, len(self.client_id)) + \
            self.client_id + body
        self.s.sendall(struct.pack(">i", len(msg)) + msg)

    def ready(self, timeout):
        """True when an answer (or EOF) is there to read within timeout s."""
        return bool(select.select([self.s], [], [], timeout)[0])

    def read_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.s.recv(n - len(out))
            if not chunk:
                raise EOFError("the broker closed the connection")
            out += chunk
        return out

    def recv(self):
        size = struct.unpack(">i", self.read_exact(4))[0]
        b = self.read_exact(size)
        return struct.unpack_from(">i", b, 0)[0], b[4:]

    def close(self):
        self.s.close()


def note(msg):
    print(msg, flush=True)


class FailFast:
    """Checks that end the test at the first failure: check(cond, what)
    counts a pass, or calls fail(what), which writes "FAIL: what", then
    whatever before() writes (the test's own processes, say), then the tail
    of the broker's log; kills the broker, removes tmp and exits 1."""

    def __init__(self, broker, tmp, tail=60, before=None):
        self.broker = broker
        self.tmp = tmp
        self.tail = tail
        self.before = before
        self.count = 0

    def fail(self, msg):
        sys.stderr.write("FAIL: %s\n" % msg)
        if self.before is not None:
            self.before()
        sys.stderr.write("---- broker log (last start)\n" + self.broker.tail(self.tail))
        self.broker.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)
        sys.exit(1)

    def check(self, cond, msg):
        if not cond:
            self.fail(msg)
        self.count += 1


class Checks:
    """Named checks that go on after a failure: check(cond, what) prints
    "ok: what" or "FAIL: what"; exit() prints the failures and exits 1 if
    there were any, else says all passed."""

    def __init__(self):
        self.failures = []

    def __call__(self, cond, what):
        print(("ok: " if cond else "FAIL: ") + what, flush=True)
        if not cond:
            self.failures.append(what)
        return cond

    def exit(self):
        if self.failures:
            print("%d check(s) failed:" % len(self.failures))
            for f in self.failures:
                print("  -", f)
            sys.exit(1)
        print("all checks passed")
