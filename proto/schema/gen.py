#!/usr/bin/env python3
"""gen.py -- generates rewind's Kafka message codecs from kafka.schema.

Run by meson at build time (proto/schema/meson.build):

    python3 gen.py kafka.schema OUTDIR            -> kp_msgs.h, kp_msgs.c
    python3 gen.py --test kafka.schema OUTDIR     -> kp_msgs_test.h, kp_msgs_test.c

The first form writes, for every message in the schema, a C struct with the
protocol's field names, kp_<Name>_init/_decode/_encode, the API table and the
header-version rules. The second writes test support that the unit tests use
to exercise every version of every message: a filler that sets every field a
version carries to a pseudo-random value, and a deep comparison.

How the generated code reads the wire (the rules live in primitives.c; this
file only decides which rule applies to which field in which version):
  - a field is carried by a version when the version is in its `versions`
    range; it is a tagged field in the versions in its `tagged` range and is
    then written in the tagged-field section, only when it differs from its
    default (as Kafka's own generated code does);
  - flexible versions use compact (uvarint length + 1) strings, bytes and
    arrays and end every struct with a tagged-field section; unknown tags are
    skipped, known ones are decoded from a reader bounded to their size;
  - a field a version does not carry keeps its default; encoding a
    non-ignorable field that holds a non-default value in a version without
    it is KP_ERR_FIELD, like Kafka's UnsupportedVersionException.

Nothing here is edited by hand in the output: change this file or the schema.
"""
import argparse
import os
import re
import sys

INF = 0x7FFF  # "N+" ranges run to the largest int16 version

INT_TYPES = {
    "int8": ("int8_t", "kp_read_i8", "kp_buf_put_i8", 1),
    "int16": ("int16_t", "kp_read_i16", "kp_buf_put_i16", 2),
    "int32": ("int32_t", "kp_read_i32", "kp_buf_put_i32", 4),
    "int64": ("int64_t", "kp_read_i64", "kp_buf_put_i64", 8),
    "uint16": ("uint16_t", None, None, 2),
    "uint32": ("uint32_t", None, None, 4),
}
PRIMITIVES = set(INT_TYPES) | {"float64", "bool", "string", "bytes", "records", "uuid"}
CTYPE = {k: v[0] for k, v in INT_TYPES.items()}
CTYPE.update(float64="double", bool="bool", string="kp_str", bytes="kp_bytes",
             records="kp_records", uuid="kp_uuid")


def die(msg):
    sys.exit(f"gen.py: {msg}")


# ------------------------------------------------------------------ ranges

def parse_range(text, where):
    """Kafka's version range: "N", "N-M", "N+" or "none" -> (lo, hi) | None."""
    if text == "none":
        return None
    m = re.fullmatch(r"(\d+)(\+|-(\d+))?", text)
    if not m:
        die(f"{where}: bad version range {text!r}")
    lo = int(m.group(1))
    if m.group(2) is None:
        return (lo, lo)
    if m.group(2) == "+":
        return (lo, INF)
    return (lo, int(m.group(3)))


def intersect(a, b):
    if a is None or b is None:
        return None
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


def hull(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]))


def inline_cond(f, ctx):
    """C expression true when field f is written in line (not as a tagged
    field) in `version`, knowing the version is in ctx."""
    present = intersect(f.versions, ctx)
    if present is None:
        return "false"
    t = intersect(f.tagged, present)
    if t is None:
        return cond(present, ctx)
    if t == present:
        return "false"
    if t[1] == present[1]:
        return cond((present[0], t[0] - 1), ctx)
    if t[0] == present[0]:
        return cond((t[1] + 1, present[1]), ctx)
    return c_and(cond(present, ctx), c_not(cond(t, ctx)))


def cond(rng, ctx):
    """C expression true when `version` is in rng, knowing it is in ctx.

    Returns "true" or "false" when ctx decides it, so the output has no tests
    that cannot fail (and no comparisons that -Wtype-limits would flag)."""
    r = intersect(rng, ctx)
    if r is None:
        return "false"
    if r == ctx:
        return "true"
    lo, hi = r
    if lo == hi:
        return f"version == {lo}"
    parts = []
    if lo > ctx[0]:
        parts.append(f"version >= {lo}")
    if hi < ctx[1]:
        parts.append(f"version <= {hi}")
    return " && ".join(parts)


def c_and(a, b):
    if a == "false" or b == "false":
        return "false"
    if a == "true":
        return b
    if b == "true":
        return a
    return f"({a}) && ({b})"


def c_not(a):
    if a == "true":
        return "false"
    if a == "false":
        return "true"
    # Negate cond()'s own shapes plainly, so the output reads "version < 4"
    # rather than "!(version >= 4)".
    m = re.fullmatch(r"version (>=|<=|==) (\d+)", a)
    if m:
        return f"version {({'>=': '<', '<=': '>', '==': '!='})[m.group(1)]} {m.group(2)}"
    m = re.fullmatch(r"version >= (\d+) && version <= (\d+)", a)
    if m:
        return f"version < {m.group(1)} || version > {m.group(2)}"
    return f"!({a})"


# ------------------------------------------------------------------ model

class Field:
    def __init__(self, name, ftype, attrs, where):
        self.name = name
        self.type = ftype
        self.is_array = ftype.startswith("[]")
        self.base = ftype[2:] if self.is_array else ftype
        self.is_struct = self.base not in PRIMITIVES
        self.where = where
        self.versions = parse_range(attrs.pop("versions"), where)
        self.nullable = parse_range(attrs.pop("nullable", "none"), where)
        self.tagged = parse_range(attrs.pop("tagged", "none"), where)
        self.tag = int(attrs.pop("tag")) if "tag" in attrs else None
        if (self.tagged is None) != (self.tag is None):
            die(f"{where}: tagged and tag go together")
        self.default = attrs.pop("default", None)
        self.ignorable = attrs.pop("ignorable", None) is not None
        flex = attrs.pop("flexible", None)
        self.flex_override = None if flex is None else parse_range(flex, where)
        self.has_flex_override = flex is not None
        if attrs:
            die(f"{where}: unknown attributes {sorted(attrs)}")
        self.children = []        # fields of an inline struct
        self.struct = None        # the Struct, once resolved
        if self.default is not None:
            self.check_default()

    def check_default(self):
        d, t = self.default, self.base
        if self.is_array or self.is_struct:
            if d != "null":
                die(f"{self.where}: default {d} for {self.type}")
        elif t in INT_TYPES:
            int(d)
        elif t == "bool":
            if d not in ("true", "false"):
                die(f"{self.where}: bad bool default {d}")
        elif t == "float64":
            float(d)
        elif t == "string":
            if d != "null" and not d.startswith('"'):
                die(f"{self.where}: string default must be null or quoted")
        elif d != "null":
            die(f"{self.where}: default {d} for {t}")
        if d == "null" and self.nullable is None and t != "records":
            die(f"{self.where}: null default for a field that is never nullable")

    def string_default(self):
        """The default of a string field as a Python str, or None for null."""
        if self.default is None:
            return ""
        if self.default == "null":
            return None
        return bytes(self.default[1:-1], "utf-8").decode("unicode_escape")


