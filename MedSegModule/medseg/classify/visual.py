"""The classifier's pictures: the ROC curve with its AUC (the training curves are the U-Net's
:func:`medseg.unet.visual.plot_curves` with :data:`PANELS`)."""

from __future__ import annotations

from pathlib import Path

from ..io.atomic import atomic_output
from .metrics import auc, roc_curve

#: Training curves: loss, validation AUC and accuracy, learning rate.
PANELS = {
    "loss.png": (("train_loss", "train"), ("val_loss", "validation")),
    "auc.png": (("val_auc", "validation AUC"), ("val_accuracy", "validation accuracy")),
    "lr.png": (("lr", "learning rate"),),
}


def plot_roc(labels, scores, path: Path, title: str = "validation") -> Path:
    """ROC curve PNG of P(abnormal) ``scores`` against ``labels`` (1 = abnormal), AUC in the legend."""
    from matplotlib.figure import Figure

    fpr, tpr, _ = roc_curve(labels, scores)
    n_pos, n_neg = int(sum(labels)), len(labels) - int(sum(labels))
    fig = Figure(figsize=(4.2, 4.2), dpi=110)
    ax = fig.subplots()
    ax.plot(fpr, tpr, drawstyle="steps-post", lw=2, label=f"AUC {auc(labels, scores):.3f}")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    ax.set_xlabel("false-positive rate (1 - specificity)")
    ax.set_ylabel("true-positive rate (sensitivity)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{title}: {n_pos} abnormal, {n_neg} normal", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        fig.savefig(tmp)
    return path
