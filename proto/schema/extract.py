#!/usr/bin/env python3
"""extract.py -- writes proto/schema/kafka.schema from Apache Kafka's message JSON.

Run by hand, never by the build (the build must work without the Kafka
sources):

    python3 proto/schema/extract.py /work/shared/kafka-protocol/messages \
        > proto/schema/kafka.schema

It keeps facts only (names, keys, types, version ranges, tags, defaults) and
drops prose ("about"), listeners, entity types and map keys. The output format
is described at the top of the file it writes; gen.py is its only reader.

Kafka's files allow whole-line `//` comments, which are stripped before the
JSON parser sees them.
"""
import json
import os
import re
import sys

SOURCE_COMMIT = "1eb7644349cb07139d6a3c1ad1986979647cac99"

# The APIs rewind speaks, in api-key order of appearance in DESIGN.md; each
# contributes its Request and Response, plus the two headers.
APIS = """
ApiVersions Metadata Produce Fetch ListOffsets CreateTopics DeleteTopics
CreatePartitions DescribeConfigs AlterConfigs IncrementalAlterConfigs
DeleteRecords DescribeCluster DescribeLogDirs FindCoordinator JoinGroup
SyncGroup Heartbeat LeaveGroup ListGroups DescribeGroups DeleteGroups
OffsetCommit OffsetFetch OffsetDelete InitProducerId DescribeProducers
OffsetForLeaderEpoch
""".split()

# rewind's own tagged fields, added to Kafka's messages in flexible
# versions. Kafka's clients skip tags they do not know, so these are
# invisible to them; rewind's tools read them. Tags start at 10000, far above
# any Kafka will use. Key: (message, path of nested field names).
REWIND_FIELDS = {
    # The log cleaner's dirty ratio of a partition (storage/cleaner_pass.c):
    # -1 when the partition's cleanup.policy has no compact.
    ("DescribeLogDirsResponse", ("Results", "Topics", "Partitions")): [
        {"name": "RewindDirtyRatio", "type": "float64", "versions": "2+",
         "taggedVersions": "2+", "tag": 10000, "default": "-1", "ignorable": True},
    ],
}


def add_rewind_fields(d):
    for (msg, path), extra in REWIND_FIELDS.items():
        if d["name"] != msg:
            continue
        fields = d["fields"]
        for name in path:
            f = next((f for f in fields if f["name"] == name), None)
            if f is None:
                sys.exit(f"extract.py: {msg}: no field {name} for rewind's extension")
            fields = f.setdefault("fields", [])
        fields.extend(extra)
    return d


PRIMITIVES = {"int8", "int16", "int32", "int64", "uint16", "uint32", "float64",
              "bool", "string", "bytes", "records", "uuid"}

# Keys we read; any other key in a field makes us stop rather than silently
# lose a fact gen.py might need.
FIELD_KEYS_KEPT = {"name", "type", "versions", "nullableVersions", "taggedVersions",
                   "tag", "default", "ignorable", "flexibleVersions", "fields"}
FIELD_KEYS_DROPPED = {"about", "entityType", "mapKey", "zeroCopy"}

HEADER = """\
# kafka.schema -- the Kafka protocol messages rewind speaks, facts only.
#
# Written by proto/schema/extract.py from Apache Kafka's message definitions
# (apache/kafka commit {commit},
# clients/src/main/resources/common/message/*.json, Apache License 2.0).
# Do not edit by hand: change extract.py and run it again. Fields named
# Rewind* are rewind's own tagged fields (REWIND_FIELDS in extract.py).
# Read by proto/schema/gen.py at build time.
#
# Format: one item per line; two spaces of indent per nesting level.
#   message NAME KIND [apiKey=N] valid=RANGE flexible=RANGE [unstableLatest]
#   struct NAME versions=RANGE            (a commonStruct; fields nested below)
#   field NAME TYPE versions=RANGE [nullable=RANGE] [tagged=RANGE tag=N]
#         [default=VALUE] [ignorable] [flexible=RANGE]
# KIND is request, response or header. TYPE is a primitive (int8 int16 int32
# int64 uint16 uint32 float64 bool string bytes records uuid), a struct name,
# or []TYPE for an array. A field of struct type has its fields nested below
# it, unless the struct is a commonStruct of the message. RANGE is Kafka's:
# "N", "N-M", "N+" or "none". VALUE is a decimal integer, true, false, null or
# a JSON string. A field-level flexible=RANGE overrides the message's
# flexibleVersions for that field alone (RequestHeader.ClientId).
"""


