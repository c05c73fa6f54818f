"""test_idempotence_kill.py -- one idempotent producer while the broker is
SIGKILLed and restarted 20 times: no duplicates, no gaps among what was
acknowledged.

    /usr/bin/python3 test_idempotence_kill.py BROKER_EXE IDEM_PRODUCER_EXE

idem_producer (librdkafka 2.0.2, enable.idempotence) sends numbered records
to 3 partitions and writes each acknowledged number to a file. Each cycle
waits until a random number (200..3000) of further records were
acknowledged, SIGKILLs the broker mid-stream and starts it again on the same
port and data; the same producer keeps going (its retries of batches the
broker may or may not have written meet the recovered producer state).
After the cycles the producer is told to stop (SIGTERM: it flushes what it
queued) and must exit 0: everything it produced acknowledged, no fatal
idempotence error. A consumer then reads every partition: each number at
most once, increasing within its partition, and every acknowledged number
present.

REWIND_IDEM_KILL_CYCLES sets the number of cycles (default 20).
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, wait_until  # noqa: E402
import idem_check  # noqa: E402

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

PARTS = 3


def acked_count(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def main():
    broker_exe, producer_exe = sys.argv[1], sys.argv[2]
    cycles = int(os.environ.get("REWIND_IDEM_KILL_CYCLES", "20"))
    rng = random.Random(int(os.environ.get("REWIND_IDEM_SEED", "4")))
    tmp = tempfile.mkdtemp(prefix="rewind-idem-kill-")
    acked_path = os.path.join(tmp, "acked")
    broker = Broker(broker_exe, tmp)
    prod = None
    try:
        broker.start()
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for f in admin.create_topics([NewTopic("idem-kill", PARTS, 1)]).values():
            f.result(30)
        # More records than the cycles need: the producer is stopped below.
        prod = subprocess.Popen([producer_exe, broker.bootstrap, "idem-kill", "100000000",
                                 acked_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for cycle in range(cycles):
            target = acked_count(acked_path) + rng.randint(200, 3000)
            grew = wait_until(lambda: acked_count(acked_path) >= target or prod.poll() is not None,
                              timeout=120)
            assert prod.poll() is None, "producer exited in cycle %d: %r" % (cycle, prod.communicate())
            assert grew, "cycle %d: no progress to %d acknowledged records in 120 s" % (cycle, target)
            broker.kill()
            broker.start()
        # One more stretch of progress after the last restart, then stop.
        target = acked_count(acked_path) + 1000
        assert wait_until(lambda: acked_count(acked_path) >= target, timeout=120), \
            "no progress after the last restart"
        os.kill(prod.pid, signal.SIGTERM)
        out, err = prod.communicate(timeout=300)
        assert prod.returncode == 0, "idem_producer failed:\n%s%s" % (out.decode(), err.decode()[-3000:])
        prod = None
        print(out.decode().strip())

        with open(acked_path) as f:
            acked = set(int(x) for x in f)
        got = idem_check.consume(broker.bootstrap, "idem-kill", PARTS)
        total = idem_check.check(got, PARTS, acked=acked)
        # Everything produced was acknowledged (exit 0), so nothing may be
        # missing at all: the numbers are 0..total-1.
        assert total == len(acked), "%d records read, %d acknowledged" % (total, len(acked))
        dups = 0
        for name in os.listdir(tmp):
            if name.startswith("broker-") and name.endswith(".log"):
                with open(os.path.join(tmp, name), "rb") as f:
                    dups += f.read().count(b"answered with its offsets, not appended again")
        print("%d kill/restart cycles: %d records, each exactly once and in order; "
              "%d acknowledged, none lost; %d retries answered as duplicates"
              % (cycles, total, len(acked), dups))
        broker.stop()
        broker = None
    finally:
        if prod is not None:
            prod.kill()
            prod.wait()
        if broker is not None:
            print(broker.tail(60))
            broker.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