class Struct:
    def __init__(self, msg, name, fields):
        self.msg = msg
        self.name = name
        self.fields = fields
        self.ctx = None  # hull of the versions in which this struct appears
        self.cname = f"kp_{msg.name}" if name is None else f"kp_{msg.name}_{name}"
        self.fname = msg.name if name is None else f"{msg.name}_{name}"
        self.label = msg.name if name is None else name


class Message:
    def __init__(self, name, kind, attrs, where):
        self.name = name
        self.kind = kind
        self.api_key = int(attrs.pop("apiKey")) if "apiKey" in attrs else None
        self.valid = parse_range(attrs.pop("valid"), where)
        self.flexible = parse_range(attrs.pop("flexible"), where)
        self.unstable_latest = attrs.pop("unstableLatest", None) is not None
        if attrs:
            die(f"{where}: unknown attributes {sorted(attrs)}")
        if kind not in ("request", "response", "header"):
            die(f"{where}: unknown kind {kind}")
        if self.valid is None:
            die(f"{where}: no valid versions")
        self.fields = []
        self.common = {}          # name -> Struct (commonStructs)
        self.common_ranges = {}
        self.top = None
        self.structs = []         # every struct, each after the ones it uses


TOKEN = re.compile(r'[^\s"]*"(?:[^"\\]|\\.)*"|\S+')


def parse_attrs(tokens, where):
    attrs = {}
    for t in tokens:
        k, eq, v = t.partition("=")
        if k in attrs:
            die(f"{where}: {k} given twice")
        attrs[k] = v if eq else ""
    return attrs


def parse_schema(path):
    messages = []
    stack = []  # (depth, holder): holder has .children or is a Message/struct
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for lineno, line in enumerate(lines, 1):
        where = f"{path}:{lineno}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent % 2:
            die(f"{where}: odd indent")
        depth = indent // 2
        tok = TOKEN.findall(line)
        if tok[0] == "message":
            if depth != 0 or len(tok) < 3:
                die(f"{where}: bad message line")
            msg = Message(tok[1], tok[2], parse_attrs(tok[3:], where), where)
            messages.append(msg)
            stack = [(0, msg.fields)]
            continue
        if not stack:
            die(f"{where}: {tok[0]} outside a message")
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if not stack or stack[-1][0] != depth - 1:
            die(f"{where}: bad nesting")
        if tok[0] == "struct":
            if depth != 1:
                die(f"{where}: struct must be at message level")
            attrs = parse_attrs(tok[2:], where)
            msg.common_ranges[tok[1]] = parse_range(attrs.pop("versions"), where)
            fields = []
            msg.common[tok[1]] = fields
            stack.append((depth, fields))
        elif tok[0] == "field":
            if len(tok) < 3:
                die(f"{where}: bad field line")
            fld = Field(tok[1], tok[2], parse_attrs(tok[3:], where), where)
            stack[-1][1].append(fld)
            stack.append((depth, fld.children))
        else:
            die(f"{where}: unknown item {tok[0]}")
    for msg in messages:
        resolve(msg)
    return messages


def resolve(msg):
    """Turns nested field lists into Structs, computes each struct's version
    context and orders structs so each follows the ones it contains."""
    common = {}
    for name, fields in msg.common.items():
        common[name] = Struct(msg, name, fields)
    names = set()

    def build(fields, ctx):
        for f in fields:
            present = intersect(f.versions, ctx)
            if not f.is_struct:
                if f.children:
                    die(f"{f.where}: primitive with nested fields")
                continue
            if f.children:
                if f.base in common or f.base in names:
                    die(f"{f.where}: struct {f.base} defined twice")
                names.add(f.base)
                f.struct = Struct(msg, f.base, f.children)
            elif f.base in common:
                f.struct = common[f.base]
            else:
                die(f"{f.where}: unknown struct {f.base}")
            if not f.is_array and f.nullable is not None:
                die(f"{f.where}: nullable non-array structs are not supported")
            if present is not None:
                f.struct.ctx = hull(f.struct.ctx, present)
                build(f.struct.fields, present)

    msg.top = Struct(msg, None, msg.fields)
    msg.top.ctx = msg.valid
    build(msg.fields, msg.valid)

    order = []

    def visit(s):
        for f in s.fields:
            if f.struct is not None and f.struct not in order:
                visit(f.struct)
        if s not in order:
            order.append(s)

    visit(msg.top)
    for s in order:
        if s.ctx is None:
            # Present in no valid version: keep the type, gate nothing out.
            s.ctx = msg.valid
    msg.structs = order


# ---------------------------------------------------------- C literals

def c_int(t, v):
    v = int(v)
    if t == "int64":
        if v == -(1 << 63):
            return "INT64_MIN"
        return f"INT64_C({v})"
    if t == "int32" and v == -(1 << 31):
        return "INT32_MIN"
    if t.startswith("uint"):
        return f"{v}u"
    return str(v)


def c_string_literal(s):
    out = []
    for b in s.encode("utf-8"):
        ch = chr(b)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


