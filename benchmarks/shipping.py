"""What shipping a student costs: checkpoints, kept weights on disk, ONNX Runtime latency.

1. **Checkpoint cost**: one epoch of training on the CPU, and one checkpoint save (the whole
   training state, atomically, with its sha256), for the digits CNN (the real digits set) and
   the CIFAR ResNet8x4 shape (synthetic 3x32x32 tensors, 100 classes). The share is the save's
   time over the time between saves: every epoch (``checkpoint_every: 1``) and the defaults
   (unset: a save after 10 s of training in a final run, after 60 s in a search trial).
   Epochs and saves alternate, best of ``--repeats`` each, because the machine is shared.
2. **Disk per 100 trials**: the student file's size times the files kept under the default
   policy (``keep: top, top: 5``) beside ``keep: all``.
3. **ONNX Runtime vs PyTorch eager**: the exported student's latency at batch 1 and 64 (CPU,
   the same threads), median of ``--calls`` calls each, side by side.

    uv run python benchmarks/shipping.py [--threads 1] [--repeats 3] [--calls 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from kd_automl.data import load_dataset
from kd_automl.distill.ce import CE
from kd_automl.engine.checkpoint import AUTO_INTERVAL_S, FINAL_INTERVAL_S, Checkpoint
from kd_automl.engine.train import BatchStream, _state, fit, prepare_distiller
from kd_automl.export import save_student
from kd_automl.export.onnx import export_onnx
from kd_automl.models import build_model
from kd_automl.spec import TrainSpec

CPU = torch.device("cpu")


def cases():
    digits = load_dataset("digits", seed=0)
    x = torch.randn(1024, 3, 32, 32)
    y = torch.randint(0, 100, (1024,))
    return [("digits cnn (1,437 images)", "cnn", {"width": 16, "depth": 2}, digits.x_train,
             digits.y_train, 10),
            ("resnet8x4, CIFAR shape (1,024 images)", "resnet8x4", {}, x, y, 100)]


def epoch_and_save(arch, sizes, x, y, classes, repeats, folder: Path):
    """Best seconds of one training epoch and of one checkpoint save of that run's state."""
    budget = TrainSpec(epochs=1, batch_size=64, lr=0.05)
    epochs, saves = [], []
    for _ in range(repeats):
        torch.manual_seed(0)
        distiller = CE(build_model(arch, tuple(x.shape[1:]), classes, **sizes))
        start = time.perf_counter()
        fit(distiller, x, y, budget, CPU)
        epochs.append(time.perf_counter() - start)
        stream = BatchStream(x, y, budget, CPU)
        d, opt, sched = prepare_distiller(distiller, stream, CPU)
        ckpt = Checkpoint(folder, every=1)
        start = time.perf_counter()
        ckpt.save(1, _state([{"epoch": 1, "val_acc": 0.5}], d, opt, sched, stream))
        saves.append(time.perf_counter() - start)
    return min(epochs), min(saves), (folder / "state.pt").stat().st_size


def latency(fn, calls):
    for _ in range(10):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import onnxruntime as ort

    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} thread(s)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("\n1. checkpoint cost (share of training time)")
        print(f"{'model':40s} {'epoch s':>8s} {'save ms':>8s} {'state':>9s} "
              f"{'every epoch':>12s} {'final':>8s} {'search':>8s}")
        rows = []
        for name, arch, sizes, x, y, classes in cases():
            ep, save, size = epoch_and_save(arch, sizes, x, y, classes, args.repeats,
                                            tmp / arch)
            final = save / (save + max(ep, FINAL_INTERVAL_S))  # at most one save per 10 s
            search = save / (save + max(ep, AUTO_INTERVAL_S))  # at most one a minute
            print(f"{name:40s} {ep:8.3f} {1e3 * save:8.1f} {size / 1024:7.0f}KiB "
                  f"{100 * save / (ep + save):11.2f}% {100 * final:7.3f}% "
                  f"{100 * search:7.3f}%")
            rows.append((name, arch, sizes, x, classes))

        print("\n2. disk per 100 trials (the student file times the files kept)")
        for name, arch, sizes, x, classes in rows:
            model = build_model(arch, tuple(x.shape[1:]), classes, **sizes)
            saved = save_student(tmp / f"{arch}.pt", model, {"arch": arch, **sizes},
                                 tuple(x.shape[1:]), classes)
            print(f"{name:40s} file {saved.size / 1024:7.0f} KiB; keep top 5: "
                  f"{5 * saved.size / 2**20:6.2f} MiB; keep all: "
                  f"{100 * saved.size / 2**20:7.2f} MiB (Optuna's artifact store: a hard "
                  "link, no second copy)")

        print("\n3. ONNX Runtime vs PyTorch eager, CPU, median ms per call")
        print(f"{'model':40s} {'batch':>5s} {'eager':>8s} {'onnxrt':>8s} {'ratio':>7s}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        for name, arch, sizes, x, classes in rows:
            model = build_model(arch, tuple(x.shape[1:]), classes, **sizes).eval()
            path = export_onnx(model, tuple(x.shape[1:]), tmp / f"{arch}.onnx")
            session = ort.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])
            for batch in (1, 64):
                xb = x[:batch].float().contiguous()
                xn = np.ascontiguousarray(xb.numpy())

                def eager(xb=xb, model=model):
                    with torch.inference_mode():
                        model(xb)

                def onnxrt(xn=xn, session=session):
                    session.run(None, {"images": xn})

                # alternate: eager, onnx, eager, onnx; keep the best median of each
                e = min(latency(eager, args.calls) for _ in range(2))
                o = min(latency(onnxrt, args.calls) for _ in range(2))
                print(f"{name:40s} {batch:5d} {e:8.3f} {o:8.3f} {e / o:6.2f}x")


if __name__ == "__main__":
    main()
