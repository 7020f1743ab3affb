"""A student as ONNX (dynamic batch), and the check that ONNX Runtime gives its logits."""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kd_automl.errors import KDAutoMLError
from kd_automl.files import atomic_write

log = logging.getLogger(__name__)
INPUT, OUTPUT = "images", "logits"


def export_onnx(model: nn.Module, input_shape: tuple[int, ...], path: str | Path) -> Path:
    """Write ``model`` (float32, CPU, eval) to ``path`` with ``torch.onnx`` (dynamo exporter),
    batch size dynamic. An op ONNX cannot express raises one :class:`KDAutoMLError`."""
    path = Path(path)
    model = model.float().cpu().eval()
    example = (torch.zeros(2, *input_shape),)
    batch = torch.export.Dim("batch", min=1)
    arg = next(iter(_forward_args(model)))

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, example, input_names=[INPUT],
                                        output_names=[OUTPUT], dynamic_shapes={arg: {0: batch}},
                                        dynamo=True, verbose=False)
        program.save(str(tmp))

    try:
        atomic_write(path, write)
    except KDAutoMLError:
        raise
    except Exception as err:  # the exporter's many error types: unsupported ops above all
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # the exporter's colours
        first = text.splitlines()[0][:300] if text else ""
        raise KDAutoMLError(f"ONNX export failed for this student ({type(err).__name__}: "
                            f"{first})") from None
    return path


def _forward_args(model: nn.Module) -> list[str]:
    import inspect

    return [p for p in inspect.signature(model.forward).parameters if p != "self"]


@dataclass(frozen=True)
class OnnxCheck:
    """ONNX Runtime beside PyTorch on the same images."""

    max_abs_diff: float
    torch_acc: float
    onnx_acc: float
    images: int

    @property
    def agrees(self) -> bool:
        return self.max_abs_diff <= 1e-4 and self.torch_acc == self.onnx_acc


def check_onnx(path: str | Path, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
               batch_size: int = 1024) -> OnnxCheck:
    """Run the ONNX file and ``model`` on ``(x, y)``: the largest logit difference and both
    accuracies."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    model = model.float().cpu().eval()
    diff, hits_torch, hits_onnx = 0.0, 0, 0
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            xb, yb = x[i:i + batch_size].float().cpu(), y[i:i + batch_size].cpu().numpy()
            ours = model(xb).numpy()
            theirs = session.run([OUTPUT], {INPUT: xb.numpy()})[0]
            diff = max(diff, float(np.abs(ours - theirs).max()))
            hits_torch += int((ours.argmax(1) == yb).sum())
            hits_onnx += int((theirs.argmax(1) == yb).sum())
    n = max(len(y), 1)
    return OnnxCheck(diff, hits_torch / n, hits_onnx / n, len(y))
