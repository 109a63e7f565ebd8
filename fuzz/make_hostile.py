#!/usr/bin/env python3
"""Writes hostile weight files (each under 100 MB) for measuring `garbage summary --weights F`.

Each one attacks a way the readers could fail: recursion through memo-linked containers, values
copied per reference (shape tuples, _codecs.encode strings, dict keys), overlapping zip entries
or safetensors ranges, quadratic zip lookup, and plain allocation floods.
Usage: make_hostile.py OUT_DIR [SCALE]   (SCALE 1.0 = the full size)
"""
import json
import os
import struct
import sys

out = sys.argv[1]
scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
os.makedirs(out, exist_ok=True)


class P:
    def __init__(self):
        self.b = bytearray(b"\x80\x02")

    def op(self, c):
        self.b += c if isinstance(c, bytes) else c.encode("latin1")
        return self

    def s(self, text):
        data = text.encode() if isinstance(text, str) else text
        return self.op(b"X" + struct.pack("<I", len(data)) + data)

    def i(self, v):
        return self.op(b"J" + struct.pack("<i", v))

    def g(self, module, name):
        return self.op(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def put(self, k):
        return self.op(b"r" + struct.pack("<I", k))

    def get(self, k):
        return self.op(b"j" + struct.pack("<I", k))

    def pid(self, key, numel):
        return self.op("(").s("storage").g("torch", "FloatStorage").s(key).s("cpu").i(numel).op("t")

    def tensor(self, pid_memo, shape_memo, stride_memo):
        self.g("torch._utils", "_rebuild_tensor_v2").op("(").get(pid_memo).op("Q").i(0)
        return self.get(shape_memo).get(stride_memo).op(b"\x89").op(")").op("t").op("R")


def zip_file(entries, aliases=()):
    """Stored zip; `aliases` are (name, target index) directory entries sharing a local header."""
    body, central, offsets = bytearray(), bytearray(), []
    for name, data in entries:
        offsets.append(len(body))
        n = name.encode()
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, 0, len(data), len(data),
                            len(n), 0) + n + data
    rows = [(name.encode(), len(data), offsets[k]) for k, (name, data) in enumerate(entries)]
    rows += [(name.encode(), len(entries[t][1]), offsets[t]) for name, t in aliases]
    for n, size, offset in rows:
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, 0, size, size,
                               len(n), 0, 0, 0, 0, 0, offset) + n
    count = min(len(rows), 0xFFFF)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(body), 0)
    return bytes(body + central + end)


def save(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data) / 1e6:.1f} MB")


def torch_zip(pickle, storages=()):
    return zip_file([("archive/data.pkl", bytes(pickle.b))] + list(storages) +
                    [("archive/version", b"3\n")])


# 1. A million lists linked through the memo after nesting: recursion in walk and teardown.
n = int(1_000_000 * scale)
p = P()
for k in range(n):
    p.op("]").put(k).op("0")
for k in range(n - 1):
    p.get(k).get(k + 1).op("a").op("0")
p.get(0).op(".")
save("memo_chain.pth", torch_zip(p))

# 2. One shape tuple of 2,000 sizes referenced by every tensor: copied per tensor before.
dims, tensors = 2000, int(1_600_000 * scale)
p = P().op("(")
for _ in range(dims):
    p.op(b"K\x01")
p.op("t").put(0).op("0").pid("0", 1).put(1).op("0").op("]").op("(")
for _ in range(tensors):
    p.tensor(1, 0, 0)
p.op("e").op(".")
save("shape_bomb.pth", torch_zip(p, [("archive/data/0", b"\0" * 4)]))

# 3. One 1 MB string decoded by _codecs.encode on every reference.
calls = int(4_000_000 * scale)
p = P().s("x" * 1_000_000).put(0).op("0").s("latin1").put(1).op("0").g("_codecs", "encode").put(2)
p.op("0").op("]").op("(")
for _ in range(calls):
    p.get(2).get(0).get(1).op(b"\x86").op("R")
p.op("e").op(".")
save("codecs_bomb.pth", torch_zip(p))

# 4. A state_dict whose every key is the same 1 MB string.
keys = int(4_000_000 * scale)
p = P().pid("0", 1).put(1).op("0").op("(").op(b"K\x01").op("t").put(0).op("0")
p.g("torch._utils", "_rebuild_tensor_v2").op("(").get(1).op("Q").i(0).get(0).get(0)
p.op(b"\x89").op(")").op("t").op("R").put(3).op("0")
p.s("k" * 1_000_000).put(2).op("0").g("collections", "OrderedDict").op(")").op("R").op("(")
for _ in range(keys):
    p.get(2).get(3)
p.op("u").op(".")
save("key_bomb.pth", torch_zip(p, [("archive/data/0", b"\0" * 4)]))

# 5. 60,000 storages whose directory entries all point at one 1 MB zip entry.
aliases = int(60_000 * scale)
p = P().op(")").put(0).op("0").op("(").op(b"J\x00\x00\x04\x00").op("t").put(1).op("0")
p.g("collections", "OrderedDict").op(")").op("R").op("(")
for k in range(aliases):
    p.s(f"t{k}").g("torch._utils", "_rebuild_tensor_v2").op("(").pid(str(k), 262144).op("Q").i(0)
    p.get(1).op("(").op(b"K\x01").op("t").op(b"\x89").get(0).op("t").op("R")
p.op("u").op(".")
entries = [("archive/data.pkl", bytes(p.b)), ("archive/data/0", b"\0" * 1_048_576)]
save("zip_overlap.pth", zip_file(entries, [(f"archive/data/{k}", 1) for k in range(1, aliases)]))

# 6. 100 MB of empty lists: a flood of small allocations (about 200 bytes per input byte).
save("list_flood.pth", torch_zip(P().op("]" * int(99_000_000 * scale)).op(".")))

# 7. safetensors: 400,000 tensors all viewing the same 4 MB range.
count = int(400_000 * scale)
header = {f"t{k}": {"dtype": "F32", "shape": [1048576], "data_offsets": [0, 4194304]}
          for k in range(count)}
text = json.dumps(header).encode()
save("safetensors_overlap.safetensors", struct.pack("<Q", len(text)) + text + b"\0" * 4194304)
