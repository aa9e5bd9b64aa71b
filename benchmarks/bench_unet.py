"""2D U-Net speed on CPU: our default lung model against lungmask's R231 architecture, same run.

Rows: network inference slices/s at 512 x 512 (both networks fed 512 x 512 slices), our full
``predict`` pipeline on a 512 x 512 volume (HU -> model grid -> network -> labels on the input
grid), and training samples/s at 256 x 256 (both) and at our model's own training size.
R231 is built from the lungmask package's own model code (``lungmask/resunet.py``: UNet with
depth 5, 64 base channels, batch norm, bilinear upsampling, 'same' padding, 3 classes) with random
weights: its weights download from a host we cannot reach, and timing does not need them.
Each network runs in its faster memory layout (NCHW or channels_last). Target: our default
model >= 10x R231's slices/s.

Run with `make bench` (or `python benchmarks/bench_unet.py`).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def r231():
    """lungmask R231's network with random weights, or None when lungmask is not installed."""
    spec = importlib.util.find_spec("lungmask")
    if spec is None or not spec.submodule_search_locations:
        return None
    # Load resunet.py alone: lungmask/__init__ imports its inference stack (fill_voids, ...),
    # which the network definition does not need.
    path = Path(list(spec.submodule_search_locations)[0]) / "resunet.py"
    mod_spec = importlib.util.spec_from_file_location("lungmask_resunet", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    # The arguments lungmask.mask.get_model uses for R231 (3 classes: background, right, left).
    return module.UNet(n_classes=3, padding=True, depth=5, up_mode="upsample", batch_norm=True, residual=False)


def ours():
    """The shipped "lungs" model (or the cpu-small architecture with random weights)."""
    from medseg.unet.card import load_model, shipped_models
    from medseg.unet.model import Architecture, build
    from medseg.unet.presets import model_preset

    if "lungs" in shipped_models():
        net, card = load_model("lungs")
        return net, card["preprocessing"]["size"][0], "lungs model"
    return build(Architecture(n_classes=3, **model_preset("cpu-small"))), 192, "cpu-small (random weights)"


def _timed(fn, min_seconds: float = 2.0, max_runs: int = 20) -> float:
    """Median seconds per call after one warm-up call."""
    fn()
    times = []
    while len(times) < max_runs and (sum(times) < min_seconds or len(times) < 2):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def infer_rate(net, size: int, batch: int) -> tuple[float, float]:
    """(seconds per batch, slices/s) of eval-mode inference, the faster of NCHW and channels_last."""
    import torch

    best = None
    for fmt in (torch.contiguous_format, torch.channels_last):
        net = net.eval().to(memory_format=fmt)
        x = torch.rand(batch, 1, size, size).contiguous(memory_format=fmt)

        def run():
            with torch.inference_mode():
                net(x)

        t = _timed(run, min_seconds=1.0, max_runs=5)
        best = t if best is None else min(best, t)
    return best, batch / best


def train_rate(net, size: int, batch: int, n_out: int = 3) -> tuple[float, float]:
    """(seconds per step, samples/s) of Adam training steps with cross-entropy, channels_last."""
    import torch

    net = net.train().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.rand(batch, 1, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, n_out, (batch, size, size))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    t = _timed(step, min_seconds=2.0, max_runs=5)
    return t, batch / t


def pipeline_rate() -> tuple[float, float, int]:
    """Our whole predict() on a 512 x 512 x 16 chest phantom: (seconds, slices/s, slices)."""
    from medseg.phantom import make_chest
    from medseg.unet.predict import predict

    from medseg.unet.card import shipped_models

    image = make_chest(shape=(16, 512, 512), seed=3).to_image()
    model = "lungs" if "lungs" in shipped_models() else None
    if model is None:
        return float("nan"), float("nan"), 0
    predict(image[:, :, :2], model, device="cpu")  # warm-up
    t0 = time.perf_counter()
    predict(image, model, device="cpu", batch_size=8)
    t = time.perf_counter() - t0
    return t, 16 / t, 16


def main() -> list[str]:
    import torch

    from medseg.unet.model import count_parameters

    rows = []
    net, train_size, what = ours()
    ref = r231()
    t, ours_rate = infer_rate(net, 512, 4)
    rows.append(f"| U-Net inference, {what} ({count_parameters(net) / 1e6:.2f} M params), 512² CPU | "
                f"{t / 4 * 1000:.0f} ms/slice | {ours_rate:.1f} slices/s |")
    if ref is not None:
        t, ref_rate = infer_rate(ref, 512, 1)
        rows.append(f"| U-Net inference, lungmask R231 architecture ({count_parameters(ref) / 1e6:.1f} M params), "
                    f"512² CPU | {t * 1000:.0f} ms/slice | {ref_rate:.2f} slices/s |")
        rows.append(f"| speed-up of {what} over R231 at 512² (target ≥ 10×) | | {ours_rate / ref_rate:.0f}× |")
        # Each at the grid it really runs on: lungmask resizes slices to 256², we resample to our card's size.
        t, own = infer_rate(net, train_size, 8)
        rows.append(f"| U-Net inference, {what} at its own {train_size}² grid | {t / 8 * 1000:.0f} ms/slice | "
                    f"{own:.1f} slices/s |")
        t, ref_own = infer_rate(ref, 256, 2)
        rows.append(f"| U-Net inference, R231 architecture at its own 256² grid | {t / 2 * 1000:.0f} ms/slice | "
                    f"{ref_own:.2f} slices/s |")
        rows.append(f"| speed-up, each at its own grid | | {own / ref_own:.0f}× |")
    else:
        rows.append("| lungmask R231 architecture | not measured | pip install --no-deps lungmask |")
    t, n_rate, n = pipeline_rate()
    if n:
        rows.append(f"| `predict` pipeline, lungs model, 512²×{n} phantom (resample, network, labels back) | "
                    f"{t:.2f} s | {n_rate:.1f} slices/s |")
    t, rate = train_rate(net, train_size, 8)
    rows.append(f"| U-Net training, {what}, {train_size}² batch 8 | {t:.2f} s/step | {rate:.1f} samples/s |")
    t, rate_ours_256 = train_rate(ours()[0], 256, 4)
    rows.append(f"| U-Net training, {what}, 256² batch 4 | {t:.2f} s/step | {rate_ours_256:.1f} samples/s |")
    if ref is not None:
        t, rate = train_rate(ref, 256, 2)
        rows.append(f"| U-Net training, lungmask R231 architecture, 256² batch 2 | {t:.2f} s/step | "
                    f"{rate:.2f} samples/s |")
    rows.append(f"| (torch {torch.__version__}, {torch.get_num_threads()} threads) | | |")
    return rows


if __name__ == "__main__":
    for row in main():
        print(row)
    sys.exit(0)
