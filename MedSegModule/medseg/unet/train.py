"""U-Net training: one loop for a single process and for ``torchrun`` (DDP) alike.

``train(data_dir, out_dir, config)`` reads a training folder (:mod:`.dataset`), trains, and
writes the model folder ``out_dir``:

    model.pt, model.json      the best epoch's weights (by validation Dice) and its card
    checkpoint_last.pt        everything needed to resume (weights, optimiser, scheduler, RNG, history)
    metrics.csv               one row per epoch: losses, Dice, IoU (mean and per class), LR, seconds
    loss.png, dice.png, lr.png
    montage/epoch_NNNN.png    a fixed validation batch: image, truth, prediction (montage.gif with gif=True)

Determinism: the seed fixes initialisation, negative-slice draws, augmentation and dropout;
``resume=True`` restores the RNG state, so 2 epochs equal 1 epoch + resume + 1 epoch.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, ParameterError
from ..progress import CancelEvent, Progress, check_cancel, report
from .augment import AugmentConfig
from .losses import LossConfig, combined_loss, dice_iou, overlap_counts, predicted_labels

CHECKPOINT = "checkpoint_last.pt"


@dataclass
class TrainConfig:
    """Training options; all are recorded in the card's ``training.config``."""

    preset: str = "cpu-small"
    arch: dict = field(default_factory=dict)   # overrides of the preset: depth, base, convs, norm, dropout, ...
    epochs: int = 50
    batch_size: int = 8
    lr: float = 1e-3
    optimizer: str = "adamw"                   # adam | adamw
    weight_decay: float = 1e-4
    schedule: str = "cosine"                   # cosine | step | plateau | none
    step_size: int = 20                        # step schedule: epochs between LR drops
    gamma: float = 0.5                         # step/plateau: LR factor
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    neg_fraction: float = 0.25
    context_mm: float = 0.0                    # > 0: a 2.5D model, the planes this far (mm) above and below as channels
    max_batches: int | None = None             # cap on batches per epoch (quick runs)
    patience: int = 0                          # early stopping: epochs without a better val Dice (0 = off)
    seed: int = 0
    device: str = "auto"
    amp: bool = False                          # mixed precision, CUDA only
    workers: int = 0
    montage: bool = True
    gif: bool = False
    name: str = "unet"
    description: str = ""
    synthetic: bool = False                    # trained on generated phantoms (said in the card)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["loss"] = LossConfig(**d.get("loss", {}))
        d["augment"] = AugmentConfig(**d.get("augment", {}))
        return cls(**d)


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    # warn_only: a few CUDA kernels have no deterministic version; CPU training is fully deterministic.
    torch.use_deterministic_algorithms(True, warn_only=True)


def _architecture(cfg: TrainConfig, info: dict):
    from .model import Architecture
    from .presets import model_preset

    n = len(info["classes"])
    head = info.get("head", "softmax")
    from .data import input_channels

    kw = {**model_preset(cfg.preset), **cfg.arch, "head": head, "n_classes": 1 if head == "sigmoid" else n,
          "in_channels": input_channels(info["preprocessing"])}
    arch = Architecture(**kw)
    h, w = info["preprocessing"]["size"]
    if h % arch.multiple or w % arch.multiple:
        raise ParameterError(f"input size {h}x{w} is not a multiple of {arch.multiple} (depth {arch.depth}); "
                             "rebuild the dataset with another --size or use a shallower model")
    return arch


def _optimiser(cfg: TrainConfig, params):
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(cfg.optimizer)
    if cls is None:
        raise ParameterError(f"optimizer must be adam or adamw, got {cfg.optimizer!r}")
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _scheduler(cfg: TrainConfig, opt):
    s = cfg.schedule
    if s == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs), eta_min=cfg.lr * 0.01)
    if s == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
    if s == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=cfg.gamma, patience=5)
    if s == "none":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    raise ParameterError(f"schedule must be cosine, step, plateau or none, got {s!r}")


def _card(cfg: TrainConfig, info: dict, arch, metrics: dict, seconds: float, epoch: int) -> dict:
    from .presets import mirror_pairs

    names = [c["name"] for c in info["classes"]]
    n_slices = sum(f["slices"] for f in info["files"])
    data = info.get("description") or f"{len(info['files'])} studies ({n_slices} slices) from {info['_folder']}"
    return {
        "name": cfg.name, "description": cfg.description, "architecture": arch.to_dict(),
        "classes": [{"value": c["value"], "name": c["name"], "color": c["color"]} for c in info["classes"]],
        "mirror_pairs": mirror_pairs(names), "preprocessing": dict(info["preprocessing"]),
        "training": {"data": data, "synthetic": cfg.synthetic, "studies": len(info["files"]), "slices": n_slices,
                     "split": {k: len(v) for k, v in info["split"].items()}, "epochs": epoch + 1,
                     "seed": cfg.seed, "seconds": round(seconds, 1), "config": cfg.to_dict()},
        "input_range": info.get("input_range", {}), "metrics": metrics,
    }


