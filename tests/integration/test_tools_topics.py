#!/usr/bin/python3
"""test_tools_topics.py BROKER REWIND -- `rewind topics` and `rewind
gen-events` against a real broker, cross-checked with kcat,
confluent-kafka 1.7.0 and kafka-python 2.0.2.

One rewind-broker on a free port with a temporary data dir, started with
log.retention.hours=100 (a broker config set on the command line).

  - topics create (partitions, configs), --if-not-exists, --validate-only;
    list, list --long, list --json; describe (table and --json: topic id,
    leader, replicas, ISR, log start/end after kcat produced, size on
    disk, configs that are not defaults with their source); alter
    (--partitions, --config, --delete-config); delete, --if-exists;
  - what rewind created, kcat -L and confluent-kafka / kafka-python admin
    describe alike (partitions, configs and their sources); what
    confluent-kafka created, rewind describes;
  - DescribeConfigs sources (broker gap of issue 3): retention.ms of a
    topic follows log.retention.hours set with --set, so confluent-kafka
    and kafka-python see STATIC_BROKER_CONFIG with the synonym chain; the
    broker resource shows log.retention.ms as STATIC_BROKER_CONFIG and an
    untouched key as DEFAULT_CONFIG;
  - errors, each a non-zero exit and a sentence saying what failed and what
    to try: topic exists, unknown topic (describe, alter, delete), shrinking
    partitions, unknown config key, bad config value, bad flags, a broker
    that is not there;
  - a broker without IncrementalAlterConfigs and DescribeLogDirs (a proxy
    hides them from ApiVersions): alter falls back to AlterConfigs and
    keeps the other overrides; describe says sizes are unknown;
  - gen-events: same seed gives the same bytes; every line is KEY<TAB>JSON
    that python's json reads with the key equal to video_id; piped into
    kcat -P -K'\\t', consumed back with kcat: every event, same keys;
    --topic produces the same records itself; a broker that is not there.
Only the broker this script started is signalled, by PID.
"""
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import Broker, BrokerError, free_port  # noqa: E402
from kafka_frames import recv_frame  # noqa: E402

from confluent_kafka import admin as cadmin  # noqa: E402
import kafka  # noqa: E402
from kafka.admin import ConfigResource as KConfigResource, ConfigResourceType  # noqa: E402

BROKER = sys.argv[1]
REWIND = sys.argv[2]
TMP = tempfile.mkdtemp(prefix="rewind-topics-")
broker = Broker(BROKER, TMP, "num.partitions=1", "log.retention.hours=100")
failures = []

STATIC, DEFAULT, DYNAMIC_TOPIC = 4, 5, 1


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what), flush=True)
    if not cond:
        failures.append(what)


def rw(*args, stdin=None, bootstrap=True):
    cmd = [REWIND] + list(args)
    if bootstrap:
        cmd += ["--bootstrap", broker.bootstrap]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def rw_json(*args):
    rc, out, err = rw(*args, "--json")
    check(rc == 0, "%s --json exits 0 (%s)" % (" ".join(args), err.strip()))
    return json.loads(out) if rc == 0 else {}


def fails(what, pattern, *args, bootstrap=True):
    rc, out, err = rw(*args, bootstrap=bootstrap)
    check(rc != 0 and re.search(pattern, err) is not None,
          "%s: exit %d, stderr says %r (%r)" % (what, rc, pattern, err.strip()))


def confluent_admin():
    return cadmin.AdminClient({"bootstrap.servers": broker.bootstrap})


def confluent_configs(kind, name):
    res = cadmin.ConfigResource(kind, name)
    a = confluent_admin()    # held until the answer: a freed client cancels it
    fut = a.describe_configs([res], request_timeout=30)
    return fut[res].result(timeout=30)


def src(entry):
    """A confluent-kafka ConfigEntry's source as Kafka's number."""
    return getattr(entry.source, "value", entry.source)


