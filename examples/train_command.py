"""A training program that knows nothing of hpo: it prints JSON lines with its metrics.

Used by examples/sweep_command.yaml:  python train_command.py --lr 0.01 --width 32
"""

from __future__ import annotations

import argparse
import json

import torch
from quickstart import spirals
from torch import nn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = spirals(500, seed=0)
    xv, yv = spirals(500, seed=1)
    model = nn.Sequential(nn.Linear(2, args.width), nn.ReLU(), nn.Linear(args.width, args.width),
                          nn.ReLU(), nn.Linear(args.width, 2))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        for idx in torch.randperm(len(x)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        with torch.no_grad():
            acc = (model(xv).argmax(1) == yv).float().mean().item()
        print(json.dumps({"step": epoch, "accuracy": acc}), flush=True)


if __name__ == "__main__":
    main()