class Gen:
    def __init__(self, messages):
        self.messages = messages
        # Lists, not sets: the output must not depend on hash order.
        self.isdef_used = []
        self.min_used = []

    # ------------------------------------------------------------ helpers

    @staticmethod
    def use(lst, s):
        if s not in lst:
            lst.append(s)

    def flex_expr(self, msg, f, ctx):
        if f is not None and f.has_flex_override:
            return cond(f.flex_override, ctx)
        return cond(msg.flexible, ctx)

    def min_elem(self, f, flex):
        """Smallest encoding of one element of array field f, as C."""
        if f.is_struct:
            self.use(self.min_used, f.struct)
            return f"min_{f.struct.fname}(version)"
        return self.min_prim(f.base, flex)

    @staticmethod
    def pick(flex, a, b):
        if flex == "true":
            return str(a)
        if flex == "false":
            return str(b)
        return f"({flex} ? {a}u : {b}u)"

    def min_prim(self, t, flex):
        if t in INT_TYPES:
            return str(INT_TYPES[t][3])
        if t == "float64":
            return "8"
        if t == "bool":
            return "1"
        if t == "uuid":
            return "16"
        if t == "string":
            return self.pick(flex, 1, 2)
        return self.pick(flex, 1, 4)  # bytes, records

    def nondefault(self, f, lv):
        """C expression: lv (the field's value) differs from f's default."""
        t = f.base
        if f.is_array:
            return f"{lv}.count >= 0" if f.default == "null" else f"{lv}.count != 0"
        if f.is_struct:
            self.use(self.isdef_used, f.struct)
            return f"!isdef_{f.struct.fname}(&{lv})"
        if t in INT_TYPES:
            return f"{lv} != {c_int(t, f.default or 0)}"
        if t == "float64":
            return f"{lv} != {float(f.default or 0)!r}"
        if t == "bool":
            return lv if f.default != "true" else f"!{lv}"
        if t == "uuid":
            return f"!kp__uuid_is_zero(&{lv})"
        if t == "string":
            d = f.string_default()
            if d is None:
                return f"{lv}.len >= 0"
            if d == "":
                return f"{lv}.len != 0"
            return (f"!kp__str_is({lv}, {c_string_literal(d)}, "
                    f"{len(d.encode('utf-8'))})")
        if t == "records" or f.default == "null":
            return f"{lv}.len >= 0"
        return f"{lv}.len != 0"

    def init_stmt(self, f, lv):
        """Statements setting lv to f's default after a memset to zero."""
        t = f.base
        if f.is_array:
            return [f"{lv}.count = -1;"] if f.default == "null" else []
        if f.is_struct:
            return [f"{f.struct.cname}_init(&{lv});"]
        if t in INT_TYPES:
            return [f"{lv} = {c_int(t, f.default)};"] if f.default not in (None, "0") else []
        if t == "float64":
            return [f"{lv} = {float(f.default)!r};"] if f.default is not None else []
        if t == "bool":
            return [f"{lv} = true;"] if f.default == "true" else []
        if t == "uuid":
            return []
        if t == "string":
            d = f.string_default()
            if d is None:
                return [f"{lv} = KP_STR_NULL;"]
            return [f"{lv} = KP_STR_LIT({c_string_literal(d)});"]
        if t == "records":
            return [f"{lv} = KP_RECORDS_NULL;"]
        if f.default == "null":
            return [f"{lv} = KP_BYTES_NULL;"]
        return [f"{lv}.p = (const uint8_t *)\"\";"]

    # ------------------------------------------------------------- header

    def field_comment(self, f):
        def rs(r):
            if r is None:
                return "none"
            lo, hi = r
            return f"v{lo}+" if hi == INF else (f"v{lo}" if lo == hi else f"v{lo}-{hi}")
        parts = [rs(f.versions)]
        if f.nullable is not None:
            parts.append(f"nullable {rs(f.nullable)}")
        if f.tagged is not None:
            parts.append(f"tag {f.tag} in {rs(f.tagged)}")
        if f.default is not None:
            parts.append(f"default {f.default}")
        if f.has_flex_override:
            parts.append(f"flexible {rs(f.flex_override)}")
        if f.ignorable:
            parts.append("ignorable")
        return ", ".join(parts)

    def struct_decl(self, s):
        out = [f"typedef struct {s.cname} {{"]
        if not s.fields:
            out.append("\tchar unused_;                   /* C has no empty structs */")
        for f in s.fields:
            et = f.struct.cname if f.is_struct else CTYPE[f.base]
            cm = f"/* {self.field_comment(f)} */"
            if f.is_array:
                out.append("\tstruct {")
                out.append("\t\tint32_t count;             /* -1 = null */")
                out.append(f"\t\t{et} *items;")
                out.append(f"\t}} {f.name};  {cm}")
            else:
                out.append(f"\t{et} {f.name};  {cm}")
        out.append(f"}} {s.cname};")
        return out

    def header(self):
        h = [HEADER_PREAMBLE]
        reqs = [m for m in self.messages if m.kind == "request"]
        h.append("/* API keys of the requests above, by protocol name. */")
        h.append("enum kp_api_key {")
        for m in sorted(reqs, key=lambda m: m.api_key):
            api = m.name[: -len("Request")]
            snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", api).upper()
            h.append(f"\tKP_API_{snake} = {m.api_key},")
        h.append("};\n")
        for m in self.messages:
            lo, hi = m.valid
            flex = "none" if m.flexible is None else f"{m.flexible[0]}+"
            key = f", apiKey {m.api_key}" if m.api_key is not None else ""
            h.append(f"/* ---- {m.name} ({m.kind}{key}; versions {lo}-{hi}, flexible {flex}) */\n")
            for s in m.structs:
                h += self.struct_decl(s)
                h.append("")
            for s in m.structs:
                h.append(f"void {s.cname}_init({s.cname} *m);")
            h.append(f"int {m.top.cname}_decode(kp_reader *r, int16_t version, kp_arena *a, {m.top.cname} *out);")
            h.append(f"int {m.top.cname}_encode(kp_buf *b, int16_t version, const {m.top.cname} *in);")
            h.append("")
        h.append("#endif /* REWIND_PROTO_KP_MSGS_H */")
        return "\n".join(h) + "\n"

    # ------------------------------------------------------------- decode

    def dec_value(self, msg, f, R, lv, flex, ctx, ind):
        """Statements decoding field f (one value, array or not) from
        reader R into lv. Error exits return kp__rd_fail(r, ...)."""
        t = f.base
        nul = cond(f.nullable, ctx)
        out = []
        if f.is_array:
            out.append(f"{ind}{{")
            out.append(f"{ind}\tint32_t n = kp__read_count({R}, {flex}, {nul}, {self.min_elem(f, flex)});")
            out.append(f"{ind}\t{lv}.count = n;")
            out.append(f"{ind}\tif ({R}->err != 0)")
            out.append(f"{ind}\t\treturn kp__rd_fail(r, {R}->err);")
            out.append(f"{ind}\tif (n > 0) {{")
            out.append(f"{ind}\t\t{lv}.items = kp__alloc_array({R}, a, n, sizeof *{lv}.items);")
            out.append(f"{ind}\t\tif ({lv}.items == NULL)")
            out.append(f"{ind}\t\t\treturn kp__rd_fail(r, {R}->err);")
            out.append(f"{ind}\t\tfor (int32_t i = 0; i < n; i++) {{")
            el = f"{lv}.items[i]"
            if f.is_struct:
                out.append(f"{ind}\t\t\tif (dec_{f.struct.fname}({R}, version, a, &{el}) != 0)")
                out.append(f"{ind}\t\t\t\treturn kp__rd_fail(r, {R}->err);")
            else:
                out += self.dec_prim(t, R, el, flex, "false", ind + "\t\t\t")
            out.append(f"{ind}\t\t}}")
            if not f.is_struct:
                out.append(f"{ind}\t\tif ({R}->err != 0)")
                out.append(f"{ind}\t\t\treturn kp__rd_fail(r, {R}->err);")
            out.append(f"{ind}\t}}")
            out.append(f"{ind}}}")
        elif f.is_struct:
            out.append(f"{ind}if (dec_{f.struct.fname}({R}, version, a, &{lv}) != 0)")
            out.append(f"{ind}\treturn kp__rd_fail(r, {R}->err);")
        else:
            out += self.dec_prim(t, R, lv, flex, nul, ind)
        if R == "r":
            out = [x.replace("return kp__rd_fail(r, r->err);", "return r->err;") for x in out]
        return out

    @staticmethod
    def dec_prim(t, R, lv, flex, nul, ind):
        if t in ("int8", "int16", "int32", "int64"):
            return [f"{ind}{lv} = {INT_TYPES[t][1]}({R});"]
        if t == "uint16":
            return [f"{ind}{lv} = (uint16_t)kp_read_i16({R});"]
        if t == "uint32":
            return [f"{ind}{lv} = kp_read_u32({R});"]
        if t == "float64":
            return [f"{ind}{lv} = kp__read_f64({R});"]
        if t == "bool":
            return [f"{ind}{lv} = kp_read_i8({R}) != 0;"]
        if t == "uuid":
            return [f"{ind}kp__read_uuid({R}, &{lv});"]
        if t == "string":
            return [f"{ind}{lv} = kp__read_string({R}, {flex}, {nul});"]
        if t == "records":
            return [f"{ind}{lv} = kp__read_records({R}, {flex}, {nul});"]
        return [f"{ind}{lv} = kp__read_bytes({R}, {flex}, {nul});"]

    def dec_struct(self, s):
        msg, ctx = s.msg, s.ctx
        flex = cond(msg.flexible, ctx)
        fctx = intersect(msg.flexible, ctx) or ctx  # versions with a tagged section
        body = [f"\t{s.cname}_init(out);"]
        tagged = []
        for f in s.fields:
            inline = inline_cond(f, ctx)
            if f.tagged is not None and cond(f.tagged, ctx) != "false":
                tagged.append(f)
            if inline == "false":
                continue
            fx = self.flex_expr(msg, f, ctx)
            if inline == "true":
                body += self.dec_value(msg, f, "r", f"out->{f.name}", fx, ctx, "\t")
            else:
                body.append(f"\tif ({inline}) {{")
                body += self.dec_value(msg, f, "r", f"out->{f.name}", fx, ctx, "\t\t")
                body.append("\t}")
        if flex != "false":
            ind = "\t" if flex == "true" else "\t\t"
            if flex != "true":
                body.append(f"\tif ({flex}) {{")
            if not tagged:
                body.append(f"{ind}kp__skip_tags(r);")
            else:
                body.append(f"{ind}uint32_t ntags = kp_read_uvarint(r);")
                body.append(f"{ind}for (uint32_t ti = 0; ti < ntags && r->err == 0; ti++) {{")
                body.append(f"{ind}\tkp_reader sub;")
                body.append(f"{ind}\tuint32_t tag = kp__read_tag(r, &sub);")
                body.append(f"{ind}\tif (r->err != 0)")
                body.append(f"{ind}\t\tbreak;")
                body.append(f"{ind}\tswitch (tag) {{")
                for f in sorted(tagged, key=lambda x: x.tag):
                    tc = cond(f.tagged, fctx)  # inside the flexible-only section
                    body.append(f"{ind}\tcase {f.tag}:")
                    i2 = ind + "\t\t"
                    if tc != "true":
                        body.append(f"{i2}if (!({tc}))")
                        body.append(f"{i2}\tbreak;  /* not this version's tag: unknown */")
                    body += self.dec_value(msg, f, "(&sub)", f"out->{f.name}", "true", ctx, i2)
                    body.append(f"{i2}if (kp__tag_done(r, &sub) != 0)")
                    body.append(f"{i2}\treturn r->err;")
                    body.append(f"{i2}break;")
                body.append(f"{ind}\tdefault:")
                body.append(f"{ind}\t\tbreak;  /* unknown tags are skipped, as Kafka does */")
                body.append(f"{ind}\t}}")
                body.append(f"{ind}}}")
            if flex != "true":
                body.append("\t}")
        body.append("\treturn r->err;")
        head = [f"static int dec_{s.fname}(kp_reader *r, int16_t version, kp_arena *a, {s.cname} *out)", "{"]
        return head + self.unused(body, ["version", "a"]) + ["}", ""]

    @staticmethod
    def unused(body, names):
        text = "\n".join(body)
        pre = []
        for n in names:
            if not re.search(rf"\b{n}\b", text):
                pre.append(f"\t(void){n};")
        return pre + body

    # ------------------------------------------------------------- encode

    def enc_value(self, msg, f, lv, flex, ctx, ind):
        t = f.base
        nul = cond(f.nullable, ctx)
        out = []
        if f.is_array:
            out.append(f"{ind}kp__put_count(b, {flex}, {nul}, {lv}.count, {lv}.items);")
            out.append(f"{ind}for (int32_t i = 0; {lv}.items != NULL && i < {lv}.count; i++)")
            el = f"{lv}.items[i]"
            if f.is_struct:
                out.append(f"{ind}\tenc_{f.struct.fname}(b, version, &{el});")
            else:
                out += self.enc_prim(t, el, flex, "false", ind + "\t")
        elif f.is_struct:
            out.append(f"{ind}enc_{f.struct.fname}(b, version, &{lv});")
        else:
            out += self.enc_prim(t, lv, flex, nul, ind)
        return out

    @staticmethod
    def enc_prim(t, lv, flex, nul, ind):
        if t in ("int8", "int16", "int32", "int64"):
            return [f"{ind}{INT_TYPES[t][2]}(b, {lv});"]
        if t == "uint16":
            return [f"{ind}kp_buf_put_i16(b, (int16_t){lv});"]
        if t == "uint32":
            return [f"{ind}kp_buf_put_i32(b, (int32_t){lv});"]
        if t == "float64":
            return [f"{ind}kp__put_f64(b, {lv});"]
        if t == "bool":
            return [f"{ind}kp_buf_put_i8(b, {lv} ? 1 : 0);"]
        if t == "uuid":
            return [f"{ind}kp__put_uuid(b, &{lv});"]
        if t == "string":
            return [f"{ind}kp__put_string(b, {flex}, {nul}, {lv});"]
        if t == "records":
            return [f"{ind}kp__put_records(b, {flex}, {nul}, {lv});"]
        return [f"{ind}kp__put_bytes(b, {flex}, {nul}, {lv});"]

    def enc_struct(self, s):
        msg, ctx = s.msg, s.ctx
        flex = cond(msg.flexible, ctx)
        fctx = intersect(msg.flexible, ctx) or ctx  # versions with a tagged section
        body = []
        tagged = []
        for f in s.fields:
            lv = f"in->{f.name}"
            present = cond(f.versions, ctx)
            inline = inline_cond(f, ctx)
            if f.tagged is not None and cond(f.tagged, ctx) != "false":
                tagged.append(f)
            if not f.ignorable and present != "true":
                # Kafka refuses to drop a non-ignorable value silently.
                chk = c_and(c_not(present), self.nondefault(f, lv))
                body.append(f"\tif ({chk})")
                body.append("\t\tkp__buf_fail(b, KP_ERR_FIELD);")
            if inline == "false":
                continue
            fx = self.flex_expr(msg, f, ctx)
            if inline == "true":
                body += self.enc_value(msg, f, lv, fx, ctx, "\t")
            else:
                body.append(f"\tif ({inline}) {{")
                body += self.enc_value(msg, f, lv, fx, ctx, "\t\t")
                body.append("\t}")
        if flex != "false":
            ind = "\t" if flex == "true" else "\t\t"
            if flex != "true":
                body.append(f"\tif ({flex}) {{")
            if not tagged:
                body.append(f"{ind}kp_buf_put_uvarint(b, 0);  /* no tagged fields */")
            else:
                tagged.sort(key=lambda x: x.tag)
                for f in tagged:
                    c = c_and(cond(f.tagged, fctx), self.nondefault(f, f"in->{f.name}"))
                    body.append(f"{ind}const bool tg{f.tag} = {c};")
                cnt = " + ".join(f"(uint32_t)tg{f.tag}" for f in tagged)
                body.append(f"{ind}kp_buf_put_uvarint(b, {cnt});")
                for f in tagged:
                    body.append(f"{ind}if (tg{f.tag}) {{")
                    body.append(f"{ind}\tsize_t at = kp__tag_begin(b, {f.tag});")
                    body += self.enc_value(msg, f, f"in->{f.name}", "true", ctx, ind + "\t")
                    body.append(f"{ind}\tkp__tag_end(b, at);")
                    body.append(f"{ind}}}")
            if flex != "true":
                body.append("\t}")
        head = [f"static void enc_{s.fname}(kp_buf *b, int16_t version, const {s.cname} *in)", "{"]
        return head + self.unused(body, ["version", "in"]) + ["}", ""]

    # --------------------------------------------------- min size / isdef

    def min_struct(self, s):
        msg, ctx = s.msg, s.ctx
        flex = cond(msg.flexible, ctx)
        body = ["\tsize_t n = 0;", ""]
        for f in s.fields:
            inline = inline_cond(f, ctx)
            if inline == "false":
                continue
            fx = self.flex_expr(msg, f, ctx)
            if f.is_array:
                sz = self.pick(fx, 1, 4)
            elif f.is_struct:
                self.use(self.min_used, f.struct)
                sz = f"min_{f.struct.fname}(version)"
            else:
                sz = self.min_prim(f.base, fx)
            if inline == "true":
                body.append(f"\tn += {sz};  /* {f.name} */")
            else:
                body.append(f"\tif ({inline})")
                body.append(f"\t\tn += {sz};  /* {f.name} */")
        if flex == "true":
            body.append("\tn += 1;  /* tagged-field count */")
        elif flex != "false":
            body.append(f"\tif ({flex})")
            body.append("\t\tn += 1;  /* tagged-field count */")
        body.append("\treturn n;")
        body = [l for l in body if l != ""]
        head = [f"static size_t min_{s.fname}(int16_t version)", "{"]
        return head + self.unused(body, ["version"]) + ["}", ""]

    def isdef_struct(self, s):
        body = []
        for f in s.fields:
            body.append(f"\tif ({self.nondefault(f, 'in->' + f.name)})")
            body.append("\t\treturn false;")
        body.append("\treturn true;")
        head = [f"static bool isdef_{s.fname}(const {s.cname} *in)", "{"]
        return head + self.unused(body, ["in"]) + ["}", ""]

    def init_struct(self, s):
        body = ["\tmemset(m, 0, sizeof *m);"]
        for f in s.fields:
            body += ["\t" + x for x in self.init_stmt(f, "m->" + f.name)]
        return [f"void {s.cname}_init({s.cname} *m)", "{"] + body + ["}", ""]

    # ------------------------------------------------------------- source

    def source(self):
        defs = []
        for m in self.messages:
            defs.append(f"/* ---------------------------------------------------- {m.name} */\n")
            for s in m.structs:
                defs += self.init_struct(s)
                defs += self.dec_struct(s)
                defs += self.enc_struct(s)
            lo, hi = m.valid
            n = m.top.cname
            defs += [
                f"int {n}_decode(kp_reader *r, int16_t version, kp_arena *a, {n} *out)",
                "{",
                f"\tif (version < {lo} || version > {hi})",
                "\t\treturn KP_ERR_VERSION;",
                "\tif (r->err != 0)",
                "\t\treturn r->err;",
                f"\treturn dec_{m.top.fname}(r, version, a, out);",
                "}",
                "",
                f"int {n}_encode(kp_buf *b, int16_t version, const {n} *in)",
                "{",
                "\tsize_t start = b->len, start_ext = b->n_ext;",
                "",
                f"\tif (version < {lo} || version > {hi})",
                "\t\tkp__buf_fail(b, KP_ERR_VERSION);",
                "\tif (b->err != 0)",
                "\t\treturn b->err;",
                f"\tenc_{m.top.fname}(b, version, in);",
                "\tif (b->err != 0)",
                "\t\tkp_buf_truncate(b, start, start_ext);",
                "\treturn b->err;",
                "}",
                "",
            ]
        # Helpers used above, now that their use is known.
        helpers = []
        protos = []
        for m in self.messages:
            for s in m.structs:
                protos.append(f"static int dec_{s.fname}(kp_reader *r, int16_t version, kp_arena *a, {s.cname} *out);")
                protos.append(f"static void enc_{s.fname}(kp_buf *b, int16_t version, const {s.cname} *in);")
        # min_ and isdef_ bodies can themselves use others: iterate to a fixpoint.
        done_min, done_isdef = [], []
        while True:
            todo_min = [s for s in self.min_used if s not in done_min]
            todo_isdef = [s for s in self.isdef_used if s not in done_isdef]
            if not todo_min and not todo_isdef:
                break
            for s in todo_min:
                helpers += self.min_struct(s)
                done_min.append(s)
            for s in todo_isdef:
                helpers += self.isdef_struct(s)
                done_isdef.append(s)
        for s in done_min:
            protos.append(f"static size_t min_{s.fname}(int16_t version);")
        for s in done_isdef:
            protos.append(f"static bool isdef_{s.fname}(const {s.cname} *in);")
        protos.sort()
        out = [SOURCE_PREAMBLE] + protos + [""] + helpers + defs + self.api_table()
        return "\n".join(out) + "\n"

    def api_table(self):
        reqs = sorted((m for m in self.messages if m.kind == "request"), key=lambda m: m.api_key)
        out = ["/* -------------------------------------------------------- API table */", "",
               "const kp_api_info kp_api_table[] = {"]
        for m in reqs:
            api = m.name[: -len("Request")]
            lo, hi = m.valid
            if m.unstable_latest:
                hi -= 1  # the newest version is not released yet
            ff = -1 if m.flexible is None else m.flexible[0]
            out.append(f"\t{{ {m.api_key}, \"{api}\", {lo}, {hi}, {ff} }},")
        out += ["};", "",
                "const size_t kp_api_table_len = sizeof kp_api_table / sizeof kp_api_table[0];", ""]
        out.append(API_FUNCS)
        return out

    # --------------------------------------------------------- test support

    def test_fill(self, s):
        msg, ctx = s.msg, s.ctx
        body = []
        for f in s.fields:
            present = cond(f.versions, ctx)
            if present == "false":
                continue
            lv = f"m->{f.name}"
            nul = cond(f.nullable, ctx)
            stmts = []
            if f.is_array:
                stmts.append(f"if (({nul}) && tst_rand(seed) % 4 == 0) {{")
                stmts.append(f"\t{lv}.count = -1;")
                stmts.append(f"\t{lv}.items = NULL;")
                stmts.append("} else {")
                stmts.append(f"\t{lv}.count = (int32_t)(tst_rand(seed) % 3);")
                stmts.append(f"\t{lv}.items = kp_arena_alloc(a, 3 * sizeof *{lv}.items);")
                stmts.append(f"\tfor (int32_t i = 0; {lv}.items != NULL && i < {lv}.count; i++) {{")
                el = f"{lv}.items[i]"
                if f.is_struct:
                    stmts.append(f"\t\t{f.struct.cname}_init(&{el});")
                    stmts.append(f"\t\tfill_{f.struct.fname}(&{el}, version, a, seed);")
                else:
                    stmts += ["\t\t" + x for x in self.fill_prim(f.base, el, "false")]
                stmts.append("\t}")
                stmts.append("}")
            elif f.is_struct:
                stmts.append(f"fill_{f.struct.fname}(&{lv}, version, a, seed);")
            else:
                stmts += self.fill_prim(f.base, lv, nul)
            gate = present
            if f.tagged is not None:
                # Tagged fields also keep their default now and then, so
                # both the "absent" and "present" paths are exercised.
                gate = c_and(present, "tst_rand(seed) % 3 != 0")
            if gate == "true":
                body += ["\t" + x for x in stmts]
            else:
                body.append(f"\tif ({gate}) {{")
                body += ["\t\t" + x for x in stmts]
                body.append("\t}")
        head = [f"static void fill_{s.fname}({s.cname} *m, int16_t version, kp_arena *a, uint32_t *seed)", "{"]
        return head + self.unused(body, ["version", "a", "seed", "m"]) + ["}", ""]

    @staticmethod
    def fill_prim(t, lv, nul):
        if t in INT_TYPES:
            if t == "int64":
                return [f"{lv} = (int64_t)((uint64_t)tst_rand(seed) << 32 | tst_rand(seed));"]
            return [f"{lv} = ({CTYPE[t]})tst_rand(seed);"]
        if t == "float64":
            return [f"{lv} = (double)(int32_t)tst_rand(seed) / 8.0;"]
        if t == "bool":
            return [f"{lv} = (tst_rand(seed) & 1) != 0;"]
        if t == "uuid":
            return [f"tst_uuid(&{lv}, seed);"]
        if t == "string":
            return [f"{lv} = tst_str(seed, {nul});"]
        if t == "records":
            return [f"{lv} = tst_records(seed, {nul});"]
        return [f"{lv} = tst_bytes(seed, {nul});"]

    def test_cmp(self, s):
        body = []
        for f in s.fields:
            x, y = f"x->{f.name}", f"y->{f.name}"
            name = c_string_literal(f"{s.label}.{f.name}")
            if f.is_array:
                body.append(f"\tif ({x}.count != {y}.count)")
                body.append(f"\t\treturn {name};")
                body.append(f"\tfor (int32_t i = 0; i < {x}.count; i++) {{")
                if f.is_struct:
                    body.append(f"\t\tconst char *d = cmp_{f.struct.fname}(&{x}.items[i], &{y}.items[i]);")
                    body.append("\t\tif (d != NULL)")
                    body.append("\t\t\treturn d;")
                else:
                    body.append(f"\t\tif ({self.cmp_prim(f.base, x + '.items[i]', y + '.items[i]')})")
                    body.append(f"\t\t\treturn {name};")
                body.append("\t}")
            elif f.is_struct:
                body.append("\t{")
                body.append(f"\t\tconst char *d = cmp_{f.struct.fname}(&{x}, &{y});")
                body.append("\t\tif (d != NULL)")
                body.append("\t\t\treturn d;")
                body.append("\t}")
            else:
                body.append(f"\tif ({self.cmp_prim(f.base, x, y)})")
                body.append(f"\t\treturn {name};")
        body.append("\treturn NULL;")
        head = [f"static const char *cmp_{s.fname}(const {s.cname} *x, const {s.cname} *y)", "{"]
        return head + self.unused(body, ["x", "y"]) + ["}", ""]

    @staticmethod
    def cmp_prim(t, x, y):
        if t == "uuid":
            return f"memcmp(&{x}, &{y}, sizeof {x}) != 0"
        if t in ("string", "bytes", "records"):
            return f"!tst_view_eq({x}.p, {x}.len, {y}.p, {y}.len)"
        return f"{x} != {y}"

    def test_source(self):
        out = [TEST_PREAMBLE]
        for m in self.messages:
            for s in m.structs:
                out.append(f"static void fill_{s.fname}({s.cname} *m, int16_t version, kp_arena *a, uint32_t *seed);")
                out.append(f"static const char *cmp_{s.fname}(const {s.cname} *x, const {s.cname} *y);")
        out.append("")
        for m in self.messages:
            for s in m.structs:
                out += self.test_fill(s)
                out += self.test_cmp(s)
            n, f = m.top.cname, m.top.fname
            out += [
                f"static void tfill_{f}(void *m, int16_t version, kp_arena *a, uint32_t *seed)",
                "{",
                f"\t{n}_init(m);",
                "\tif (seed != NULL)",
                f"\t\tfill_{f}(m, version, a, seed);",
                "}",
                "",
                f"static int tdec_{f}(kp_reader *r, int16_t version, kp_arena *a, void *out)",
                "{",
                f"\treturn {n}_decode(r, version, a, out);",
                "}",
                "",
                f"static int tenc_{f}(kp_buf *b, int16_t version, const void *in)",
                "{",
                f"\treturn {n}_encode(b, version, in);",
                "}",
                "",
                f"static int tcount_{f}(int16_t version)",
                "{",
                "\tint n = 0;",
                "",
                "\t(void)version;",
            ] + [
                f"\tn += {cond(fl.versions, m.valid)};"
                if cond(fl.versions, m.valid) in ("true", "false") else
                f"\tn += ({cond(fl.versions, m.valid)});"
                for fl in m.top.fields
            ] + [
                "\treturn n;",
                "}",
                "",
                f"static const char *tcmp_{f}(const void *x, const void *y)",
                "{",
                f"\treturn cmp_{f}(x, y);",
                "}",
                "",
            ]
        out.append("const kp_msgs_test_msg kp_msgs_test_table[] = {")
        for m in self.messages:
            f = m.top.fname
            key = -1 if m.api_key is None else m.api_key
            out.append(f"\t{{ \"{m.name}\", {key}, {m.valid[0]}, {m.valid[1]}, sizeof({m.top.cname}),")
            out.append(f"\t  tfill_{f}, tdec_{f}, tenc_{f}, tcmp_{f}, tcount_{f} }},")
        out += ["};", "",
                "const size_t kp_msgs_test_table_len = sizeof kp_msgs_test_table / sizeof kp_msgs_test_table[0];",
                ""]
        return "\n".join(out) + "\n"


