#!/usr/bin/python3
"""test_admin.py BROKER -- topic administration with real admin clients.

Starts rewind-broker on a free 127.0.0.1 port with a temporary data dir and
drives it with Debian's kafka-python 2.0.2 KafkaAdminClient and
confluent-kafka 1.7.0 AdminClient (librdkafka): create topics (with configs,
validate-only, default partition count, refused replication factor),
describe and alter configs (AlterConfigs and IncrementalAlterConfigs),
create partitions, delete topics, DescribeCluster, and `kcat -L` metadata.
It then restarts the broker and checks that topic ids, partition counts and
configs survived. Only the broker this script started is signalled, by PID.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from broker_harness import free_port  # noqa: E402
from confluent_kafka import admin as cadmin
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import InvalidReplicationFactorError, TopicAlreadyExistsError

BROKER = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="rewind-admin-")
DATA = os.path.join(TMP, "data")
LOG = os.path.join(TMP, "broker.log")
proc = None


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    if os.path.exists(LOG):
        with open(LOG) as f:
            sys.stderr.write("".join("  | " + l for l in f.readlines()[-40:]))
    stop(kill=True)
    shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


PORT = free_port()
BOOT = "127.0.0.1:%d" % PORT


def start():
    global proc
    log = open(LOG, "a")
    proc = subprocess.Popen([BROKER, "--set", "log.dirs=" + DATA,
                             "--set", "listeners=PLAINTEXT://" + BOOT,
                             "--set", "metrics.listener=",
                             "--set", "num.partitions=2"],
                            stderr=log, stdout=log)
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            fail("broker exited with %d at start" % proc.returncode)
        with open(LOG) as f:
            if f.read().count("listening on") >= starts:
                return
        time.sleep(0.05)
    fail("broker did not say it is listening")


def stop(kill=False):
    global proc
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        if not kill and rc != 0:
            proc = None
            fail("broker exited with status %d on SIGTERM" % rc)
    proc = None


def kcat_list():
    out = subprocess.run(["kcat", "-b", BOOT, "-L"], capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, "kcat -L failed: " + out.stderr)
    return out.stdout


def confluent_admin():
    return cadmin.AdminClient({"bootstrap.servers": BOOT})


def wait_all(futures, what):
    for key, fut in futures.items():
        try:
            fut.result(timeout=30)
        except Exception as e:  # noqa: BLE001 -- the message names the failure
            fail("%s %s: %s" % (what, key, e))


starts = 1
start()

# ---- kafka-python: create, refuse, describe, alter, grow, delete
ka = KafkaAdminClient(bootstrap_servers=BOOT, client_id="rewind-test", request_timeout_ms=30000)
ka.create_topics([NewTopic("kp-events", num_partitions=3, replication_factor=1,
                           topic_configs={"retention.ms": "3600000", "cleanup.policy": "compact"})])
try:
    ka.create_topics([NewTopic("kp-events", num_partitions=1, replication_factor=1)])
    fail("duplicate topic accepted")
except TopicAlreadyExistsError:
    pass
try:
    ka.create_topics([NewTopic("kp-rf3", num_partitions=1, replication_factor=3)])
    fail("replication factor 3 accepted on one node")
except InvalidReplicationFactorError:
    pass
ka.create_topics([NewTopic("kp-dry", num_partitions=1, replication_factor=1)], validate_only=True)
check("kp-dry" not in ka.list_topics(), "validate_only created a topic")

res = ka.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-events")])
configs = {c[0]: c[1] for c in res[0].resources[0][4]}
check(configs.get("retention.ms") == "3600000", "retention.ms not described: %r" % configs)
check(configs.get("cleanup.policy") == "compact", "cleanup.policy not described")
check(configs.get("segment.bytes") == "1073741824", "segment.bytes default not described")

ka.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-events",
                                 configs={"retention.ms": "7200000"})])
res = ka.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-events")])
configs = {c[0]: c[1] for c in res[0].resources[0][4]}
check(configs.get("retention.ms") == "7200000", "AlterConfigs not applied")
# AlterConfigs replaces the whole set: cleanup.policy is back to its default.
check(configs.get("cleanup.policy") == "delete", "AlterConfigs did not reset cleanup.policy")

res = ka.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-events",
                                       configs={"no.such.config": "1"})])
check(res.resources[0][0] == 40, "unknown config not INVALID_CONFIG: %r" % (res.resources,))

ka.create_partitions({"kp-events": NewPartitions(total_count=5)})
meta = kcat_list()
check(re.search(r'topic "kp-events" with 5 partitions', meta), "kcat does not see 5 partitions:\n" + meta)
check("broker %d at 127.0.0.1:%d" % (0, PORT) in meta or "127.0.0.1:%d" % PORT in meta,
      "kcat does not see the advertised endpoint")

ka.create_topics([NewTopic("kp-doomed", num_partitions=2, replication_factor=1)])
ka.delete_topics(["kp-doomed"])
check("kp-doomed" not in ka.list_topics(), "deleted topic still listed")
check(not os.path.exists(os.path.join(DATA, "kp-doomed-0")), "deleted topic's dir still there")
with open(LOG) as f:
    deleted_log = [l for l in f if "kp-doomed" in l and "WARN" in l]
check(not deleted_log, "deleting a topic logs warnings about its logs: %r" % deleted_log)
ka.close()

# ---- confluent-kafka (librdkafka): the same through the other client
ca = confluent_admin()
wait_all(ca.create_topics([cadmin.NewTopic("ck-events", num_partitions=-1, replication_factor=-1,
                                           config={"max.message.bytes": "2000000"}),
                           cadmin.NewTopic("ck-other", 4, 1)]), "create")
md = ca.list_topics(timeout=30)
check(len(md.topics["ck-events"].partitions) == 2, "num.partitions default not used")
check(len(md.topics["ck-other"].partitions) == 4, "ck-other has the wrong partition count")
check(md.brokers[0].port == PORT, "metadata advertises the wrong port")

fs = ca.create_topics([cadmin.NewTopic("ck-rf2", 1, 2)])
try:
    fs["ck-rf2"].result(timeout=30)
    fail("replication factor 2 accepted")
except Exception as e:  # noqa: BLE001
    check("REPLICATION_FACTOR" in str(e).upper() or "replication" in str(e).lower(),
          "unexpected error for rf 2: %s" % e)

res = cadmin.ConfigResource("topic", "ck-events")
desc = ca.describe_configs([res])[res].result(timeout=30)
check(desc["max.message.bytes"].value == "2000000", "max.message.bytes not described")
check(not desc["max.message.bytes"].is_default, "override shown as default")
check(desc["retention.bytes"].is_default, "default shown as override")

res = cadmin.ConfigResource("topic", "ck-events",
                            set_config={"segment.bytes": "1048576", "max.message.bytes": "2000000"})
wait_all(ca.alter_configs([res]), "alter")
res = cadmin.ConfigResource("topic", "ck-events")
desc = ca.describe_configs([res])[res].result(timeout=30)
check(desc["segment.bytes"].value == "1048576", "segment.bytes not altered")

bres = cadmin.ConfigResource("broker", "0")
bdesc = ca.describe_configs([bres])[bres].result(timeout=30)
check(bdesc["num.partitions"].value == "2", "broker config num.partitions not described")

wait_all(ca.create_partitions([cadmin.NewPartitions("ck-other", 6)]), "create_partitions")
fs = ca.create_partitions([cadmin.NewPartitions("ck-other", 3)])
try:
    fs["ck-other"].result(timeout=30)
    fail("shrinking partitions accepted")
except Exception:  # noqa: BLE001
    pass
wait_all(ca.delete_topics(["ck-other"], operation_timeout=30), "delete")
md = ca.list_topics(timeout=30)
check("ck-other" not in md.topics, "ck-other still listed after delete")

# Topic ids, before the restart.
ids_before = {}
for name in ("kp-events", "ck-events"):
    with open(os.path.join(DATA, name + "-0", "partition.metadata")) as f:
        ids_before[name] = f.read()
    check(re.fullmatch(r"version: 0\ntopic_id: [A-Za-z0-9_-]{22}\n", ids_before[name]),
          "partition.metadata of %s is not Kafka's format" % name)

# ---- restart: ids, partition counts and configs survive
del ca  # librdkafka would log the restart's disconnect otherwise
stop()
starts = 2
start()
meta = kcat_list()
check(re.search(r'topic "kp-events" with 5 partitions', meta), "partition count lost on restart")
check(re.search(r'topic "ck-events" with 2 partitions', meta), "ck-events lost on restart")
check("ck-other" not in meta and "kp-doomed" not in meta, "deleted topic back after restart")
for name, before in ids_before.items():
    with open(os.path.join(DATA, name + "-0", "partition.metadata")) as f:
        check(f.read() == before, "topic id of %s changed on restart" % name)
ca = confluent_admin()
res = cadmin.ConfigResource("topic", "ck-events")
desc = ca.describe_configs([res])[res].result(timeout=30)
check(desc["segment.bytes"].value == "1048576", "altered config lost on restart")
ka = KafkaAdminClient(bootstrap_servers=BOOT, client_id="rewind-test")
res = ka.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-events")])
configs = {c[0]: c[1] for c in res[0].resources[0][4]}
check(configs.get("retention.ms") == "7200000", "kp-events retention.ms lost on restart")
ka.close()
del ca

stop()
shutil.rmtree(TMP, ignore_errors=True)
print("admin clients: ok")
