"""Losses and overlap counts for training: soft Dice + cross-entropy (softmax) or + BCE (sigmoid).

Logits are (N, C, H, W); targets (N, H, W) int64 class indices (0 = background). A softmax head
has C = classes including background; a sigmoid head has C = 1 (the foreground).

The weight schedule follows the tumour seed: Dice is favoured for the first ``dice_epochs``
epochs (default 50: ``early_dice_weight`` = 0.8 Dice / 0.2 CE), because on small structures
cross-entropy alone first learns to predict all background; after that the weights balance
(``late_dice_weight`` = 0.5), letting CE sharpen the boundaries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossConfig:
    dice_epochs: int = 50
    early_dice_weight: float = 0.8
    late_dice_weight: float = 0.5
    smooth: float = 1.0  # added to Dice's numerator and denominator: empty slices give loss 0, not NaN

    def weights(self, epoch: int) -> tuple[float, float]:
        """(Dice weight, CE/BCE weight) for 0-based ``epoch``."""
        w = self.early_dice_weight if epoch < self.dice_epochs else self.late_dice_weight
        return float(w), float(1.0 - w)

    def to_dict(self) -> dict:
        return asdict(self)


def _foreground_probs(logits: torch.Tensor, target: torch.Tensor, head: str):
    """(probabilities, one-hot targets) of the foreground classes, both (N, K, H, W) float."""
    if head == "sigmoid":
        return torch.sigmoid(logits.float()), (target[:, None] == 1).float()
    probs = torch.softmax(logits.float(), dim=1)[:, 1:]
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2)[:, 1:].float()
    return probs, onehot


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, head: str, smooth: float = 1.0) -> torch.Tensor:
    """1 - mean over foreground classes of the batch soft Dice (sums over N, H, W)."""
    p, t = _foreground_probs(logits, target, head)
    dims = (0, 2, 3)
    inter = (p * t).sum(dims)
    dice = (2 * inter + smooth) / (p.sum(dims) + t.sum(dims) + smooth)
    return 1.0 - dice.mean()


def ce_loss(logits: torch.Tensor, target: torch.Tensor, head: str) -> torch.Tensor:
    """Cross-entropy (softmax) or binary cross-entropy with logits (sigmoid)."""
    if head == "sigmoid":
        return F.binary_cross_entropy_with_logits(logits[:, 0].float(), (target == 1).float())
    return F.cross_entropy(logits.float(), target)


def combined_loss(logits: torch.Tensor, target: torch.Tensor, head: str, cfg: LossConfig,
                  epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted Dice + CE/BCE for ``epoch``; returns (loss, {"dice_loss", "ce_loss", "w_dice"})."""
    w_dice, w_ce = cfg.weights(epoch)
    d = soft_dice_loss(logits, target, head, cfg.smooth)
    c = ce_loss(logits, target, head)
    return w_dice * d + w_ce * c, {"dice_loss": float(d.detach()), "ce_loss": float(c.detach()), "w_dice": w_dice}


def predicted_labels(logits: torch.Tensor, head: str) -> torch.Tensor:
    """(N, H, W) int64 class indices: argmax (softmax) or p > 0.5 (sigmoid)."""
    if head == "sigmoid":
        return (logits[:, 0] > 0).long()
    return logits.argmax(dim=1)


def overlap_counts(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(n_classes - 1, 3) float64 counts (TP, FP, FN) per foreground class, for Dice/IoU over many batches."""
    rows = []
    for c in range(1, n_classes):
        p, t = pred == c, target == c
        rows.append(torch.stack([(p & t).sum(), (p & ~t).sum(), (~p & t).sum()]))
    return torch.stack(rows).double().cpu()


def dice_iou(counts: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-class Dice and IoU from :func:`overlap_counts` sums; 1.0 where a class is absent in both."""
    tp, fp, fn = counts[:, 0], counts[:, 1], counts[:, 2]
    denom = 2 * tp + fp + fn
    dice = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.ones_like(tp))
    union = tp + fp + fn
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.ones_like(tp))
    return [float(v) for v in dice], [float(v) for v in iou]