HEADER_PREAMBLE = """\
/*
 * kp_msgs.h -- Kafka request and response codecs, generated by
 * proto/schema/gen.py from proto/schema/kafka.schema. Do not edit.
 *
 * One C struct per message (kp_<Name>) and per nested struct
 * (kp_<Name>_<Struct>), with the protocol's field names. Each field's
 * comment gives the versions that carry it, its tag if it is a tagged field,
 * its default, and "ignorable" when an encoder may drop it silently in a
 * version without it (other fields must then hold their default). Values:
 *   - integers and bools as C scalars, float64 as double, uuid as 16 bytes;
 *   - string, bytes and records as views {p, len}, len -1 meaning null. A
 *     decoded view points into the frame the reader reads: the frame must
 *     outlive the message;
 *   - arrays as {count, items}, count -1 meaning null; decoded items live in
 *     the kp_arena given to decode and die with it.
 *
 * For every message:
 *   void kp_<Name>_init(kp_<Name> *m);
 *       Sets every field to its protocol default (strings "", nullable
 *       fields with default null to null, arrays empty). Build a message
 *       to encode by init, then set what the version needs.
 *   int kp_<Name>_decode(kp_reader *r, int16_t version, kp_arena *a,
 *                        kp_<Name> *out);
 *       Reads one message of that version from r (IN/OUT: advanced past it;
 *       bytes after it are the caller's business), allocating arrays from a
 *       (borrowed). 0, or KP_ERR_VERSION for a version outside the
 *       message's valid range, or the reader's error (KP_ERR_SHORT,
 *       KP_ERR_CORRUPT: a null where none is allowed, a bad length, a count
 *       the remaining bytes cannot hold), or the arena's (KP_ERR_NOMEM,
 *       KP_ERR_TOO_LARGE). On failure *out is unspecified and r->err is set.
 *       Array counts are checked against the bytes left before anything is
 *       allocated, so a frame cannot make decode allocate much more than its
 *       own size.
 *   int kp_<Name>_encode(kp_buf *b, int16_t version, const kp_<Name> *in);
 *       Appends the message in that version's encoding. 0, or KP_ERR_VERSION,
 *       KP_ERR_FIELD (a null in a field not nullable in this version, a
 *       string over 32767 bytes, items NULL with count > 0, or a
 *       non-ignorable field holding a non-default value the version cannot
 *       carry), or b's allocation error. On failure b->len is unchanged and
 *       b->err holds the error (kp_buf's sticky rule).
 *
 * Headers: kp_RequestHeader and kp_ResponseHeader take the header version
 * (kp_request_header_version() / kp_response_header_version()).
 *
 * Threads: everything here is pure and may be called from any thread.
 */
#ifndef REWIND_PROTO_KP_MSGS_H
#define REWIND_PROTO_KP_MSGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"

/* A string: UTF-8 bytes, not NUL-terminated; len -1 is null. */
typedef struct kp_str {
	const uint8_t *p;
	int32_t len;
} kp_str;

/* Bytes: len -1 is null. */
typedef struct kp_bytes {
	const uint8_t *p;
	int32_t len;
} kp_bytes;

/*
 * A records field (RecordBatches): len -1 is null. Decoded, it is a view
 * (external false). To encode bytes that live in a file, set external, p
 * NULL and len to the region's size: the encoder writes the length prefix
 * and records an external region of len bytes in the kp_buf
 * (kp_buf_put_external) instead of copying; whoever sends the buffer
 * supplies the bytes (a zero-copy fetch response).
 */
typedef struct kp_records {
	const uint8_t *p;
	int32_t len;
	bool external;
} kp_records;

typedef struct kp_uuid {
	uint8_t b[16];
} kp_uuid;

#define KP_STR_NULL ((kp_str){ NULL, -1 })
#define KP_BYTES_NULL ((kp_bytes){ NULL, -1 })
#define KP_RECORDS_NULL ((kp_records){ NULL, -1, false })
/* A kp_str viewing a string literal (borrowed: literals live forever). */
#define KP_STR_LIT(s) ((kp_str){ (const uint8_t *)(s), (int32_t)(sizeof(s) - 1) })

/* A kp_str viewing a NUL-terminated C string (borrowed), or null for NULL. */
static inline kp_str kp_str_from(const char *s)
{
	kp_str v = { (const uint8_t *)s, s ? (int32_t)strlen(s) : -1 };
	return v;
}

/* One API in kp_api_table, by the versions the codecs below implement. */
typedef struct kp_api_info {
	int16_t api_key;
	const char *name;                   /* protocol name, e.g. "Produce" */
	int16_t min_version;
	int16_t max_version;
	int16_t first_flexible_version;     /* -1 when no version is flexible */
} kp_api_info;

/* Every request API with a codec here, ordered by api_key. */
extern const kp_api_info kp_api_table[];
extern const size_t kp_api_table_len;

/* The table entry for api_key, or NULL. */
const kp_api_info *kp_api_find(int16_t api_key);

/*
 * The request header version a request of (api_key, api_version) uses:
 * 2 for flexible versions, 1 otherwise, 0 for ControlledShutdown v0. A
 * version above the newest known counts as flexible when the API has
 * flexible versions, as Kafka reads it; an unknown api_key gives 1.
 */
int kp_request_header_version(int16_t api_key, int16_t api_version);
/* The response header version: 1 for flexible versions, 0 otherwise, and
 * always 0 for ApiVersions (clients read it before knowing our versions). */
int kp_response_header_version(int16_t api_key, int16_t api_version);
"""