def load(path):
    with open(path, encoding="utf-8") as f:
        text = "".join(line for line in f if not line.lstrip().startswith("//"))
    return json.loads(text)


def check_range(r, what):
    if r != "none" and not re.fullmatch(r"\d+(\+|-\d+)?", r):
        sys.exit(f"extract.py: {what}: bad version range {r!r}")
    return r


def norm_default(value, ftype, what):
    """Normalizes Kafka's default spellings ("0x7fffffff", -1, "true", "")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        sys.exit(f"extract.py: {what}: unexpected default {value!r}")
    if value == "null":
        return "null"
    if ftype in ("int8", "int16", "int32", "int64", "uint16", "uint32"):
        return str(int(value, 0))
    if ftype == "bool":
        if value not in ("true", "false"):
            sys.exit(f"extract.py: {what}: bad bool default {value!r}")
        return value
    if ftype == "float64":
        return repr(float(value))
    if ftype == "string":
        return json.dumps(value)
    if value == "":
        return None  # the type's natural default
    sys.exit(f"extract.py: {what}: default {value!r} for type {ftype}")


def emit_field(out, f, depth, what):
    unknown = set(f) - FIELD_KEYS_KEPT - FIELD_KEYS_DROPPED
    if unknown:
        sys.exit(f"extract.py: {what}.{f.get('name')}: unknown keys {sorted(unknown)}")
    name, ftype = f["name"], f["type"]
    where = f"{what}.{name}"
    base = ftype[2:] if ftype.startswith("[]") else ftype
    if base not in PRIMITIVES and not re.fullmatch(r"[A-Z][A-Za-z0-9]*", base):
        sys.exit(f"extract.py: {where}: unknown type {ftype!r}")
    parts = [f"field {name} {ftype}", f"versions={check_range(f['versions'], where)}"]
    if "nullableVersions" in f:
        parts.append(f"nullable={check_range(f['nullableVersions'], where)}")
    if "taggedVersions" in f:
        parts.append(f"tagged={check_range(f['taggedVersions'], where)}")
        parts.append(f"tag={int(f['tag'])}")
    if "default" in f:
        d = norm_default(f["default"], base if not ftype.startswith("[]") else "array", where)
        if d is not None:
            parts.append(f"default={d}")
    if f.get("ignorable"):
        parts.append("ignorable")
    if "flexibleVersions" in f:
        parts.append(f"flexible={check_range(f['flexibleVersions'], where)}")
    out.append("  " * depth + " ".join(parts))
    for sub in f.get("fields", []):
        emit_field(out, sub, depth + 1, where)


def emit_message(out, d):
    name = d["name"]
    parts = [f"message {name} {d['type']}"]
    if "apiKey" in d:
        parts.append(f"apiKey={int(d['apiKey'])}")
    parts.append(f"valid={check_range(d['validVersions'], name)}")
    parts.append(f"flexible={check_range(d['flexibleVersions'], name)}")
    if d.get("latestVersionUnstable"):
        parts.append("unstableLatest")
    out.append(" ".join(parts))
    for cs in d.get("commonStructs", []):
        out.append(f"  struct {cs['name']} versions={check_range(cs['versions'], name)}")
        for f in cs["fields"]:
            emit_field(out, f, 2, f"{name}.{cs['name']}")
    for f in d["fields"]:
        emit_field(out, f, 1, name)
    out.append("")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: extract.py KAFKA_MESSAGES_DIR > kafka.schema")
    src = sys.argv[1]
    names = ["RequestHeader", "ResponseHeader"]
    for api in APIS:
        names += [api + "Request", api + "Response"]
    out = [HEADER.format(commit=SOURCE_COMMIT)]
    for n in names:
        emit_message(out, add_rewind_fields(load(os.path.join(src, n + ".json"))))
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
