#!/usr/bin/env python3
"""Segment a study with a U-Net model folder or a shipped model: the same code as `medseg predict`.

    python scripts/predict.py INPUT --model lungs -o labels.seg.nrrd [--device auto] [--tta]
                              [--probabilities probs.npy] [--largest-component] [--fill-holes]
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from medseg.errors import MedSegError
    from medseg.cli import unet as commands

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands.configure_predict(parser)
    args = parser.parse_args(argv)
    try:
        return commands.run_predict(args)
    except MedSegError as exc:
        print(f"predict: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