SOURCE_PREAMBLE = """\
/*
 * kp_msgs.c -- generated by proto/schema/gen.py from proto/schema/kafka.schema.
 * Do not edit. The rules for each primitive type are in primitives.c; this
 * file applies them field by field, version by version (see kp_msgs.h).
 */
#include <string.h>

#include "proto/kp_int.h"
#include "proto/schema/kp_msgs.h"
#include "proto/schema/kp_msgs_int.h"
"""

API_FUNCS = """\
const kp_api_info *kp_api_find(int16_t api_key)
{
	for (size_t i = 0; i < kp_api_table_len; i++)
		if (kp_api_table[i].api_key == api_key)
			return &kp_api_table[i];
	return NULL;
}

int kp_request_header_version(int16_t api_key, int16_t api_version)
{
	const kp_api_info *api = kp_api_find(api_key);

	/* ControlledShutdown (7) v0 predates client ids; rewind has no codec
	 * for it but must still frame it to refuse it. */
	if (api_key == 7 && api_version == 0)
		return 0;
	if (api != NULL && api->first_flexible_version >= 0 &&
	    api_version >= api->first_flexible_version)
		return 2;
	return 1;
}

int kp_response_header_version(int16_t api_key, int16_t api_version)
{
	const kp_api_info *api = kp_api_find(api_key);

	if (api_key == KP_API_API_VERSIONS)
		return 0;
	if (api != NULL && api->first_flexible_version >= 0 &&
	    api_version >= api->first_flexible_version)
		return 1;
	return 0;
}"""

