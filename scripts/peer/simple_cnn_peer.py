#!/usr/bin/python3
"""The Python peer of `garbage train` for speed comparisons (not used by garbage itself).

Same SimpleCNN (best seed config), same TrashNet split, batch and augmentation recipe, in
PyTorch with a DataLoader of 2 workers, as the seed project trains it. Prints img/s per epoch.
Usage: scripts/peer/simple_cnn_peer.py DATA_ROOT [--batches N] [--threads T] [--channels-last]
"""
import argparse
import os
import time

import torch
import torch.nn as nn
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
    ap.add_argument("--batches", type=int, default=0, help="stop after N batches (0: one epoch)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tf = T.Compose([
        T.Resize((128, 128)),
        T.RandomHorizontalFlip(0.5),
        T.RandomApply([T.RandomRotation(15)], p=0.5),
        T.RandomApply([T.RandomAffine(0, translate=(0.05, 0.05), scale=(0.9, 1.1))], p=0.5),
        T.RandomApply([T.ColorJitter(brightness=0.2, contrast=0.2)], p=0.3),
        T.ToTensor(),
        T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    loader = torch.utils.data.DataLoader(TrashNet(args.root, "train", tf), batch_size=32,
                                         shuffle=True, num_workers=2, drop_last=False)
    model = simple_cnn()
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    seen, start = 0, time.time()
    for i, (x, y) in enumerate(loader):
        if i == 1:  # the first batch includes worker start-up
            seen, start = 0, time.time()
        x = x.contiguous(memory_format=fmt)
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        seen += x.shape[0]
        if args.batches and i >= args.batches:
            break
    elapsed = time.time() - start
    print(f"python peer: {seen} images in {elapsed:.1f} s = {seen / elapsed:.2f} img/s "
          f"(batch 32, 128 px, {args.threads} threads, channels_last={args.channels_last})")


if __name__ == "__main__":
    main()
