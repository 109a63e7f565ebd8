#!/usr/bin/python3
"""Test oracle: writes torchvision models and tensors with torch.save, plus reference outputs.

Used by the C++ tests only (never at run time). Usage:
  make_reference_models.py models OUT_DIR SIZE NAME[,NAME...]
      for each torchvision model NAME (randomly initialised, BatchNorm statistics randomised,
      10 classes): NAME.zip.pth and NAME.legacy.pth (torch.save, both formats), and
      NAME.logits.bin (float32 logits in eval mode for input.bin, a 2x3xSIZExSIZE float32 tensor)
  make_reference_models.py tensors OUT_DIR
      tensors.zip.pth / tensors.legacy.pth: views with offsets and strides, shared storages,
      float16/bfloat16/int64, a nested {"model": ..., "epoch": ...} with "module." prefixes;
      tensors.json lists each tensor's shape, dtype and the .bin file with its contiguous bytes
  make_reference_models.py official OUT_DIR SIZE NAME FILE
      logits of torchvision NAME with the official state_dict FILE (1000 classes) for input.bin
"""
import json
import os
import sys

import torch
import torchvision


def write(path, tensor):
    with open(path, "wb") as f:
        f.write(tensor.detach().contiguous().numpy().tobytes())


def make_input(out, size):
    torch.manual_seed(1234)
    x = torch.randn(2, 3, size, size)
    write(os.path.join(out, "input.bin"), x)
    return x


def randomise_batchnorm(model):
    gen = torch.Generator().manual_seed(7)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def models(out, size, names):
    x = make_input(out, size)
    for name in names:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None, num_classes=10)
        with torch.no_grad():
            randomise_batchnorm(model)
        model.eval()
        with torch.no_grad():
            logits = model(x)
        sd = model.state_dict()
        torch.save(sd, os.path.join(out, name + ".zip.pth"))
        torch.save(sd, os.path.join(out, name + ".legacy.pth"), _use_new_zipfile_serialization=False)
        write(os.path.join(out, name + ".logits.bin"), logits)


def tensors(out):
    torch.manual_seed(5)
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    items = {
        "plain": torch.randn(3, 4),
        "offset_view": base[2:, 3:7],  # storage offset and row stride 10
        "transposed": base.t(),  # strides (1, 10), shares base's storage
        "strided": base[:, ::3],
        "half": torch.randn(5, 2).half(),
        "bfloat16": torch.randn(4).bfloat16(),
        "int64": torch.arange(-3, 9, dtype=torch.int64).reshape(3, 4),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }
    nested = {"epoch": 3, "model": {"module." + k: v for k, v in items.items()}, "best": 0.9}
    torch.save(nested, os.path.join(out, "tensors.zip.pth"))
    torch.save(nested, os.path.join(out, "tensors.legacy.pth"), _use_new_zipfile_serialization=False)
    manifest = {}
    for k, v in items.items():
        c = v.contiguous()
        raw = c.view(torch.int16) if c.dtype in (torch.float16, torch.bfloat16) else c
        write(os.path.join(out, k + ".bin"), raw)
        manifest[k] = {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
    with open(os.path.join(out, "tensors.json"), "w") as f:
        json.dump(manifest, f)


def official(out, size, name, path):
    x = make_input(out, size)
    model = getattr(torchvision.models, name)(weights=None)
    model.load_state_dict(torch.load(path, map_location="cpu"))
    model.eval()
    with torch.no_grad():
        write(os.path.join(out, name + ".official.logits.bin"), model(x))


def main():
    torch.set_num_threads(2)
    mode, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if mode == "models":
        models(out, int(sys.argv[3]), sys.argv[4].split(","))
    elif mode == "tensors":
        tensors(out)
    elif mode == "official":
        official(out, int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