TEST_HEADER = """\
/*
 * kp_msgs_test.h -- test support generated by proto/schema/gen.py --test.
 * Do not edit. One entry per message, with type-erased codecs, a filler that
 * sets every field the version carries to pseudo-random values (arrays of
 * 0-2 elements allocated from the arena, views into static bytes, nullable
 * fields sometimes null, tagged fields sometimes left at their default) and
 * a deep comparison that names the first differing field.
 */
#ifndef REWIND_TESTS_KP_MSGS_TEST_H
#define REWIND_TESTS_KP_MSGS_TEST_H

#include "proto/schema/kp_msgs.h"

typedef struct kp_msgs_test_msg {
	const char *name;
	int16_t api_key;                    /* -1 for headers */
	int16_t min_version;
	int16_t max_version;
	size_t size;                        /* sizeof the message struct */
	/* Inits *m, then fills it (IN/OUT seed); seed NULL: defaults only. */
	void (*fill)(void *m, int16_t version, kp_arena *a, uint32_t *seed);
	int (*decode)(kp_reader *r, int16_t version, kp_arena *a, void *out);
	int (*encode)(kp_buf *b, int16_t version, const void *in);
	/* NULL when equal, else "Struct.Field" of the first difference. */
	const char *(*compare)(const void *x, const void *y);
	/* How many top-level fields the version carries. */
	int (*field_count)(int16_t version);
} kp_msgs_test_msg;

extern const kp_msgs_test_msg kp_msgs_test_table[];
extern const size_t kp_msgs_test_table_len;

#endif
"""

