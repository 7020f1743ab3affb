"""Does a teacher assistant help when the teacher-student gap is large? (digits, CPU)

The pair of ``search_spaces/digits_takd.yaml`` (a 4-layer CNN teacher, a 1-layer 4-channel
CNN student), trained with the spec's budgets, over several seeds (the seed moves the
data split, the teacher, the assistant and the student's initialisation):

- **alone**: the student trained on the labels (``ce``);
- **kd**: Hinton KD teacher -> student;
- **takd**: teacher -> assistant -> student for assistants of several sizes, and one
  two-assistant chain; every hop uses the same T and alpha as ``kd``.

Prints student test accuracy as mean ± std over seeds, the paired difference to ``kd``
(same seed, same teacher) and a verdict. With ``--workspace`` the runs are also recorded in
that workspace's store (experiments ``digits-takd-bench``, with the student-alone rows as
its baseline, and ``digits-takd-kd``), so ``kd-automl report`` draws the TAKD figures and
the no-assistant line of ``digits-takd``.

    uv run python benchmarks/takd_digits.py [--seeds 3] [--workspace runs]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from kd_automl.engine import run_trial
from kd_automl.spec import ExperimentSpec, apply_params, load_spec
from kd_automl.store import Store
from kd_automl.workspace import Workspace

SPEC = Path(__file__).resolve().parents[1] / "search_spaces" / "digits_takd.yaml"
ASSISTANTS: list[list[dict]] = [
    [{"arch": "cnn", "width": 4, "depth": 2}],
    [{"arch": "cnn", "width": 8, "depth": 2}],
    [{"arch": "cnn", "width": 16, "depth": 4}],
    [{"arch": "cnn", "width": 16, "depth": 4}, {"arch": "cnn", "width": 8, "depth": 2}],
]


def describe(chain: list[dict]) -> str:
    return " → ".join(f"cnn{a['width']}x{a['depth']}" for a in chain)


def variant(base: ExperimentSpec, method: str, chain: list[dict] | None, seed: int,
            t: float, alpha: float) -> ExperimentSpec:
    data = base.to_dict()
    data.update(search={}, seed=seed, assistant=None, assistants=[],
                method={"name": method, "temperature": t, "alpha": alpha})
    if method == "takd":
        data["method"].update(assistant_temperature=t, assistant_alpha=alpha)
    if method == "ce":
        data["method"] = {"name": "ce"}
    if chain:
        data["assistants"] = chain
    return apply_params(ExperimentSpec.model_validate(data), {}, source="benchmark")


def mean_std(xs: list[float]) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{100 * statistics.mean(xs):6.2f} ± {100 * sd:4.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--workspace", default=None, help="record the runs in this workspace's "
                    "store (default: a throw-away folder, nothing recorded)")
    args = ap.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    base = load_spec(SPEC)
    tmp = None if args.workspace else tempfile.TemporaryDirectory(prefix="takd-bench-")
    ws = Workspace.resolve(args.workspace or tmp.name)
    store = Store(ws.db_url) if args.workspace else None
    rows: dict[str, list[float]] = {}
    assistant_acc: dict[str, list[float]] = {}
    params: dict[str, int] = {}
    teacher: list[float] = []
    start = time.perf_counter()
    runs = [("alone", "ce", None), ("kd", "kd", None),
            *[(f"takd {describe(c)}", "takd", c) for c in ASSISTANTS]]
    exps = {}
    if store:
        exps["takd"] = store.experiment(variant(base, "takd", ASSISTANTS[0], 0, args.temperature,
                                                args.alpha), "script", name="digits-takd-bench")
        exps["kd"] = store.experiment(variant(base, "kd", None, 0, args.temperature, args.alpha),
                                      "script", name="digits-takd-kd")
    for seed in range(args.seeds):
        for name, method, chain in runs:
            spec = variant(base, method, chain, seed, args.temperature, args.alpha)
            r = run_trial(spec, ws)
            if r.status != "complete":
                raise SystemExit(f"{name} seed {seed}: {r.status} {r.error}")
            rows.setdefault(name, []).append(r.student_test_acc)
            if chain:
                assistant_acc.setdefault(name, []).append(r.extra["assistant_acc"])
                params[name] = r.extra["assistants"][-1]["params"]
            if method == "kd":
                teacher.append(r.teacher_test_acc)
            if store:
                exp = exps["kd" if method == "kd" else "takd"]
                role = "baseline" if method == "ce" else "search"
                tid = store.start_trial(exp, f"{name} seed {seed}", {} if method != "takd" else
                                        {"assistants": describe(chain)}, role=role,
                                        method=method)
                r.extra["seed"] = seed
                store.finish_trial(tid, r)
        print(f"seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    kd = rows["kd"]
    print(f"\nteacher {base.teacher.arch}{base.teacher.options} test acc {mean_std(teacher)}; "
          f"student {base.student.arch}{base.student.options}; every hop T={args.temperature} "
          f"alpha={args.alpha}; {args.seeds} seeds; {time.perf_counter() - start:.0f} s")
    print(f"{'run':<32}{'assistant params':>17}{'assistant acc':>16}{'student acc':>16}"
          f"{'vs kd (paired)':>17}")
    helps = []
    for name, accs in rows.items():
        diff = [a - b for a, b in zip(accs, kd, strict=True)]
        print(f"{name:<32}{params.get(name, ''):>17}"
              f"{mean_std(assistant_acc[name]) if name in assistant_acc else '':>16}"
              f"{mean_std(accs):>16}{mean_std(diff) if name != 'kd' else '':>17}")
        if name.startswith("takd"):
            d, sd = statistics.mean(diff), statistics.stdev(diff) if len(diff) > 1 else 0.0
            se = sd / len(diff) ** 0.5
            helps.append((name, d, se))
    better = [n for n, d, se in helps if d > 2 * se]
    worse = [n for n, d, se in helps if d < -2 * se]
    verdict = "needs at least 2 seeds" if args.seeds < 2 else \
        (f"assistant helps: {', '.join(better)}" if better else "no assistant helps") \
        + (f"; hurts: {', '.join(worse)}" if worse else "")
    print(f"\nverdict (paired mean difference to kd beyond 2 standard errors): {verdict}")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
