"""test_windows.py -- `rewind windows` end to end against one broker, one
case per run (argv[3]):

  replay  1,000,000 gen-events events (5 % out of order, 1 % late) on 3
          partitions; a live job consumes while gen-events produces, then
          a replay from offset 0 with a new group writes another topic:
          `windows verify` says identical, and confluent-kafka reading both
          compacted topics finds the same latest value per (key, window),
          byte for byte. The late topic holds every late event once.
  kill    gen-events produces at a fixed rate while the job is SIGKILLed at
          seeded random moments (>= 10 kills that hit a running process)
          and restarted from its checkpoint; the final results equal an
          uninterrupted run's, and every late event reached the late topic
          (at least once). kill_session: the same with session windows
          whose identities grow and merge (tombstones).
  model   60,000 events: every output value, byte for byte, against a
          Python model of the documented semantics (per-partition
          watermarks, lateness, emission count, final flag), read from the
          input partitions with confluent-kafka; late and unparsable events
          in the late topic with their headers, counted; the errors
          (unknown topic, no broker, a checkpoint of other options).
  idle    a partition that never gets a record: results are written once
          it is idle (--idle-timeout), none is final; ISO 8601 times.
  demo    examples/kappa-demo.sh with its own broker: v1 (the bug) differs
          from v2, v2 and v3 are identical.

Usage: test_windows.py BROKER_EXE REWIND_EXE CASE [DEMO_SCRIPT]
Waits poll with deadlines; the only sleeps are the seeded kill delays.
"""
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, wait_until  # noqa: E402

import confluent_kafka  # noqa: E402

BROKER_EXE, REWIND = sys.argv[1], sys.argv[2]
CASE = sys.argv[3]
TMP = tempfile.mkdtemp(prefix="rewind-windows-")
broker = None


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    if broker:
        broker.kill()
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def note(msg):
    sys.stderr.write("# %s\n" % msg)


def rewind(*args, ok=True, timeout=120):
    r = subprocess.run([REWIND] + list(args), capture_output=True, text=True, timeout=timeout,
                       cwd=TMP)
    if ok and r.returncode != 0:
        fail("rewind %s: status %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def create(topic, partitions):
    rewind("topics", "create", topic, "--partitions", str(partitions), "-b", broker.bootstrap)


def read_topic(topic, keep_headers=False):
    """Every record of every partition to the end: list of (partition,
    offset, key, value[, headers]) with bytes decoded."""
    c = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "reader",
                                  "enable.auto.commit": False, "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10).topics[topic]
    parts = sorted(md.partitions)
    ends = {}
    for p in parts:
        ends[p] = c.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p), timeout=10)[1]
    c.assign([confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
              for p in parts])
    out = []
    done = {p for p in parts if ends[p] == 0}
    deadline = time.monotonic() + 60
    while len(done) < len(parts) and time.monotonic() < deadline:
        for m in c.consume(10000, 1.0):
            if m.error():
                if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    if m.offset() >= ends[m.partition()]:
                        done.add(m.partition())
                    continue
                fail("%s: consume error %s" % (topic, m.error()))
            k = m.key().decode() if m.key() is not None else None
            v = m.value().decode() if m.value() is not None else None
            rec = (m.partition(), m.offset(), k, v)
            if keep_headers:
                rec += (dict((h[0], h[1].decode()) for h in (m.headers() or [])),)
            out.append(rec)
            if m.offset() + 1 >= ends[m.partition()]:
                done.add(m.partition())
    c.close()
    check(len(done) == len(parts), "%s: could not read to the end" % topic)
    return out


def latest(topic):
    """The compacted view: latest value per key, tombstones deleting."""
    view = {}
    for p, o, k, v in sorted(read_topic(topic), key=lambda r: (r[0], r[1])):
        if v is None:
            view.pop(k, None)
        else:
            view[k] = v
    return view