TEST_PREAMBLE = """\
/*
 * kp_msgs_test.c -- generated by proto/schema/gen.py --test. Do not edit.
 */
#include <string.h>

#include "kp_msgs_test.h"

/* xorshift32: deterministic, so a failing seed can be replayed. */
static uint32_t tst_rand(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

static const char tst_pool[] = "abcdefghijklmnopqrstuvwxyz0123456789-._~ABCDEFGHIJKLMNOPQRSTUVWXYZ";

static kp_str tst_str(uint32_t *seed, bool nullable)
{
	kp_str s;
	uint32_t len = tst_rand(seed) % 12, at;

	if (nullable && tst_rand(seed) % 4 == 0)
		return KP_STR_NULL;
	at = tst_rand(seed) % (uint32_t)(sizeof tst_pool - len);
	s.p = (const uint8_t *)tst_pool + at;
	s.len = (int32_t)len;
	return s;
}

static kp_bytes tst_bytes(uint32_t *seed, bool nullable)
{
	kp_str s = tst_str(seed, nullable);
	kp_bytes b = { s.p, s.len };
	return b;
}

static kp_records tst_records(uint32_t *seed, bool nullable)
{
	kp_str s = tst_str(seed, nullable);
	kp_records b = { s.p, s.len, false };
	return b;
}

static void tst_uuid(kp_uuid *u, uint32_t *seed)
{
	for (size_t i = 0; i < sizeof u->b; i++)
		u->b[i] = (uint8_t)tst_rand(seed);
}

static bool tst_view_eq(const uint8_t *p, int32_t n, const uint8_t *q, int32_t m)
{
	return n == m && (n <= 0 || memcmp(p, q, (size_t)n) == 0);
}
"""


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--test", action="store_true", help="write the test support instead")
    ap.add_argument("schema")
    ap.add_argument("outdir")
    args = ap.parse_args()
    gen = Gen(parse_schema(args.schema))
    if args.test:
        write_if_changed(os.path.join(args.outdir, "kp_msgs_test.h"), TEST_HEADER)
        write_if_changed(os.path.join(args.outdir, "kp_msgs_test.c"), gen.test_source())
    else:
        write_if_changed(os.path.join(args.outdir, "kp_msgs.h"), gen.header())
        write_if_changed(os.path.join(args.outdir, "kp_msgs.c"), gen.source())


if __name__ == "__main__":
    main()
