"""The volume classifier's commands: ``medseg classify-train`` and ``medseg classify``.

As in :mod:`.unet`: ``configure_<name>(parser)`` adds the arguments, ``run_<name>(args)`` runs the
command from the parsed options. Errors are :class:`~medseg.errors.MedSegError`s (exit code 2).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os

from .options import add_input_options
from .unet import _floats, _need_torch, _say, _warn, add_device_option, add_output, check_model, need_output


def configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="folder with normal/ and abnormal/ volumes (NIfTI, NRRD or DICOM "
                   "folders; names sharing a part before '__' are one patient)")
    add_output(p, "model folder to write (model.pt, model.json, metrics, plots, ROC)")
    p.add_argument("--size", default="64,128,128", metavar="D,H,W", help="input size after resizing (default 64,128,128)")
    p.add_argument("--channels", default="64,64,128,256", metavar="C,C,C,C", help="filters per conv block")
    p.add_argument("--dense", type=int, default=512, help="units of the dense layer (default 512)")
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lr-decay", type=float, default=0.96, help="exponential LR factor per epoch (default 0.96)")
    p.add_argument("--no-augment", action="store_true", help="no random axial rotations")
    p.add_argument("--val-fraction", type=float, default=0.25, help="share of patients for validation")
    p.add_argument("--seed", type=int, default=0)
    add_device_option(p)
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA)")
    p.add_argument("--workers", type=int, default=0, help="data-loader worker processes")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint_last.pt")
    p.add_argument("--name", default="classifier", help="model name for the card")
    p.add_argument("--description", default="", help="model description for the card")
    p.add_argument("--synthetic", action="store_true", help="say in the card that the data are generated")


def train_options(args: argparse.Namespace) -> dict:
    """:class:`~medseg.classify.train.ClassifyConfig` fields from ``configure_train``'s namespace."""
    size = [int(v) for v in _floats(args.size, 3, "--size")]
    channels = [int(v) for v in _floats(args.channels, len(args.channels.split(",")), "--channels")]
    return {"size": size, "channels": channels, "dense": args.dense, "dropout": args.dropout, "epochs": args.epochs,
            "batch_size": args.batch_size, "lr": args.lr, "lr_decay": args.lr_decay, "augment": not args.no_augment,
            "val_fraction": args.val_fraction, "seed": args.seed, "device": args.device, "amp": args.amp,
            "workers": args.workers, "name": args.name, "description": args.description, "synthetic": args.synthetic}


def run_train(args: argparse.Namespace) -> int:
    need_output(args)
    _need_torch()
    from ..classify.train import ClassifyConfig, train
    from .progress import progress_bar

    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 speaks
    cfg = ClassifyConfig.from_dict(train_options(args))
    with (progress_bar("training") if main else contextlib.nullcontext(None)) as progress:
        result = train(args.data, args.out, cfg, resume=args.resume, progress=progress)
    if main:
        best = result["best"]
        _say([f"{args.out}: {result['epochs']} epochs in {result['seconds']:.0f} s; best validation AUC "
              f"{best.get('val_auc', float('nan')):.3f}, accuracy {best.get('val_accuracy', float('nan')):.3f} "
              f"(epoch {best.get('epoch')}); ROC curve: {args.out}/roc.png"])
    return 0


def configure_classify(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="DICOM folder or file, or a volume file")
    p.add_argument("--model", required=True, help="a classifier folder (from `medseg classify-train`)")
    add_device_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_input_options(p, force="the classifier runs on any input and warns where it lies outside the range its "
                               "card gives")


def run_classify(args: argparse.Namespace) -> int:
    check_model(args.model)
    _need_torch()
    import warnings

    from ..classify.predict import classify
    from ..pipeline.steps import convert

    loaded = convert(args.input, series=args.series, resample=not args.no_resample, skip_damaged=args.skip_damaged,
                     rescale_slope=args.rescale_slope, rescale_intercept=args.rescale_intercept)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = classify(loaded.image, args.model, loaded.meta, device=args.device)
    notes = list(loaded.meta.get("warnings", [])) + result.warnings
    if args.json:
        print(json.dumps({"input": str(args.input), "model": result.card.get("name"), "probabilities": result.probabilities,
                          "label": result.label, "warnings": notes}, indent=2))
        return 0
    _warn(notes)
    p = result.probabilities
    _say([f"{args.input}: normal {p['normal']:.3f}, abnormal {p['abnormal']:.3f} -> {result.label} "
          f"(model {result.card.get('name')}, {result.seconds:.1f} s)"])
    return 0
