#!/usr/bin/python3
"""The Python peer of `garbage train` for speed comparisons (not used by garbage itself).

Same model, TrashNet split, batch and augmentation recipe as the garbage config it is compared
with, in PyTorch with a DataLoader of 2 workers: the seed's SimpleCNN (its best config, 128 px,
Adam), or torchvision's ResNet18 (from scratch, SGD) / MobileNetV3-Small (Adam) with random
resized crops. Prints img/s; the last lines are `COLD_IMG_PER_S <value>` (the first --warmup
batches, DataLoader start-up included) and `IMG_PER_S <value>` (the --batches after them) for
scripts.
Usage: scripts/peer/simple_cnn_peer.py DATA_ROOT [--model simple_cnn|resnet18|mobilenet_v3_small]
       [--img PX] [--batch N] [--batches N] [--warmup N] [--threads T] [--channels-last]
"""
import argparse
import os
import time

import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as T
from PIL import Image

CLASSES = ["glass", "paper", "cardboard", "plastic", "metal", "trash"]


class TrashNet(torch.utils.data.Dataset):
    def __init__(self, root, split, transform):
        self.root, self.transform = root, transform
        with open(os.path.join(root, f"one-indexed-files-notrash_{split}.txt")) as f:
            rows = [line.split() for line in f if line.strip()]
        self.items = [(name, int(label) - 1) for name, label in rows]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        name, label = self.items[i]
        path = os.path.join(self.root, "dataset-resized", CLASSES[label], name)
        return self.transform(Image.open(path).convert("RGB")), label


def simple_cnn(features=64, layers=5, k=5, dense=128, dropout=0.2, img=128, classes=6):
    blocks, c = [], 3
    for _ in range(layers):
        blocks += [nn.Conv2d(c, features, k, padding=k // 2), nn.Mish(), nn.BatchNorm2d(features),
                   nn.MaxPool2d(2), nn.Dropout(dropout)]
        c, img = features, img // 2
    return nn.Sequential(*blocks, nn.Flatten(), nn.Linear(c * img * img, dense), nn.ReLU(),
                         nn.Linear(dense, classes))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--batches", type=int, default=0,
                    help="time N batches after the warm-up (0: one epoch)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed batches first (worker start-up, first allocations)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--model", default="simple_cnn",
                    choices=["simple_cnn", "resnet18", "mobilenet_v3_small"])
    ap.add_argument("--img", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tf = T.Compose([
        T.Resize((args.img, args.img)),
        T.RandomHorizontalFlip(0.5),
        T.RandomApply([T.RandomRotation(15)], p=0.5),
        T.RandomApply([T.RandomAffine(0, translate=(0.05, 0.05), scale=(0.9, 1.1))], p=0.5),
        T.RandomApply([T.ColorJitter(brightness=0.2, contrast=0.2)], p=0.3),
        T.ToTensor(),
        T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    if args.model != "simple_cnn":  # the torchvision configs' recipe: random resized crops
        tf = T.Compose([
            T.RandomResizedCrop(args.img),
            T.RandomHorizontalFlip(0.5),
            T.ToTensor(),
            T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ])
    loader = torch.utils.data.DataLoader(TrashNet(args.root, "train", tf), batch_size=args.batch,
                                         shuffle=True, num_workers=2, drop_last=False)
    if args.model == "resnet18":
        model = torchvision.models.resnet18(num_classes=6)
    elif args.model == "mobilenet_v3_small":
        model = torchvision.models.mobilenet_v3_small(num_classes=6)
    else:
        model = simple_cnn(img=args.img)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    if args.model == "resnet18":
        opt = torch.optim.SGD(model.parameters(), lr=2e-4, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    measured = args.batches or len(loader)
    warmup = max(args.warmup, 1)

    def batches():  # as many epochs as warm-up plus measurement need
        while True:
            yield from loader

    start, cold, seen = time.time(), None, 0
    for i, (x, y) in enumerate(batches()):
        if i == warmup:  # the warm-up ends: time the next batches
            cold = seen / (time.time() - start)
            seen, start = 0, time.time()
        x = x.contiguous(memory_format=fmt)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        seen += x.shape[0]
        if i + 1 >= warmup + measured:
            break
    elapsed = time.time() - start
    print(f"python peer {args.model}: {seen} images in {elapsed:.1f} s = {seen / elapsed:.2f} img/s "
          f"after {warmup} warm-up batches at {cold:.2f} img/s (batch {args.batch}, {args.img} px, "
          f"{args.threads} threads, channels_last={args.channels_last})")
    print(f"COLD_IMG_PER_S {cold:.3f}")
    print(f"IMG_PER_S {seen / elapsed:.3f}")


if __name__ == "__main__":
    main()
