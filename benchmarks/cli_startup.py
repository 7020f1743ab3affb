"""``kd-automl methods`` and ``check`` torch-free beside the way they started before.

Before, both looked the methods up as their torch classes, so every method module (and torch)
was imported, and ``check`` built its models on the meta device (every model family's torch
module) and read the data set's shape through the torch-importing data package. "before" below
runs the same command after loading those modules (``registered()``, the model families, the
data package's loader and augmentations), which is what the command did then; "now" runs it as
it is. Each is a fresh interpreter, ``--repeats`` times alternating, median wall time.

    uv run python benchmarks/cli_startup.py
    uv run python benchmarks/cli_startup.py --repeats 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BEFORE = ("from kd_automl.distill.registry import registered\nregistered()\n"
          "import kd_automl.models.all_models, kd_automl.data.loader, kd_automl.data.augment\n"
          "from kd_automl.cli import main\nmain({args!r})")
NOW = "from kd_automl.cli import main\nmain({args!r})"


def _time(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL,
                   env=env)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kd-cli-startup-"))
    env = {**os.environ, "KD_AUTOML_WORKSPACE": str(tmp / "ws"), "OMP_NUM_THREADS": "1"}
    commands = {"methods": ["methods"], "methods kd": ["methods", "kd"],
                "check digits_kd": ["check", "digits_kd"]}
    runs = {(name, way): (BEFORE if way == "before" else NOW).format(args=argv)
            for name, argv in commands.items() for way in ("before", "now")}
    runs["python -c pass", "now"] = "pass"
    for code in runs.values():  # warm the file cache once
        _time(code, env)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    for _ in range(args.repeats):
        for key, code in runs.items():
            times[key].append(_time(code, env))
    med = {key: statistics.median(ts) for key, ts in times.items()}
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3]) \
        if Path("/proc/loadavg").exists() else "?"
    print(f"{os.cpu_count()} CPUs, load average {load}, median of {args.repeats}, seconds")
    print(f"{'kd-automl ...':<20}{'before':>10}{'now':>10}{'now/before':>12}")
    for name in commands:
        before, now = med[name, "before"], med[name, "now"]
        print(f"{name:<20}{before:>10.2f}{now:>10.2f}{now / before:>12.2f}")
    print(f"{'python -c pass':<20}{'':>10}{med['python -c pass', 'now']:>10.2f}")


if __name__ == "__main__":
    main()
