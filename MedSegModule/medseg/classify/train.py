"""Volume classifier training: one loop for a single process and for ``torchrun`` (DDP) alike.

``train(data_dir, out_dir, config)`` reads ``data_dir/normal`` and ``data_dir/abnormal``
(:mod:`.data`), trains with binary cross-entropy, Adam and an exponential learning-rate decay, and
writes the model folder ``out_dir``:

    model.pt, model.json      the best epoch's weights (by validation AUC, then loss) and its card
    checkpoint_last.pt        everything to resume (the U-Net's :mod:`~medseg.unet.checkpoint`)
    metrics.csv               one row per epoch: losses, AUC, accuracy, LR, seconds
    loss.png, auc.png, lr.png the training curves; roc.png the best epoch's validation ROC curve
    validation.csv            the best epoch's P(abnormal) of every validation volume
    cache/                    the preprocessed volumes (delete it freely)

The U-Net's machinery does the rest: :func:`~medseg.unet.train.seed_everything`, the process
group and sums of :mod:`~medseg.unet.distributed`, the CSV and curves of :mod:`~medseg.unet.visual`,
and the model folder of :mod:`~medseg.unet.card`. The seed fixes initialisation, order, rotations
and dropout; ``resume=True`` continues exactly.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import ParameterError
from ..progress import CancelEvent, Progress, check_cancel, report, sub_progress
from .data import ROTATION_DEG, SIZE_DHW, WINDOW_HU

CHECKPOINT = "checkpoint_last.pt"


@dataclass
class ClassifyConfig:
    """Training options (the seed's where it has them); all are recorded in the card's ``training.config``."""

    size: list = field(default_factory=lambda: list(SIZE_DHW))     # (D, H, W) after resizing
    window: list = field(default_factory=lambda: list(WINDOW_HU))  # HU clipped and mapped to [0, 1]
    channels: list = field(default_factory=lambda: [64, 64, 128, 256])
    dense: int = 512
    dropout: float = 0.3
    epochs: int = 30
    batch_size: int = 2
    lr: float = 1e-4
    lr_decay: float = 0.96                                          # exponential decay per epoch
    weight_decay: float = 0.0
    augment: bool = True
    rotation_deg: list = field(default_factory=lambda: list(ROTATION_DEG))
    val_fraction: float = 0.25
    seed: int = 0
    device: str = "auto"
    amp: bool = False                                                # mixed precision, CUDA only
    workers: int = 0
    name: str = "classifier"
    description: str = ""
    synthetic: bool = False                                          # trained on generated data (said in the card)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifyConfig":
        return cls(**d)


def _card(cfg: ClassifyConfig, arch, cases, facts, split, metrics: dict, seconds: float, epochs: int) -> dict:
    from ..unet.dataset import input_range

    counts = {name: sum(c.label == k for c in cases) for k, name in enumerate(("normal", "abnormal"))}
    return {
        "name": cfg.name, "description": cfg.description, "architecture": arch.to_dict(),
        "classes": [{"value": 0, "name": "normal"}, {"value": 1, "name": "abnormal"}],
        "preprocessing": {"window": list(cfg.window), "size": list(cfg.size), "orientation": "LPS"},
        "training": {"data": f"{counts['normal']} normal and {counts['abnormal']} abnormal volumes",
                     "synthetic": cfg.synthetic, "volumes": len(cases),
                     "split": {"train": len(split[0]), "val": len(split[1])}, "epochs": epochs,
                     "seed": cfg.seed, "seconds": round(seconds, 1), "config": cfg.to_dict()},
        "input_range": input_range(facts), "metrics": metrics,
    }


def recalibrate_batch_norm(net, volumes, batch: int, device, d) -> None:
    """Re-estimate every batch norm's running mean and variance on ``volumes`` (no augmentation).

    With the few, small batches a 3D CNN trains on, the running averages lag far behind the weights,
    so validation in eval mode sees other statistics than training did: its loss swings between
    epochs and its probabilities collapse to one class. A cumulative average over one pass of the
    training volumes with the current weights ("precise BN", Wu & Johnson 2021) fixes that; under DDP
    the ranks' estimates are averaged.
    """
    from ..unet.distributed import all_sum

    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or not len(volumes):
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        for k in range(0, len(volumes), batch):
            net.features(volumes[k:k + batch].float().to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
        if d.active:
            m.running_mean.copy_(all_sum(m.running_mean.double(), d).float() / d.world)
            m.running_var.copy_(all_sum(m.running_var.double(), d).float() / d.world)


def _evaluate(net, volumes, labels, mine, device, batch: int):
    """(labels, P(abnormal), summed BCE loss) over this rank's validation volumes ``mine``."""
    out_labels, scores, loss = [], [], 0.0
    net.eval()
    with torch.inference_mode():
        for k in range(0, len(mine), batch):
            idx = mine[k:k + batch]
            x = volumes[idx].float().to(device)
            y = labels[idx].to(device)
            logits = net(x)
            loss += float(torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum"))
            scores += torch.sigmoid(logits).cpu().tolist()
            out_labels += y.cpu().int().tolist()
    return out_labels, scores, loss


def train(data_dir, out_dir, config: ClassifyConfig | None = None, resume: bool = False,
          progress: Progress | None = None, cancel: CancelEvent = None) -> dict:
    """Train the classifier; returns {"best": metrics, "epochs": n, "seconds": s, "out": path, "history": rows}."""
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler

    from ..io.tables import write_rows
    from ..unet.checkpoint import load_checkpoint, save_checkpoint
    from ..unet.distributed import all_gather_lists, all_sum, barrier, cleanup, setup
    from ..unet.train import seed_everything
    from ..unet.visual import plot_curves, write_csv
    from .card import save_model
    from .data import VolumeSet, discover, load_cases, split
    from .metrics import accuracy, auc
    from .model import Architecture, build, count_parameters
    from .visual import PANELS, plot_roc

    cfg = config or ClassifyConfig()
    arch = Architecture(channels=cfg.channels, dense=cfg.dense, dropout=cfg.dropout)
    if len(cfg.size) != 3 or any(int(s) % arch.multiple for s in cfg.size):
        raise ParameterError(f"--size {cfg.size}: each of D, H, W must be a multiple of {arch.multiple} "
                             f"({len(cfg.channels)} poolings)")
    d = setup(cfg.device)
    out = Path(out_dir)
    if not d.is_main:
        progress = None  # one rank reports
    cases = discover(data_dir)
    train_idx, val_idx = split(cases, cfg.val_fraction, cfg.seed)
    volumes, facts = load_cases(cases, cfg.size, cfg.window, cache=out / "cache",
                                progress=sub_progress(progress, 0.0, 0.1), cancel=cancel)
    labels = torch.tensor([c.label for c in cases], dtype=torch.float32)
    seed_everything(cfg.seed)
    net = build(arch).to(d.device)
    train_set = VolumeSet(volumes[train_idx], labels[train_idx].tolist(), cfg.augment, cfg.seed, cfg.rotation_deg)
    sampler = DistributedSampler(train_set, num_replicas=d.world, rank=d.rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        drop_last=len(train_set) // d.world > cfg.batch_size)  # no size-1 batches for batch norm
    model = DistributedDataParallel(net, device_ids=[d.device.index] if d.device.type == "cuda" else None) \
        if d.active else net
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_decay)
    use_amp = bool(cfg.amp and d.device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history, best, start, seconds = [], {"val_auc": -1.0, "val_loss": float("inf")}, 0, 0.0
    ckpt_path = out / CHECKPOINT
    if resume:
        ck = load_checkpoint(ckpt_path, net, opt, sched, scaler)
        history, best, start, seconds = ck["history"], ck["best"], ck["epoch"] + 1, ck["seconds"]
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
    val_volumes, val_labels = volumes[val_idx], labels[val_idx]
    mine = list(range(d.rank, len(val_idx), d.world))
    epoch_progress = sub_progress(progress, 0.1, 1.0)

    for epoch in range(start, cfg.epochs):
        check_cancel(cancel)
        t0 = time.perf_counter()
        train_set.set_epoch(epoch)
        sampler.set_epoch(epoch)
        model.train()
        sums = torch.zeros(2, dtype=torch.float64)
        for x, y in loader:
            check_cancel(cancel)
            x, y = x.to(d.device, non_blocking=True), y.to(d.device, non_blocking=True)
            with torch.autocast(d.device.type, enabled=use_amp):
                logits = model(x)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sums += torch.tensor([loss.item() * len(x), len(x)], dtype=torch.float64)
        sums = all_sum(sums, d)
        recalibrate_batch_norm(net, train_set.volumes[list(sampler)], cfg.batch_size, d.device, d)
        ys, ps, vloss = _evaluate(net, val_volumes, val_labels, mine, d.device, cfg.batch_size)
        ys, ps = all_gather_lists(ys, d), all_gather_lists(ps, d)
        seen = all_gather_lists([val_idx[i] for i in mine], d)  # the cases behind ys and ps, in their order
        vloss = float(all_sum(torch.tensor([vloss], dtype=torch.float64), d)[0])
        lr = opt.param_groups[0]["lr"]
        sched.step()
        seconds += time.perf_counter() - t0
        row = {"epoch": epoch + 1, "train_loss": float(sums[0] / max(sums[1], 1)),
               "val_loss": vloss / max(len(ys), 1), "val_auc": auc(ys, ps), "val_accuracy": accuracy(ys, ps),
               "lr": lr, "samples": int(sums[1]), "seconds": round(time.perf_counter() - t0, 2)}
        history.append(row)
        score = -1.0 if np.isnan(row["val_auc"]) else row["val_auc"]
        improved = score > best["val_auc"] + 1e-9 or (abs(score - best["val_auc"]) <= 1e-9
                                                       and row["val_loss"] < best["val_loss"])
        if improved:
            best = {k: v for k, v in row.items() if k != "seconds"} | {"val_auc": score}
        if d.is_main:
            if improved:
                metrics = {"val_auc": row["val_auc"], "val_accuracy": row["val_accuracy"], "val_loss": row["val_loss"],
                           "epoch": row["epoch"]}
                save_model(net, _card(cfg, arch, cases, facts, (train_idx, val_idx), metrics, seconds, epoch + 1), out)
                plot_roc(ys, ps, out / "roc.png", f"validation, epoch {epoch + 1}")
                write_rows([{"volume": str(cases[i].path), "label": "abnormal" if y else "normal",
                             "p_abnormal": round(p, 6)} for i, y, p in zip(seen, ys, ps)], out / "validation.csv")
            save_checkpoint(ckpt_path, net, opt, sched, scaler, epoch=epoch, history=history, best=best,
                            seconds=seconds)
            write_csv(history, out / "metrics.csv")
            plot_curves(history, out, PANELS)
        report(epoch_progress, (epoch + 1 - start) / max(1, cfg.epochs - start),
               f"epoch {epoch + 1}/{cfg.epochs} loss {row['train_loss']:.3f} AUC {row['val_auc']:.3f}")
    if d.is_main and (out / "model.json").is_file():
        from ..unet.card import update_card
        from .card import read_card, validate

        card = read_card(out)
        card["training"].update(epochs=len(history), seconds=round(seconds, 1), parameters=count_parameters(net))
        best_metrics = update_card(out, check=validate, training=card["training"]).get("metrics", {})
    else:
        best_metrics = {k: best.get(k) for k in ("val_auc", "val_accuracy", "val_loss", "epoch")}
    result = {"best": best_metrics, "epochs": len(history), "seconds": seconds, "out": str(out), "history": history}
    barrier(d)
    cleanup(d)
    return result
