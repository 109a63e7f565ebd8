"""torchvision's TrivialAugmentWide as the oracle for trivial_augment_test.cpp.

usage: trivial_augment_reference.py table
         prints "<op> <signed> <magnitude of bin 0> ... <bin 30>" per op
       trivial_augment_reference.py apply H W OP MAGNITUDE [OP MAGNITUDE ...]
         applies each op to the formula image (pixel = (7x + 13y + 50c + 3xy) mod 256, RGB) and
         prints its H*W*3 values in HWC order, one line per op
"""
import sys

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import TrivialAugmentWide, _apply_op


def formula_image(h, w):
    y = torch.arange(h).view(h, 1, 1)
    x = torch.arange(w).view(1, w, 1)
    c = torch.arange(3).view(1, 1, 3)
    return ((7 * x + 13 * y + 50 * c + 3 * x * y) % 256).to(torch.uint8)  # HWC


def main():
    if sys.argv[1] == "table":
        for name, (mags, signed) in TrivialAugmentWide()._augmentation_space(31).items():
            values = [float(v) for v in mags.flatten()] if mags.ndim > 0 else [0.0]
            print(name, int(signed), " ".join(repr(v) for v in values))
        return
    h, w = int(sys.argv[2]), int(sys.argv[3])
    img = formula_image(h, w).permute(2, 0, 1).contiguous()
    for op, magnitude in zip(sys.argv[4::2], sys.argv[5::2]):
        out = _apply_op(img, op, float(magnitude), interpolation=InterpolationMode.NEAREST,
                        fill=None)
        print(" ".join(str(int(v)) for v in out.permute(1, 2, 0).flatten()))


if __name__ == "__main__":
    main()