def kafka_python_configs(kind, name):
    a = kafka.KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    try:
        resp = a.describe_configs([KConfigResource(kind, name)], include_synonyms=True)
    finally:
        a.close()
    out = {}
    for r in resp:
        for res in r.resources:
            for e in res[4]:
                # (name, value, read_only, source, is_sensitive, synonyms)
                out[e[0]] = (e[1], e[3], [(s[0], s[1], s[2]) for s in e[5]])
    return out


def kcat_metadata(topic):
    p = subprocess.run(["kcat", "-b", broker.bootstrap, "-L", "-J", "-t", topic],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        return None
    md = json.loads(p.stdout)
    for t in md.get("topics", []):
        if t["topic"] == topic:
            return t
    return None


# ------------------------------------------------------------------ topics

def test_help_and_flags():
    for args in (["topics", "--help"], ["topics", "create", "--help"], ["topics", "list", "--help"],
                 ["topics", "describe", "--help"], ["topics", "alter", "--help"],
                 ["topics", "delete", "--help"], ["gen-events", "--help"]):
        rc, out, _ = rw(*args, bootstrap=False)
        check(rc == 0 and "usage: rewind " in out, "%s prints usage" % " ".join(args))
    fails("no action", r"missing action", "topics")
    fails("unknown action", r"unknown action 'make'", "topics", "make")
    fails("unknown flag", r"unknown option '--colour'.*--help", "topics", "list", "--colour")
    fails("zero partitions", r"--partitions '0' is not a partition count", "topics", "create",
          "x", "--partitions", "0")
    fails("config without =", r"is not KEY=VALUE", "topics", "create", "x", "--config", "k")
    fails("alter without a change", r"needs something to change", "topics", "alter", "x")
    fails("bad gen-events fraction", r"--late '2' is not a fraction", "gen-events", "--late", "2",
          bootstrap=False)


def test_create_list_describe():
    rc, out, err = rw("topics", "create", "events", "--partitions", "3",
                      "--config", "cleanup.policy=compact", "--config", "segment.bytes=1048576")
    check(rc == 0 and re.search(r"Created topic 'events' \(topic id [A-Za-z0-9_-]{22}\)", out),
          "create events (%r %r)" % (out, err))
    rc, out, err = rw("topics", "create", "events", "--partitions", "3")
    check(rc == 1 and "topic 'events' already exists" in err and "--if-not-exists" in err,
          "create again: already exists, says --if-not-exists (%r)" % err)
    rc, out, _ = rw("topics", "create", "events", "--if-not-exists")
    check(rc == 0 and "already exists; nothing changed" in out, "create --if-not-exists")
    rc, out, err = rw("topics", "create", "dry", "--partitions", "2", "--validate-only")
    check(rc == 0 and "validate only" in out, "create --validate-only (%r)" % err)
    rc, out, _ = rw("topics", "list")
    check(rc == 0 and out.split() == ["events"], "list shows events only (%r)" % out)

    # Records through kcat, so offsets and sizes are not zero.
    lines = "".join("k%d\tvalue-%d\n" % (i, i) for i in range(30))
    p = subprocess.run(["kcat", "-P", "-b", broker.bootstrap, "-t", "events", "-K\t"],
                       input=lines.encode(), capture_output=True, timeout=60)
    check(p.returncode == 0, "kcat produced 30 keyed records")

    d = rw_json("topics", "describe", "events")
    t = d.get("topics", [{}])[0]
    check(t.get("name") == "events" and re.fullmatch(r"[A-Za-z0-9_-]{22}", t.get("topic_id") or ""),
          "describe --json: name and a 22-character topic id")
    parts = t.get("partitions", [])
    check(len(parts) == 3 and all(p["leader"] == 0 and p["replicas"] == [0] and p["isr"] == [0]
                                  for p in parts), "describe: 3 partitions led by node 0, ISR [0]")
    check(sum(p["log_end_offset"] for p in parts) == 30 and
          all(p["log_start_offset"] == 0 for p in parts), "describe: log ends add up to 30")
    check(all((p["size_bytes"] > 0) == (p["log_end_offset"] > 0) for p in parts),
          "describe: a partition with records has a size on disk")
    check(all(isinstance(p["dirty_ratio"], float) and 0 <= p["dirty_ratio"] <= 1 for p in parts),
          "describe: a compacted topic's partitions have the cleaner's dirty ratio")
    cfg = {c["name"]: c for c in t.get("configs", [])}
    check(cfg.get("cleanup.policy", {}).get("value") == "compact" and
          cfg["cleanup.policy"]["source"] == "DYNAMIC_TOPIC_CONFIG",
          "describe: cleanup.policy=compact from the topic (%r)" % cfg)
    check(cfg.get("retention.ms", {}).get("value") == str(100 * 3600000) and
          cfg["retention.ms"]["source"] == "STATIC_BROKER_CONFIG",
          "describe: retention.ms follows the broker's --set as STATIC_BROKER_CONFIG")
    check("max.message.bytes" not in cfg, "describe: defaults are not listed")

    rc, out, _ = rw("topics", "describe", "events")
    check(rc == 0 and "Topic: events" in out and "cleanup.policy=compact" in out and
          re.search(r"PARTITION\s+LEADER\s+REPLICAS\s+ISR\s+LOG-START\s+LOG-END\s+SIZE\s+BYTES"
                    r"\s+DIRTY-RATIO", out),
          "describe prints the header, configs and the partition table (with DIRTY-RATIO)")
    rc, out, _ = rw("topics", "list", "--long")
    check(rc == 0 and re.search(r"^events\s+3\s+\S+", out, re.M), "list --long: events, 3 partitions")
    d = rw_json("topics", "list", "--long")
    check([(x["name"], x["partitions"]) for x in d.get("topics", [])] == [("events", 3)] and
          d["topics"][0]["size_bytes"] == sum(p["size_bytes"] for p in parts),
          "list --json --long: size is the sum of the partitions'")

    # kcat -L sees what rewind created.
    km = kcat_metadata("events")
    check(km is not None and len(km["partitions"]) == 3, "kcat -L: events has 3 partitions")

    # confluent-kafka and kafka-python describe the same configs.
    cc = confluent_configs(cadmin.ConfigResource.Type.TOPIC, "events")
    check(cc["cleanup.policy"].value == "compact" and src(cc["cleanup.policy"]) == DYNAMIC_TOPIC,
          "confluent-kafka: cleanup.policy compact, DYNAMIC_TOPIC_CONFIG")
    check(cc["retention.ms"].value == str(100 * 3600000) and src(cc["retention.ms"]) == STATIC,
          "confluent-kafka: retention.ms STATIC_BROKER_CONFIG (%r)" % cc["retention.ms"].source)
    check(src(cc["max.message.bytes"]) == DEFAULT, "confluent-kafka: max.message.bytes DEFAULT_CONFIG")
    kp = kafka_python_configs(ConfigResourceType.TOPIC, "events")
    val, ksrc, syn = kp["retention.ms"]
    check(val == str(100 * 3600000) and ksrc == STATIC and
          [s[2] for s in syn] == [STATIC, DEFAULT] and syn[0][1] == str(100 * 3600000) and
          syn[1][1] == "604800000",
          "kafka-python: retention.ms STATIC, synonyms static then default (%r)" % (syn,))
    val, ksrc, syn = kp["cleanup.policy"]
    check(val == "compact" and ksrc == DYNAMIC_TOPIC and syn[0][2] == DYNAMIC_TOPIC and syn[-1][2] == DEFAULT,
          "kafka-python: cleanup.policy DYNAMIC_TOPIC, synonyms end at the default (%r)" % (syn,))

    # The broker resource.
    bc = confluent_configs(cadmin.ConfigResource.Type.BROKER, "0")
    check(src(bc["log.retention.ms"]) == STATIC and bc["log.retention.ms"].value == str(360000000),
          "confluent-kafka broker 0: log.retention.ms STATIC_BROKER_CONFIG")
    check(src(bc["message.max.bytes"]) == DEFAULT and bc["message.max.bytes"].is_read_only,
          "confluent-kafka broker 0: message.max.bytes DEFAULT_CONFIG, read-only")
    check(src(bc["num.partitions"]) == STATIC, "broker 0: num.partitions (set) STATIC_BROKER_CONFIG")


def test_alter_and_errors():
    rc, out, err = rw("topics", "alter", "events", "--partitions", "5", "--config", "retention.ms=7200000",
                      "--delete-config", "segment.bytes")
    check(rc == 0 and "partitions 3 -> 5" in out, "alter: partitions 3 -> 5 (%r %r)" % (out, err))
    t = rw_json("topics", "describe", "events").get("topics", [{}])[0]
    cfg = {c["name"]: c for c in t.get("configs", [])}
    check(len(t.get("partitions", [])) == 5, "alter: describe shows 5 partitions")
    check(cfg.get("retention.ms", {}).get("value") == "7200000" and
          cfg["retention.ms"]["source"] == "DYNAMIC_TOPIC_CONFIG" and "segment.bytes" not in cfg,
          "alter: retention.ms set on the topic, segment.bytes back to default")
    cc = confluent_configs(cadmin.ConfigResource.Type.TOPIC, "events")
    check(cc["retention.ms"].value == "7200000", "confluent-kafka sees retention.ms=7200000")

    fails("shrink", r"INVALID_PARTITIONS.*can only grow", "topics", "alter", "events", "--partitions", "2")
    fails("unknown config key", r"INVALID_CONFIG \(Unknown topic config name: no\.such\.key\)",
          "topics", "alter", "events", "--config", "no.such.key=1")
    fails("bad config value", r"INVALID_CONFIG.*retention\.ms", "topics", "alter", "events",
          "--config", "retention.ms=soon")
    fails("create with unknown key", r"cannot create topic 'x': INVALID_CONFIG", "topics", "create", "x",
          "--config", "no.such.key=1")
    fails("replication factor above brokers", r"INVALID_REPLICATION_FACTOR", "topics", "create", "x",
          "--replication-factor", "3")
    unknown = r"topic 'nope' does not exist; list topics with 'rewind topics list'"
    fails("describe unknown", unknown, "topics", "describe", "nope")
    fails("alter unknown", unknown, "topics", "alter", "nope", "--partitions", "4")
    fails("delete unknown", unknown, "topics", "delete", "nope")
    rc, out, _ = rw("topics", "delete", "nope", "--if-exists")
    check(rc == 0 and "does not exist" in out, "delete --if-exists of a missing topic exits 0")
    dead = "127.0.0.1:%d" % free_port()
    for args in (["topics", "list"], ["topics", "describe", "events"], ["topics", "create", "x"]):
        rc, out, err = rw(*args, "--bootstrap", dead, bootstrap=False)
        check(rc == 1 and dead in err and "start the broker" in err and "--bootstrap" in err,
              "%s with no broker: names %s, says to start it or pass --bootstrap (%r)"
              % (" ".join(args), dead, err.strip()))


def test_rewind_describes_what_confluent_created():
    a = confluent_admin()
    fut = a.create_topics([cadmin.NewTopic("made-by-confluent", 4, 1,
                                           config={"retention.bytes": "1048576"})])
    fut["made-by-confluent"].result(timeout=30)
    t = rw_json("topics", "describe", "made-by-confluent").get("topics", [{}])[0]
    cfg = {c["name"]: c for c in t.get("configs", [])}
    check(len(t.get("partitions", [])) == 4, "rewind describes confluent's topic: 4 partitions")
    check(cfg.get("retention.bytes", {}).get("value") == "1048576",
          "rewind describes confluent's topic: retention.bytes=1048576")
    rc, out, err = rw("topics", "delete", "made-by-confluent", "events")
    check(rc == 0 and out.count("Deleted topic") == 2, "delete two topics (%r)" % err)
    md = a.list_topics(timeout=30)
    check("events" not in md.topics and "made-by-confluent" not in md.topics,
          "confluent-kafka no longer sees the deleted topics")
    rc, out, _ = rw("topics", "list")
    check(rc == 0 and out.strip() == "", "list is empty after the deletes")


# --------------------------------------------- AlterConfigs fallback proxy

class HideIncrementalProxy:
    """A loopback proxy that relays Kafka connections to a broker and drops
    IncrementalAlterConfigs (key 44) and DescribeLogDirs (key 35) from
    every ApiVersions answer, as an older broker would: the client must
    fall back to AlterConfigs, and the tool show sizes as unknown. Counts
    the API keys it relays. Threads end when either side closes."""

    HIDDEN = (44, 35)

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.upstream = None
        self.keys = {}
        self.lock = threading.Lock()

    def start(self, upstream_port):
        self.upstream = upstream_port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.upstream))
            pending = {}
            threading.Thread(target=self._requests, args=(c, b, pending), daemon=True).start()
            threading.Thread(target=self._responses, args=(b, c, pending), daemon=True).start()

    def _requests(self, c, b, pending):
        while True:
            f = recv_frame(c)
            if f is None:
                break
            key, ver, corr = struct.unpack(">hhi", f[:8])
            with self.lock:
                self.keys[key] = self.keys.get(key, 0) + 1
                pending[corr] = (key, ver)
            b.sendall(struct.pack(">i", len(f)) + f)
        b.close()

    def _responses(self, b, c, pending):
        while True:
            f = recv_frame(b)
            if f is None:
                break
            corr = struct.unpack(">i", f[:4])[0]
            with self.lock:
                key, ver = pending.pop(corr, (None, None))
            if key == 18:
                f = self._drop_hidden(f, ver)
            c.sendall(struct.pack(">i", len(f)) + f)
        c.close()

    @staticmethod
    def _drop_hidden(f, ver):
        # Response header v0 (4 bytes), ErrorCode, then the ranges; an
        # UNSUPPORTED_VERSION answer is always in v0's shape.
        if ver >= 3 and struct.unpack(">h", f[4:6])[0] != 35:
            n = f[6] - 1                      # compact array: count + 1 (< 128 here)
            entries, rest, at = [], None, 7
            for _ in range(n):
                entries.append(f[at:at + 7])  # key, min, max, empty tags
                at += 7
            rest = f[at:]
            kept = [e for e in entries
                    if struct.unpack(">h", e[:2])[0] not in HideIncrementalProxy.HIDDEN]
            return f[:6] + bytes([len(kept) + 1]) + b"".join(kept) + rest
        n = struct.unpack(">i", f[6:10])[0]
        entries = [f[10 + 6 * i:16 + 6 * i] for i in range(n)]
        kept = [e for e in entries
                if struct.unpack(">h", e[:2])[0] not in HideIncrementalProxy.HIDDEN]
        return f[:6] + struct.pack(">i", len(kept)) + b"".join(kept) + f[10 + 6 * n:]


