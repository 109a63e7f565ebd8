#!/usr/bin/python3
"""Writes the libFuzzer seed corpora into OUT/<harness>/ (run by scripts/fuzz.sh; not committed).

torch.save outputs come from PyTorch itself (zip and legacy formats), safetensors files are
written by hand as the format describes, configs are the shipped ones, images are a few TrashNet
photos plus small PNGs.
Usage: make_seeds.py OUT REPO_ROOT DATA_ROOT
"""
import collections
import glob
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

out, repo, data_root = sys.argv[1], sys.argv[2], sys.argv[3]


def write(harness, name, data):
    os.makedirs(os.path.join(out, harness), exist_ok=True)
    with open(os.path.join(out, harness, name), "wb") as f:
        f.write(data)


def state_dicts():
    torch.manual_seed(0)
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(2, 1, 3, 3)
    sd["conv.bias"] = torch.zeros(2, dtype=torch.float64)
    sd["bn.num_batches_tracked"] = torch.tensor(7)
    sd["half"] = torch.ones(3, dtype=torch.float16)
    sd["flags"] = torch.tensor([True, False])
    sd["view"] = base[1:, ::2]
    sd["transposed"] = base.t()
    sd["empty"] = torch.zeros(0, 5)
    yield "state_dict", sd
    yield "checkpoint", {"model": sd, "epoch": 3, "note": b"\x00\xffbytes", "lr": 0.1}
    yield "parameter", {"w": torch.nn.Parameter(torch.randn(4))}
    yield "module_prefix", collections.OrderedDict(("module." + k, v) for k, v in sd.items())


for name, obj in state_dicts():
    for protocol in (2, 4):
        buf = io.BytesIO()
        torch.save(obj, buf, pickle_protocol=protocol)
        zip_bytes = buf.getvalue()
        write("torch_zip", f"{name}_p{protocol}.pth", zip_bytes)
        write("zip_directory", f"{name}_p{protocol}.zip", zip_bytes)
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
            for entry in z.namelist():
                if entry.endswith("data.pkl"):
                    write("pickle", f"{name}_p{protocol}.pkl", z.read(entry))
        buf = io.BytesIO()
        torch.save(obj, buf, pickle_protocol=protocol, _use_new_zipfile_serialization=False)
        write("torch_legacy", f"{name}_p{protocol}.pth", buf.getvalue())

for protocol in range(2, 6):
    plain = collections.OrderedDict(a=[1, 2.5, None, True], b=(b"xy", "z" * 300), c={"d": 2**70})
    write("pickle", f"plain_p{protocol}.pkl", pickle.dumps(plain, protocol=protocol))

buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
    z.writestr("archive/data.pkl", pickle.dumps({}, protocol=2))
    z.writestr("archive/version", "3\n")
write("zip_directory", "python_zipfile.zip", buf.getvalue())

dtypes = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64", torch.uint8: "U8",
          torch.bool: "BOOL", torch.float64: "F64"}


def safetensors(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        raw = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-(len(text) + 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


write("safetensors", "small.safetensors",
      safetensors({"w": torch.randn(2, 3), "b": torch.zeros(3, dtype=torch.float64),
                   "i": torch.arange(4), "m": torch.tensor([True, False])}, {"format": "pt"}))
write("safetensors", "empty_tensor.safetensors",
      safetensors({"e": torch.zeros(0, 2), "h": torch.ones(5, dtype=torch.float16)}))

for path in sorted(glob.glob(os.path.join(repo, "configs", "*.json"))):
    harness = "sweep_config" if os.path.basename(path).startswith("sweep_") else "train_config"
    with open(path, "rb") as f:
        write(harness, os.path.basename(path), f.read())
write("train_config", "minimal.json", b'{"model": {"name": "resnet18"}, "train": {"epochs": 1}}')

images = sorted(glob.glob(os.path.join(data_root, "dataset-resized", "*", "*.jpg")))[:4]
for path in images:
    with open(path, "rb") as f:
        data = f.read()
    write("image", os.path.basename(path), data)
    write("image", "cut_" + os.path.basename(path), data[: len(data) // 3])
try:
    from PIL import Image
    for mode in ("RGB", "L", "RGBA"):
        buf = io.BytesIO()
        Image.new(mode, (9, 7), 120).save(buf, "PNG")
        write("image", f"small_{mode}.png", buf.getvalue())
        buf = io.BytesIO()
        Image.new("RGB", (16, 8), (10, 200, 30)).save(buf, "JPEG", quality=80,
                                                       progressive=mode == "L")
        write("image", f"small_{mode}.jpg", buf.getvalue())
except ImportError:
    pass
print("seeds:", {h: len(os.listdir(os.path.join(out, h))) for h in sorted(os.listdir(out))})
