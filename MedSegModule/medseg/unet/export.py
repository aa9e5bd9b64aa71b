"""``medseg export``: a model folder to TorchScript (``.pt``/``.ts``) or ONNX (``.onnx``).

The exported graph is the network *with its head*: input (N, 1, H, W) float32 normalised
slices (the card's HU window mapped onto [0, 1], H and W multiples of 2 ** (depth - 1)), output
(N, K, H, W) class probabilities (softmax; a sigmoid model gives its single foreground channel).
N, H and W are dynamic. The card is written beside the file as ``<file>.json`` so the window,
spacing and classes travel with it. :func:`parity` checks an export against the PyTorch model.

The model folder is an input: an output naming any file in it (``-o M/model.pt``) is refused
before anything is written. The graph is serialised in memory and written with checked writes
(a full disk is an error naming the file, never an abort), the file and its card as one unit.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import DependencyError, ParameterError
from ..io.atomic import check_outputs, expand_inputs, output_group, write_bytes

FORMATS = {".pt": "torchscript", ".ts": "torchscript", ".onnx": "onnx"}


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ParameterError(f"{path}: unknown export format; use .pt / .ts (TorchScript) or .onnx (ONNX)")
    return fmt


def _example(card: dict, n: int = 1) -> torch.Tensor:
    h, w = card["preprocessing"]["size"]
    return torch.rand(n, card["architecture"]["in_channels"], int(h), int(w), generator=torch.Generator().manual_seed(0))


def export(model, output: str | os.PathLike, opset: int = 17) -> Path:
    """Export ``model`` (folder or shipped name) to ``output``; returns the path written."""
    from .card import load_model, resolve

    out = Path(output)
    fmt = _format(out)
    card_out = out.with_name(out.name + ".json")
    inputs = expand_inputs([resolve(model)])
    check_outputs([out, card_out], inputs)
    net, card = load_model(model, "cpu")
    data = _serialise(net, card, fmt, opset)
    card = {k: v for k, v in card.items() if not k.startswith("_")}
    card["export"] = {"format": fmt, "file": out.name, "input": "image (N, 1, H, W) float32 in [0, 1]",
                      "output": "probabilities (N, K, H, W) float32"}
    with output_group():
        write_bytes(out, data, inputs)
        write_bytes(card_out, (json.dumps(card, indent=2) + "\n").encode("utf-8"), inputs)
    return out


def _serialise(net, card: dict, fmt: str, opset: int) -> bytes:
    """The exported graph as bytes (in memory, so that writing it is one checked write)."""
    from .model import WithProbabilities

    wrapped = WithProbabilities(net).eval()
    x = _example(card)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # torch marks both exporters deprecated in favour of torch.export, which needs onnxscript;
        # they still produce standard files that Slicer, libtorch and onnxruntime read.
        warnings.simplefilter("ignore")
        if fmt == "torchscript":
            torch.jit.save(torch.jit.trace(wrapped, x, check_trace=False), buffer)
        else:
            try:
                import onnx  # noqa: F401  (the exporter needs it)
            except ImportError:
                raise DependencyError("ONNX export needs the onnx package: pip install 'medseg[unet]'") from None
            with torch.inference_mode(False), torch.no_grad():
                torch.onnx.export(wrapped, (x,), buffer, dynamo=False, opset_version=opset,
                                  input_names=["image"], output_names=["probabilities"],
                                  dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                                "probabilities": {0: "batch", 2: "height", 3: "width"}})
    return buffer.getvalue()


def run_exported(path: str | os.PathLike, x: np.ndarray) -> np.ndarray:
    """Run an exported file on (N, 1, H, W) float32 ``x``; returns its probabilities as numpy."""
    path = Path(path)
    if _format(path) == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = torch.jit.load(str(path), map_location="cpu")
        with torch.inference_mode():
            return m(torch.from_numpy(x)).numpy()
    try:
        import onnxruntime as ort
    except ImportError:
        raise DependencyError("running ONNX needs onnxruntime: pip install 'medseg[unet]'") from None
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def parity(model, path: str | os.PathLike, n: int = 2, size: tuple[int, int] | None = None) -> float:
    """Max absolute difference between the exported file and the PyTorch model on random slices.

    ``size`` (H, W) defaults to the card's input size; another size checks the dynamic axes.
    """
    from .card import load_model
    from .model import WithProbabilities

    net, card = load_model(model, "cpu")
    if size is not None:
        card = {**card, "preprocessing": {**card["preprocessing"], "size": list(size)}}
    x = _example(card, n)
    with torch.inference_mode():
        ref = WithProbabilities(net).eval()(x).numpy()
    got = run_exported(path, x.numpy())
    if got.shape != ref.shape:
        return float("inf")
    return float(np.abs(got - ref).max())