def late_count(stderr):
    m = re.search(r"(\d+) late and (\d+) unparsable events", stderr)
    check(m, "no late summary in:\n" + stderr)
    return int(m.group(1)), int(m.group(2))


JOB = ["--key", "video_id", "--agg", "count", "--agg", "sum:position_ms",
       "--agg", "avg:position_ms", "--agg", "max:bitrate_kbps", "--agg", "distinct:user_id"]


def case_replay():
    n = 1000000
    create("events", 3)
    # The live job starts first and reads while gen-events writes.
    live = subprocess.Popen([REWIND, "windows", "events", "--output", "metrics_v1",
                             "-b", broker.bootstrap, "--tumbling", "5m"] + JOB +
                            ["--max-events", str(n), "--late-topic", "late_v1", "-q"],
                            cwd=TMP, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    rewind("gen-events", "--count", str(n), "--out-of-order", "0.05", "--late", "0.01",
           "--topic", "events", "-b", broker.bootstrap, "-q")
    note("gen-events: %d events in %.1f s" % (n, time.monotonic() - t0))
    try:
        _, err_live = live.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        live.kill()
        fail("live job did not finish within 120 s")
    check(live.returncode == 0, "live job: status %d\n%s" % (live.returncode, err_live))
    note("live job done %.1f s after the start" % (time.monotonic() - t0))
    t1 = time.monotonic()
    r = rewind("windows", "events", "--output", "metrics_v2", "--group", "replay",
               "-b", broker.bootstrap, "--tumbling", "5m", "--from-beginning", "-e",
               "--late-topic", "late_v2", *JOB)
    note("replay of %d events: %.1f s" % (n, time.monotonic() - t1))
    v = rewind("windows", "verify", "metrics_v1", "metrics_v2", "-b", broker.bootstrap, ok=False)
    check(v.returncode == 0 and v.stdout.startswith("identical: "),
          "verify: status %d\n%s%s" % (v.returncode, v.stdout, v.stderr))
    a, b = latest("metrics_v1"), latest("metrics_v2")
    check(len(a) > 3000, "only %d windows" % len(a))
    check(a == b, "latest values differ: %d vs %d windows, e.g. %s" %
          (len(a), len(b), next(iter(k for k in a if a.get(k) != b.get(k)), None)))
    check(v.stdout.strip() == "identical: %d windows" % len(a), "verify said " + v.stdout)
    note("live and replay: %s" % v.stdout.strip())
    late_replay = late_count(r.stderr)[0]
    recs = read_topic("late_v2")
    check(len(recs) == late_replay and late_replay > 0.005 * n,
          "late topic holds %d records, the job counted %d" % (len(recs), late_replay))
    # The live job (quiet) sent the same late events.
    check(len(read_topic("late_v1")) == late_replay, "live late topic differs in size")
    # Every value is final or not the same way, and counts add up: each
    # event is in one window or late.
    total = sum(json.loads(x)["count"] for x in a.values())
    check(total + late_replay == n, "windows hold %d events + %d late != %d" %
          (total, late_replay, n))


def case_kill(kind="tumbling"):
    if kind == "tumbling":
        # gen-events runs ~8 s: the job cannot finish before it has, so
        # every cycle until then is a kill (>= 10 with room to spare).
        n, rate = 500000, 60000
        gen_opts = ["--max-disorder", "200ms", "--late-min", "1s", "--late-max", "5s"]
        win = ["--tumbling", "1s", "--out-of-order", "300ms", "--allowed-lateness", "500ms"] + JOB
    else:
        # Sessions of users, late events that bridge them: identities
        # change, and a restart must delete the ones the dead run wrote.
        n, rate = 400000, 50000
        gen_opts = ["--users", "20000", "--max-disorder", "100ms", "--late-min", "150ms",
                    "--late-max", "1s"]
        win = ["--session", "200ms", "--out-of-order", "120ms", "--allowed-lateness", "400ms",
               "--key", "user_id", "--agg", "count", "--agg", "sum:position_ms",
               "--agg", "distinct:video_id"]
    create("events", 3)
    gen = subprocess.Popen([REWIND, "gen-events", "--count", str(n), "--rate", str(rate),
                            "--out-of-order", "0.05", "--late", "0.01"] + gen_opts +
                           ["--topic", "events", "-b", broker.bootstrap, "-q"], cwd=TMP)
    job = [REWIND, "windows", "events", "--output", "out_k", "--late-topic", "late_k",
           "-b", broker.bootstrap, "--checkpoint-interval", "50ms",
           "--max-events", str(n), "-q"] + win
    rng = random.Random(20261122)
    kills = cycles = 0
    finished = False
    deadline = time.monotonic() + 100
    while not finished and time.monotonic() < deadline:
        p = subprocess.Popen(job, cwd=TMP, stderr=subprocess.PIPE)
        cycles += 1
        if kills < 10 or gen.poll() is None:
            delay = rng.uniform(0.05, 0.6)
            try:
                p.wait(delay)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.wait()
            if p.returncode == 0:
                finished = True
            elif p.returncode != -signal.SIGKILL:
                fail("job exited with %d:\n%s" % (p.returncode, p.stderr.read().decode()))
        else:
            _, err = p.communicate(timeout=100)
            check(p.returncode == 0, "final run: status %d\n%s" % (p.returncode, err.decode()))
            finished = True
        p.stderr.close()
    gen.wait(60)
    check(gen.returncode == 0, "gen-events failed")
    check(finished, "the job did not finish after %d cycles" % cycles)
    check(kills >= 10, "only %d kills hit a running job (of %d cycles)" % (kills, cycles))
    note("%s: %d SIGKILLs in %d runs" % (kind, kills, cycles))
    ref = rewind("windows", "events", "--output", "out_ref", "--late-topic", "late_ref",
                 "-b", broker.bootstrap, "-e", *win)
    v = rewind("windows", "verify", "out_ref", "out_k", "-b", broker.bootstrap, ok=False)
    check(v.returncode == 0, "killed run differs from an uninterrupted one:\n" + v.stdout)
    a, b = latest("out_ref"), latest("out_k")
    check(a == b and len(a) > 100, "latest values differ (%d vs %d)" % (len(a), len(b)))
    note("killed vs uninterrupted: " + v.stdout.strip())
    if kind == "session":
        merged = sum(1 for x in read_topic("out_ref") if x[3] is None)
        check(merged > 0, "no session merged or grew after it was written")
        note("%d session identities deleted (grown or merged) in the reference run" % merged)
    late_ref, _ = late_count(ref.stderr)
    src = lambda t: {h["rewind.source"] for *_, h in read_topic(t, keep_headers=True)}
    sk, sr = src("late_k"), src("late_ref")
    check(len(sr) == late_ref and late_ref > 0, "reference late topic: %d sources, %d counted" %
          (len(sr), late_ref))
    check(sk == sr, "late events differ after kills: %d missing, %d extra" %
          (len(sr - sk), len(sk - sr)))


def iso(ms):
    d = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


def case_model():
    n = 60000
    size, ooo, lateness = 60000, 2000, 30000
    create("events", 3)
    rewind("gen-events", "--count", str(n), "--out-of-order", "0.05", "--late", "0.02",
           "--late-min", "5s", "--late-max", "3m", "--max-disorder", "3s",
           "--videos", "50", "--topic", "events", "-b", broker.bootstrap, "-q")
    # Two records that are not events: one without a time, one not JSON.
    p = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap})
    p.produce("events", key=b"x", value=b'{"video_id":"v00001"}', partition=0)
    p.produce("events", key=b"y", value=b"not json", partition=1)
    check(p.flush(10) == 0, "produce failed")
    job = ["windows", "events", "--output", "m", "-b", broker.bootstrap,
           "--tumbling", "1m", "--out-of-order", "2s", "--allowed-lateness", "30s",
           "--key", "video_id", "--agg", "count", "--agg", "sum:position_ms",
           "--agg", "max:bitrate_kbps", "--agg", "min:rebuffer_ms"]
    r = rewind(*job, "-e")
    # The model: each partition in offset order, its own watermark.
    events = read_topic("events")
    win = {}
    late = bad = 0
    maxts = {}
    for part, off, key, val in sorted(events, key=lambda r: (r[0], r[1])):
        try:
            e = json.loads(val)
            ts = e["ts"]
        except (ValueError, KeyError):
            bad += 1
            continue
        wm = maxts[part] - ooo if part in maxts else None
        start = ts // size * size
        end = start + size
        if wm is not None and end + lateness <= wm:
            late += 1
        else:
            w = win.setdefault((e["video_id"], start), {"count": 0, "sum": 0, "max": None,
                                                         "min": None, "late": 0})
            w["count"] += 1
            w["sum"] += e["position_ms"]
            w["max"] = max(w["max"] or 0, e["bitrate_kbps"])
            if "rebuffer_ms" in e:
                w["min"] = e["rebuffer_ms"] if w["min"] is None else min(w["min"], e["rebuffer_ms"])
            if wm is not None and end <= wm:
                w["late"] += 1
        maxts[part] = max(maxts.get(part, ts), ts)
    final_wm = min(maxts.values()) - ooo
    expect = {}
    for (vid, start), w in win.items():
        end = start + size
        key = '{"key":"%s","start":%d,"end":%d}' % (vid, start, end)
        expect[key] = ('{"key":"%s","start":%d,"end":%d,"window":"%s/%s","count":%d,'
                       '"sum_position_ms":%d,"max_bitrate_kbps":%d,"min_rebuffer_ms":%s,'
                       '"emits":%d,"final":%s}' % (
                           vid, start, end, iso(start), iso(end), w["count"], w["sum"], w["max"],
                           "null" if w["min"] is None else str(w["min"]), 1 + w["late"],
                           "true" if end + lateness <= final_wm else "false"))
    got = latest("m")
    check(len(got) == len(expect), "%d windows, the model has %d" % (len(got), len(expect)))
    for k, v in expect.items():
        check(got.get(k) == v, "window %s:\n  got    %s\n  expect %s" % (k, got.get(k), v))
    check(any(w["late"] for w in win.values()), "the model saw no late update")
    note("%d windows match the model byte for byte (%d late updates)" %
         (len(expect), sum(w["late"] for w in win.values())))
    # Late and unparsable events: in the late topic with their origin.
    lt, bd = late_count(r.stderr)
    check((lt, bd) == (late, bad) and late > 0 and bad == 2,
          "job counted %d late + %d unparsable, the model %d + %d" % (lt, bd, late, bad))
    recs = read_topic("m-late", keep_headers=True)
    reasons = [h.get("rewind.reason") for *_, h in recs]
    check(reasons.count("late") == late and reasons.count("unparsable") == 2,
          "late topic: %d late, %d unparsable" % (reasons.count("late"),
                                                  reasons.count("unparsable")))
    srcs = {h["rewind.source"] for *_, h in recs}
    check(len(srcs) == len(recs) and "events/1/%d" % max(o for p_, o, *_ in events if p_ == 1) in srcs,
          "late topic sources are not the input positions")
    # Running again at the end changes nothing (resumes from its checkpoint).
    rewind(*job, "-e")
    check(latest("m") == got, "a second run at the end changed the results")
    # Errors: each says what failed.
    r = rewind("windows", "nope", "--output", "x", "-b", broker.bootstrap, ok=False)
    check(r.returncode == 1 and "does not exist" in r.stderr, "unknown topic: " + r.stderr)
    r = rewind(*job[:-2], "-e", ok=False)
    check(r.returncode == 1 and "other options" in r.stderr, "changed options: " + r.stderr)
    r = rewind("windows", "events", "--output", "x", "-b", "127.0.0.1:1", "--timeout", "2000",
               ok=False)
    check(r.returncode == 1 and "broker" in r.stderr, "no broker: " + r.stderr)
    # A second job on the same checkpoint is refused while the first runs
    # (here: while something holds its lock).
    import fcntl
    with open(os.path.join(TMP, "windows-m.ckpt.lock"), "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        r = rewind(*job, "-e", ok=False)
        check(r.returncode == 1 and "another rewind windows" in r.stderr, "lock: " + r.stderr)
    r = rewind("windows", "verify", "m", "nope", "-b", broker.bootstrap, ok=False)
    check(r.returncode == 1 and "does not exist" in r.stderr, "verify unknown: " + r.stderr)


def case_demo(script):
    r = subprocess.run(["bash", script, "--rewind", REWIND, "--broker", BROKER_EXE,
                        "--events", "100000", "--workdir", os.path.join(TMP, "demo")],
                       capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    check(r.returncode == 0, "demo failed (%d):\n%s" % (r.returncode, out))
    check(re.search(r"different: \d+ windows differ", out), "v1 vs v2 not different:\n" + out)
    check(re.search(r"identical: \d+ windows", out), "v2 vs v3 not identical:\n" + out)
    check("kappa demo: done" in out, "no closing line:\n" + out)


def case_idle():
    """A partition that never gets a record leaves the firing watermark after
    --idle-timeout (results are written while the job runs), but keeps
    every window from being final; ISO 8601 event times."""
    create("idle", 4)
    p = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(30):
        v = '{"k":"%s","ts":"2024-01-01T00:%02d:%02dZ","n":%d}' % ("ab"[i % 2], i // 3, i % 60, i)
        p.produce("idle", value=v.encode(), partition=i % 3)
    check(p.flush(10) == 0, "produce failed")
    job = [REWIND, "windows", "idle", "--output", "io", "-b", broker.bootstrap, "--key", "k",
           "--tumbling", "1m", "--out-of-order", "0", "--allowed-lateness", "0",
           "--idle-timeout", "300ms", "--agg", "count", "--agg", "sum:n"]
    live = subprocess.Popen(job, cwd=TMP, stderr=subprocess.PIPE, text=True)
    try:
        got = wait_until(lambda: latest("io"), timeout=30, step=0.2)
        check(got, "no result while partition 3 was idle")
        vals = [json.loads(v) for v in got.values()]
        check(not any(v["final"] for v in vals), "a window is final although partition 3 "
              "never showed its event time")
        check(all(v["end"] <= 1704067200000 + 9 * 60000 for v in vals),
              "a window was written before the watermark passed its end")
    finally:
        live.send_signal(signal.SIGTERM)
        _, err = live.communicate(timeout=30)
    check(live.returncode == 0 and "stopped" in err, "SIGTERM: status %d\n%s" %
          (live.returncode, err))
    rewind(*job[1:], "-e")
    got = latest("io")
    check(len(got) == 20, "expected 2 keys x 10 minutes, got %d windows" % len(got))
    total = sum(json.loads(v)["count"] for v in got.values())
    check(total == 30 and not any(json.loads(v)["final"] for v in got.values()),
          "after -e: %d events, finals %s" % (total, [v for v in got.values() if '"final":true' in v]))
    note("idle partition: %d windows written, none final" % len(got))


def main():
    global broker
    if CASE == "demo":
        case_demo(sys.argv[4])
        shutil.rmtree(TMP, ignore_errors=True)
        print("ok")
        return
    broker = Broker(BROKER_EXE, TMP, "num.partitions=3")
    broker.start()
    try:
        {"replay": case_replay, "kill": case_kill, "kill_session": lambda: case_kill("session"),
         "model": case_model, "idle": case_idle}[CASE]()
    finally:
        broker.stop()
    shutil.rmtree(TMP, ignore_errors=True)   # kept when a check failed
    print("ok")


main()
