#!/usr/bin/python3
"""Test oracle: loads weight files garbage exported, with PyTorch, and runs them.

Used by the C++ tests only (never at run time). Usage:
  check_exported_weights.py pth DIR NAME NUM_CLASSES SIZE
      torch.load(DIR/NAME.pth, weights_only=True) must be an OrderedDict state_dict of a valid
      zip (CRCs checked, storages 64-byte aligned) that torchvision NAME (NUM_CLASSES outputs)
      loads with strict=True; writes NAME.logits.bin (float32 eval logits) for DIR/input.bin,
      a 2x3xSIZExSIZE float32 tensor
  check_exported_weights.py safetensors FILE
      loads FILE with the safetensors package and prints each tensor's name, dtype and shape;
      exits with 77 when the package is missing
"""
import collections
import os
import sys
import zipfile


def check_zip(path):
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
        if bad is not None:
            sys.exit("CRC mismatch in " + bad)
        with open(path, "rb") as f:
            raw = f.read()
        for info in z.infolist():
            if "/data/" not in info.filename:
                continue
            # Local header: 30 bytes, then the name and the extra field.
            at = info.header_offset
            name_len = int.from_bytes(raw[at + 26:at + 28], "little")
            extra_len = int.from_bytes(raw[at + 28:at + 30], "little")
            start = at + 30 + name_len + extra_len
            if start % 64:
                sys.exit("%s data starts at %d, not 64-byte aligned" % (info.filename, start))


def pth(out, name, num_classes, size):
    import torch
    import torchvision

    torch.set_num_threads(2)
    path = os.path.join(out, name + ".pth")
    check_zip(path)
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if type(sd) is not collections.OrderedDict:
        sys.exit("loaded a %s, not an OrderedDict" % type(sd).__name__)
    for key, value in sd.items():
        if key.endswith("num_batches_tracked") and value.dtype != torch.int64:
            sys.exit("%s is %s" % (key, value.dtype))
    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    model.load_state_dict(sd, strict=True)
    model.eval()
    with open(os.path.join(out, "input.bin"), "rb") as f:
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(2, 3, size, size)
    with torch.no_grad():
        logits = model(x)
    with open(os.path.join(out, name + ".logits.bin"), "wb") as f:
        f.write(logits.contiguous().numpy().tobytes())
    print("loaded %d tensors" % len(sd))


def safetensors(path):
    try:
        from safetensors.torch import load_file
    except ImportError:
        print("safetensors is not installed")
        sys.exit(77)
    for key, value in load_file(path).items():
        print(key, str(value.dtype).replace("torch.", ""), list(value.shape))


def main():
    mode = sys.argv[1]
    if mode == "pth":
        pth(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "safetensors":
        safetensors(sys.argv[2])
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