def test_alter_falls_back_to_alter_configs():
    # A broker that does not offer IncrementalAlterConfigs (as seen through
    # the proxy): rewind replays the topic's current overrides plus the
    # change with AlterConfigs, so an unrelated override survives.
    proxy = HideIncrementalProxy()
    tmp2 = os.path.join(TMP, "legacy")
    os.mkdir(tmp2)
    b2 = Broker(BROKER, tmp2, "advertised.listeners=PLAINTEXT://127.0.0.1:%d" % proxy.port)
    try:
        b2.start()
        proxy.start(b2.port)
        via = "127.0.0.1:%d" % proxy.port

        def run(*args):
            p = subprocess.run([REWIND] + list(args) + ["--bootstrap", via],
                               capture_output=True, timeout=60)
            return p.returncode, p.stdout.decode(), p.stderr.decode()

        rc, _, err = run("topics", "create", "legacy", "--config", "cleanup.policy=compact")
        check(rc == 0, "legacy broker: create (%r)" % err)
        rc, out, err = run("topics", "alter", "legacy", "--config", "retention.ms=1000")
        check(rc == 0, "legacy broker: alter --config (%r)" % err)
        rc, out, err = run("topics", "describe", "legacy", "--json")
        t = json.loads(out)["topics"][0] if rc == 0 else {"configs": [], "partitions": []}
        cfg = {c["name"]: c["value"] for c in t["configs"]}
        check(cfg.get("retention.ms") == "1000" and cfg.get("cleanup.policy") == "compact",
              "legacy broker: retention.ms set, cleanup.policy kept (%r)" % cfg)
        check(rc == 0 and all(p["size_bytes"] == -1 for p in t["partitions"]) and
              "does not offer the DescribeLogDirs API" in err and "sizes are shown as '-'" in err,
              "legacy broker without DescribeLogDirs: describe still works, sizes unknown (%r)" % err)
        rc, out, err = run("topics", "alter", "legacy", "--delete-config", "retention.ms")
        rc2, out2, _ = run("topics", "describe", "legacy", "--json")
        cfg = {c["name"]: c["value"] for c in json.loads(out2)["topics"][0]["configs"]} if rc2 == 0 else {}
        check(rc == 0 and "retention.ms" not in cfg and cfg.get("cleanup.policy") == "compact",
              "legacy broker: --delete-config removes one override only (%r)" % cfg)
        fails_via = subprocess.run([REWIND, "topics", "alter", "legacy", "--config", "bogus.key=1",
                                    "--bootstrap", via], capture_output=True, timeout=60)
        check(fails_via.returncode == 1 and b"INVALID_CONFIG" in fails_via.stderr,
              "legacy broker: a bad key is refused with the broker's message")
        with proxy.lock:
            keys = dict(proxy.keys)
        check(keys.get(33, 0) >= 3 and keys.get(44, 0) == 0,
              "legacy broker: AlterConfigs used, never IncrementalAlterConfigs (%r)" % keys)
    finally:
        proxy.listener.close()
        try:
            b2.stop()
        except BrokerError as e:
            check(False, "legacy broker stops cleanly: %s" % e)
        b2.kill()


