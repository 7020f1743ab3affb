"""Start time of the read commands beside ``python -c "import optuna"``, in one run.

Each command runs as a fresh process (the installed ``kd-automl`` of this environment),
``--repeats`` times, alternating with the references, on a small constructed store (30
trials); the median wall time of each is printed with its ratio to ``import optuna`` and
to a bare ``python -c pass``. The goal: ``kd-automl leaderboard`` under 1.5 s.

Two columns: as this environment runs Python (with ``PYTHONDONTWRITEBYTECODE=1``, as in
this project's sandboxes, every start compiles every module it imports), and with bytecode
cached, as after a first run on an ordinary install (``.pyc`` files written to a temporary
``PYTHONPYCACHEPREFIX``, so the environment itself is left as it is).

    uv run python benchmarks/cli_start.py
    uv run python benchmarks/cli_start.py --repeats 9
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.stores import fill  # noqa: E402  (the tests' constructed store)

from kd_automl.store import Store  # noqa: E402


def _cli() -> str:
    found = Path(sys.executable).with_name("kd-automl")
    return str(found) if found.exists() else shutil.which("kd-automl") or "kd-automl"


def _time(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kd-cli-start-"))
    db = f"sqlite:///{tmp / 'kd.db'}"
    store = Store(db)
    fill(store, 30, failed=2, pruned=3)
    store.dispose()
    env = {**os.environ, "KD_AUTOML_WORKSPACE": str(tmp / "ws"), "OMP_NUM_THREADS": "1"}
    cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    modes = {"as run here": env, "bytecode cached": cached}
    py, cli = sys.executable, _cli()
    rows = {
        "python -c pass": [py, "-c", "pass"],
        'python -c "import optuna"': [py, "-c", "import optuna"],
        "kd-automl leaderboard --top 3": [cli, "leaderboard", "--top", "3", "--db", db],
        "kd-automl launches list": [cli, "launches", "list"],
        "kd-automl nni list": [cli, "nni", "list"],
        "kd-automl check digits_kd": [cli, "check", "digits_kd"],
        "kd-automl methods": [cli, "methods"],
    }
    times = {(mode, name): [] for mode in modes for name in rows}
    for mode_env in modes.values():  # warm the file cache (and write the .pyc files) once
        for cmd in rows.values():
            _time(cmd, mode_env)
    for _ in range(args.repeats):
        for mode, mode_env in modes.items():
            for name, cmd in rows.items():
                times[mode, name].append(_time(cmd, mode_env))
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() \
        else ["?"]
    print(f"{os.cpu_count()} CPUs, load average {' '.join(load)}, median of {args.repeats}, "
          f"seconds (ratio to import optuna)")
    med = {key: statistics.median(ts) for key, ts in times.items()}
    ref = {mode: med[mode, 'python -c "import optuna"'] for mode in modes}
    print(f"{'command':<32}" + "".join(f"{mode:>22}" for mode in modes))
    for name in rows:
        print(f"{name:<32}" + "".join(f"{med[m, name]:>13.2f} ({med[m, name] / ref[m]:>5.2f})"
                                      for m in modes))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
