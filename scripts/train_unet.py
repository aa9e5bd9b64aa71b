#!/usr/bin/env python3
"""Train a 2D U-Net on a training folder: the same code as `medseg train`.

Single process:   python scripts/train_unet.py --data DATASET --out MODELDIR [--epochs 50 ...]
Several (DDP):    torchrun --nproc_per_node=N scripts/train_unet.py --data DATASET --out MODELDIR ...
                  (NCCL on GPUs, gloo on CPU; only rank 0 writes.)
Build DATASET first with `medseg dataset STUDIES... -o DATASET [--task lungs]`, or pass
--studies here to build it into --data before training.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    from medseg.errors import MedSegError
    from medseg.cli import unet as commands

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands.configure_train(parser)
    parser.add_argument("--studies", nargs="+", metavar="STUDY", help="build --data from these studies first")
    parser.add_argument("--task", help="task preset for --studies (lungs, table-headrest)")
    args = parser.parse_args(argv)
    try:
        if args.studies:
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                sys.exit("--studies cannot be used under torchrun: build the dataset first")
            for line in commands.dataset(args.studies, args.data, task=args.task, seed=args.seed):
                print(line)
        return commands.run_train(args)
    except MedSegError as exc:
        print(f"train_unet: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