# -------------------------------------------------------------- gen-events

def test_gen_events():
    args = ["gen-events", "--count", "20000", "--seed", "11", "--videos", "50", "--users", "500",
            "--out-of-order", "0.1", "--late", "0.02", "--quiet"]
    r1 = subprocess.run([REWIND] + args, capture_output=True, timeout=60)
    r2 = subprocess.run([REWIND] + args, capture_output=True, timeout=60)
    r3 = subprocess.run([REWIND] + args[:-2] + ["--seed", "12"], capture_output=True, timeout=60)
    check(r1.returncode == 0 and r1.stdout == r2.stdout, "gen-events: same seed, same bytes")
    check(r1.stdout != r3.stdout, "gen-events: another seed, other bytes")
    lines = r1.stdout.decode().splitlines()
    ok = len(lines) == 20000
    keys = []
    for line in lines:
        k, _, j = line.partition("\t")
        e = json.loads(j)
        ok &= e["video_id"] == k and e["event"] in ("play", "pause", "rebuffer")
        ok &= isinstance(e["ts"], int) and e["user_id"].startswith("u")
        keys.append(k)
    check(ok, "gen-events: 20000 KEY<TAB>JSON lines python's json reads, key = video_id")

    rc, _, err = rw("topics", "create", "plays", "--partitions", "4")
    check(rc == 0, "create plays (%r)" % err)
    p = subprocess.run(["kcat", "-P", "-b", broker.bootstrap, "-t", "plays", "-K\t"],
                       input=r1.stdout, capture_output=True, timeout=120)
    check(p.returncode == 0, "kcat -P -K'\\t' took gen-events' output")
    c = subprocess.run(["kcat", "-C", "-b", broker.bootstrap, "-t", "plays", "-o", "beginning",
                        "-e", "-q", "-f", "%k\t%s\n"], capture_output=True, timeout=120)
    back = c.stdout.decode().splitlines()
    check(len(back) == 20000, "kcat consumed every event back (%d)" % len(back))
    check(sorted(back) == sorted(lines), "the records are the lines, key and value")
    t = rw_json("topics", "describe", "plays").get("topics", [{}])[0]
    check(sum(p["log_end_offset"] for p in t.get("partitions", [])) == 20000,
          "rewind topics describe: log ends add up to 20000")
    check(all(p["dirty_ratio"] is None for p in t.get("partitions", [])),
          "describe: a topic that is not compacted has no dirty ratio")
    rc, out, _ = rw("topics", "describe", "plays")
    check(rc == 0 and "DIRTY-RATIO" not in out, "describe: no DIRTY-RATIO column without compaction")

    # --topic produces the same records directly (key, JSON value).
    rc, _, err = rw("topics", "create", "direct", "--partitions", "3")
    p = subprocess.run([REWIND] + args + ["--topic", "direct", "-b", broker.bootstrap],
                       capture_output=True, timeout=120)
    check(p.returncode == 0 and p.stdout == b"", "gen-events --topic exits 0, writes nothing to "
          "stdout (%r)" % p.stderr)
    c = subprocess.run(["kcat", "-C", "-b", broker.bootstrap, "-t", "direct", "-o", "beginning",
                        "-e", "-q", "-f", "%k\t%s\n"], capture_output=True, timeout=120)
    check(sorted(c.stdout.decode().splitlines()) == sorted(lines),
          "gen-events --topic: the topic holds exactly the lines stdout would have had")
    # Piped into rewind produce, as docs/tools.md shows.
    rc, _, err = rw("topics", "create", "piped", "--partitions", "2")
    p = subprocess.run([REWIND, "produce", "piped", "--key-separator", "\t", "--bootstrap",
                        broker.bootstrap], input=r1.stdout, capture_output=True, timeout=120)
    c = subprocess.run(["kcat", "-C", "-b", broker.bootstrap, "-t", "piped", "-o", "beginning",
                        "-e", "-q", "-f", "%k\t%s\n"], capture_output=True, timeout=120)
    check(p.returncode == 0 and sorted(c.stdout.decode().splitlines()) == sorted(lines),
          "gen-events | rewind produce --key-separator '\\t': the topic holds the lines (%r)"
          % p.stderr[-300:])
    dead = "127.0.0.1:%d" % free_port()
    p = subprocess.run([REWIND, "gen-events", "--count", "5", "--topic", "direct", "--bootstrap",
                        dead], capture_output=True, timeout=60)
    check(p.returncode == 1 and dead.encode() in p.stderr and b"start the broker" in p.stderr,
          "gen-events --topic with no broker names it and says what to do (%r)" % p.stderr)
    fails("--bootstrap without --topic", r"--bootstrap is for --topic", "gen-events", "--count", "1")

    # A committed offset makes __consumer_offsets: internal, so listed only
    # with --internal.
    c = kafka.KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g-topics",
                            enable_auto_commit=False)
    tp = kafka.TopicPartition("plays", 0)
    c.assign([tp])
    c.commit({tp: kafka.OffsetAndMetadata(5, "")})
    c.close()
    rc, out, _ = rw("topics", "list")
    check(rc == 0 and out.split() == ["direct", "piped", "plays"],
          "list hides __consumer_offsets (%r)" % out)
    d = rw_json("topics", "list", "--internal")
    names = {x["name"]: x["internal"] for x in d.get("topics", [])}
    check(names == {"direct": False, "piped": False, "plays": False, "__consumer_offsets": True},
          "list --internal shows __consumer_offsets as internal (%r)" % names)


def main():
    try:
        broker.start()
        test_help_and_flags()
        test_create_list_describe()
        test_alter_and_errors()
        test_rewind_describes_what_confluent_created()
        test_alter_falls_back_to_alter_configs()
        test_gen_events()
        try:
            broker.stop()
            check(True, "broker exits 0 on SIGTERM, no sanitizer report")
        except BrokerError as e:
            check(False, "broker stops cleanly: %s" % e)
    finally:
        if broker.proc is not None and broker.proc.poll() is None:
            broker.kill()
        if failures:
            sys.stderr.write("---- broker log\n" + broker.text())
        shutil.rmtree(TMP, ignore_errors=True)
    if failures:
        print("%d failures" % len(failures))
        sys.exit(1)
    print("tools topics: ok")


main()