def _validate(net, val_set, dist_, head: str, n_classes: int, loss_cfg, epoch: int, batch: int):
    """Validation loss and (TP, FP, FN) sums over this rank's share of the slices, summed over ranks."""
    from .distributed import all_sum

    counts = torch.zeros((n_classes - 1, 3), dtype=torch.float64)
    loss_sum = torch.zeros(2, dtype=torch.float64)
    mine = list(range(dist_.rank, len(val_set), dist_.world))
    net.eval()
    with torch.inference_mode():
        for k in range(0, len(mine), batch):
            items = [val_set[i] for i in mine[k:k + batch]]
            x = torch.stack([a for a, _ in items]).to(dist_.device).contiguous(memory_format=torch.channels_last)
            y = torch.stack([b for _, b in items]).to(dist_.device)
            logits = net(x)
            loss, _ = combined_loss(logits, y, head, loss_cfg, epoch)
            loss_sum += torch.tensor([float(loss) * len(items), len(items)], dtype=torch.float64)
            counts += overlap_counts(predicted_labels(logits, head), y, n_classes)
    return all_sum(loss_sum, dist_), all_sum(counts, dist_)


def train(data_dir, out_dir, config: TrainConfig | None = None, resume: bool = False,
          progress: Progress | None = None, cancel: CancelEvent = None) -> dict:
    """Train a U-Net on a training folder; returns {"best": metrics, "epochs": n, "seconds": s, "out": path}."""
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler

    from .card import save_model
    from .checkpoint import load_checkpoint, save_checkpoint
    from .dataset import read_dataset
    from .distributed import all_sum, barrier, cleanup, setup
    from .model import build, count_parameters
    from .presets import mirror_pairs
    from .slices import SliceSet
    from .visual import make_gif, montage, plot_curves, write_csv

    cfg = config or TrainConfig()
    out = Path(out_dir)
    from ..io.atomic import check_outputs, expand_inputs

    check_outputs([out / n for n in ("model.pt", "model.json", CHECKPOINT, "metrics.csv")], expand_inputs([data_dir]))
    d = setup(cfg.device)
    info = read_dataset(data_dir)
    if cfg.context_mm < 0:
        raise ParameterError(f"context_mm must be 0 (2D) or a distance in mm, got {cfg.context_mm}")
    if cfg.context_mm > 0:  # the same cached slices serve a 2D and a 2.5D model; the card says which
        info["preprocessing"] = {**info["preprocessing"], "context_mm": float(cfg.context_mm)}
    seed_everything(cfg.seed)
    arch = _architecture(cfg, info)
    head, n_classes = arch.head, len(info["classes"])
    # channels_last: on CPU the narrow convolutions of a small U-Net run ~10-20x faster this way.
    net = build(arch).to(d.device, memory_format=torch.channels_last)
    pairs = mirror_pairs([c["name"] for c in info["classes"]])
    train_set = SliceSet(info, "train", cfg.neg_fraction, cfg.augment, cfg.seed, pairs)
    val_set = SliceSet(info, "val", None, None, cfg.seed)
    if len(train_set) == 0 or len(val_set) == 0:
        raise InputError(f"{data_dir}: the training or validation split has no slices")
    sampler = DistributedSampler(train_set, num_replicas=d.world, rank=d.rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        drop_last=len(train_set) // d.world > cfg.batch_size)  # no size-1 batches for batch norm
    model = DistributedDataParallel(net, device_ids=[d.device.index] if d.device.type == "cuda" else None) \
        if d.active else net
    opt = _optimiser(cfg, net.parameters())
    sched = _scheduler(cfg, opt)
    use_amp = bool(cfg.amp and d.device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history, best, start, seconds, stale = [], {"val_dice": -1.0}, 0, 0.0, 0

    ckpt_path = out / CHECKPOINT
    if resume:
        ck = load_checkpoint(ckpt_path, net, opt, sched, scaler)
        history, best, start, seconds = ck["history"], ck["best"], ck["epoch"] + 1, ck["seconds"]
        stale = ck["stale"]
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
    fixed = val_set.fixed_batch(4) if cfg.montage else None
    colours = [c["color"] for c in info["classes"]]
    frames = sorted((out / "montage").glob("epoch_*.png")) if resume else []
    if not d.is_main:
        progress = None  # one rank reports

    for epoch in range(start, cfg.epochs):
        check_cancel(cancel)
        t0 = time.perf_counter()
        train_set.set_epoch(epoch)
        sampler.set_epoch(epoch)
        model.train()
        sums = torch.zeros(2, dtype=torch.float64)
        for b, (x, y) in enumerate(loader):
            if cfg.max_batches is not None and b >= cfg.max_batches:
                break
            check_cancel(cancel)
            x = x.to(d.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = y.to(d.device, non_blocking=True)
            with torch.autocast(d.device.type, enabled=use_amp):
                logits = model(x)
            loss, parts = combined_loss(logits, y, head, cfg.loss, epoch)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sums += torch.tensor([loss.item() * len(x), len(x)], dtype=torch.float64)
        sums = all_sum(sums, d)
        vloss, counts = _validate(net, val_set, d, head, n_classes, cfg.loss, epoch, cfg.batch_size)
        dice, iou = dice_iou(counts)
        lr = opt.param_groups[0]["lr"]
        sched.step(float(vloss[0] / vloss[1])) if cfg.schedule == "plateau" else sched.step()
        seconds += time.perf_counter() - t0
        row = {"epoch": epoch + 1, "train_loss": float(sums[0] / max(sums[1], 1)),
               "val_loss": float(vloss[0] / max(vloss[1], 1)), "val_dice": float(np.mean(dice)),
               "val_iou": float(np.mean(iou)), "lr": lr, "w_dice": cfg.loss.weights(epoch)[0],
               "samples": int(sums[1]), "seconds": round(time.perf_counter() - t0, 2)}
        for c, dv, iv in zip(info["classes"][1:], dice, iou):
            row[f"dice_{c['name']}"], row[f"iou_{c['name']}"] = dv, iv
        history.append(row)
        improved = row["val_dice"] > best["val_dice"] + 1e-9
        if improved:
            best = {**{k: v for k, v in row.items() if k != "seconds"}}
            stale = 0
        else:
            stale += 1
        if d.is_main:
            metrics = {"val_dice": best["val_dice"], "val_iou": best["val_iou"], "epoch": best["epoch"],
                       "per_class": {c["name"]: {"dice": best[f"dice_{c['name']}"], "iou": best[f"iou_{c['name']}"]}
                                     for c in info["classes"][1:]}}
            if improved:
                save_model(net, _card(cfg, info, arch, metrics, seconds, epoch), out)
            save_checkpoint(ckpt_path, net, opt, sched, scaler, epoch=epoch, history=history, best=best,
                            seconds=seconds, stale=stale)
            write_csv(history, out / "metrics.csv")
            plot_curves(history, out)
            if fixed is not None:
                net.eval()
                with torch.inference_mode():
                    x = fixed[0].to(d.device).contiguous(memory_format=torch.channels_last)
                    pred = predicted_labels(net(x), head).cpu().numpy()
                frames.append(montage(fixed[0][:, fixed[0].shape[1] // 2].numpy(), fixed[1].numpy(), pred, colours,
                                      out / "montage" / f"epoch_{epoch + 1:04d}.png",
                                      f"epoch {epoch + 1}: val Dice {row['val_dice']:.3f}"))
        report(progress, (epoch + 1 - start) / max(1, cfg.epochs - start),
               f"epoch {epoch + 1}/{cfg.epochs} loss {row['train_loss']:.3f} Dice {row['val_dice']:.3f}")
        if cfg.patience and stale >= cfg.patience:
            break
    if d.is_main:
        from .card import update_card

        if cfg.gif and frames:
            make_gif(frames, out / "montage.gif")
        if (out / "model.json").is_file():
            card = update_card(out, **{"training": {**_card(cfg, info, arch, {}, seconds, len(history) - 1)["training"],
                                                    "parameters": count_parameters(net)}})
            best_metrics = card.get("metrics", {})
        else:
            best_metrics = {}
    else:
        best_metrics = {}
    result = {"best": best_metrics or {k: best.get(k) for k in ("val_dice", "val_iou", "epoch")},
              "epochs": len(history), "seconds": seconds, "out": str(out), "history": history}
    # Leave together: a rank that tears gloo down while rank 0 is still writing can abort the job.
    barrier(d)
    cleanup(d)
    return result
