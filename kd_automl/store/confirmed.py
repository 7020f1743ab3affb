"""Confirmed results: the runs of ``kd-automl confirm`` summarised over their seeds.

For each confirmed source (a top trial, or a control: the student alone, plain KD at its
defaults) of an experiment: the test accuracy's mean ± std over the seeds it completed, a
95% t-interval of the mean, and its paired difference to each control (the same seed's
control run, so split, teacher and batch order cancel out) with a 95% interval and a paired
t-test's p-value (scipy).

>>> rows = confirmed(store, ["digits-kd"])                  # doctest: +SKIP
>>> rows[0].mean, rows[0].vs_alone.mean, rows[0].vs_alone.p  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from kd_automl.store.records import TrialRecord
from kd_automl.store.store import Store

ROLE = "confirm"
CONTROL_LABELS = {"alone": "student alone", "kd": "plain KD (defaults)"}


@dataclass(frozen=True)
class Paired:
    """The paired difference (this minus a control) over the seeds both completed."""

    n: int
    mean: float
    std: float | None  # None with one pair
    ci_low: float | None
    ci_high: float | None
    p: float | None  # two-sided paired t-test; None with < 2 pairs or no spread


@dataclass(frozen=True)
class ConfirmedRow:
    """One confirmed source of one experiment, over its seeds."""

    experiment: str
    backend: str
    source: str  # the source trial's backend id, or a control's name (alone, kd)
    control: str | None
    method: str
    params: dict[str, Any]
    search_objective: float | None  # what the source scored in the search (one seed)
    seeds: tuple[int, ...]
    mean: float  # test accuracy over the seeds
    std: float | None
    ci_low: float | None
    ci_high: float | None
    val_mean: float | None
    vs_alone: Paired | None
    vs_kd: Paired | None

    @property
    def label(self) -> str:
        return CONTROL_LABELS.get(self.control or "", f"#{self.source}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


def _interval(values: list[float]) -> tuple[float, float | None, float | None, float | None]:
    """Mean, sample std, and the 95% t-interval of the mean (None below two values)."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None, None, None
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    return mean, std, mean - half, mean + half


def paired(these: dict[int, float], controls: dict[int, float]) -> Paired | None:
    """The paired difference ``these - controls`` over their common seeds (None: none)."""
    from scipy import stats

    seeds = sorted(set(these) & set(controls))
    if not seeds:
        return None
    diffs = [these[s] - controls[s] for s in seeds]
    mean, std, low, high = _interval(diffs)
    p = None
    if std:  # a t-test needs two pairs and some spread
        p = float(stats.ttest_rel([these[s] for s in seeds], [controls[s] for s in seeds]).pvalue)
    return Paired(len(seeds), mean, std, low, high, p)


def _by_seed(runs: list[TrialRecord], attr: str = "student_test_acc") -> dict[int, float]:
    return {int(t.extra["confirm"]["seed"]): getattr(t, attr) for t in runs
            if getattr(t, attr) is not None}


def confirmed(store: Store, experiments: list[str] | None = None,
              trials: list[TrialRecord] | None = None) -> list[ConfirmedRow]:
    """The confirmed sources of ``experiments`` (all when None): per experiment the top
    trials best confirmed mean first, then the controls."""
    exps = store.experiments(experiments)
    if trials is None:
        trials = store.trials([e.id for e in exps], role=ROLE, states=["complete"])
    ids = {e.id for e in exps}
    runs = [t for t in trials if t.role == ROLE and t.state == "complete"
            and t.experiment_id in ids and "confirm" in t.extra]
    sources = {t.extra["confirm"].get("source_id") for t in runs} - {None}
    originals = {t.id: t for t in store.trials_by_id(sources)}
    out: list[ConfirmedRow] = []
    for exp in exps:
        mine = [t for t in runs if t.experiment_id == exp.id]
        by_source: dict[str, list[TrialRecord]] = {}
        for t in mine:
            by_source.setdefault(str(t.extra["confirm"]["source"]), []).append(t)
        alone = _by_seed(by_source.get("alone", []))
        kd = _by_seed(by_source.get("kd", []))
        rows = []
        for source, rs in by_source.items():
            acc = _by_seed(rs)
            if not acc:
                continue
            info = rs[0].extra["confirm"]
            control = info.get("control")
            mean, std, low, high = _interval([acc[s] for s in sorted(acc)])
            val = _by_seed(rs, "student_val_acc")
            original = originals.get(info.get("source_id"))
            rows.append(ConfirmedRow(
                experiment=exp.name, backend=exp.backend, source=source, control=control,
                method=rs[0].method, params=rs[0].params,
                search_objective=original.objective if original else None,
                seeds=tuple(sorted(acc)), mean=mean, std=std, ci_low=low, ci_high=high,
                val_mean=sum(val.values()) / len(val) if val else None,
                vs_alone=None if control == "alone" else paired(acc, alone),
                vs_kd=None if control == "kd" else paired(acc, kd)))
        rows.sort(key=lambda r: (r.control is not None, r.control or "", -r.mean))
        out += rows
    return out




def _paired_cells(name: str, p: Paired | None) -> dict[str, Any]:
    keys = ("n", "mean", "std", "ci_low", "ci_high", "p")
    return {f"{name}_{k}": None if p is None else getattr(p, k) for k in keys}


def confirmed_to_csv(rows: list[ConfirmedRow]) -> str:
    """CSV text of ``rows``: one column per hyperparameter (``params.<key>``) and per
    statistic of each paired difference (``vs_alone_mean``, ``vs_kd_p``, ...)."""
    import csv
    import io

    from kd_automl.store.records import flatten_params

    keys = sorted({k for r in rows for k in flatten_params(r.params)})
    dicts = []
    for r in rows:
        d = {"experiment": r.experiment, "backend": r.backend, "source": r.source,
             "label": r.label, "method": r.method,
             **{f"params.{k}": v for k, v in flatten_params(r.params).items()},
             "seeds": " ".join(map(str, r.seeds)), "n": len(r.seeds), "mean": r.mean,
             "std": r.std, "ci_low": r.ci_low, "ci_high": r.ci_high, "val_mean": r.val_mean,
             "search_objective": r.search_objective,
             **_paired_cells("vs_alone", r.vs_alone), **_paired_cells("vs_kd", r.vs_kd)}
        dicts.append(d)
    header = ["experiment", "backend", "source", "label", "method",
              *(f"params.{k}" for k in keys), "seeds", "n", "mean", "std", "ci_low",
              "ci_high", "val_mean", "search_objective",
              *_paired_cells("vs_alone", None), *_paired_cells("vs_kd", None)]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for d in dicts:
        w.writerow(["" if d.get(c) is None else d[c] for c in header])
    return buf.getvalue()


__all__ = ["ConfirmedRow", "Paired", "confirmed", "confirmed_to_csv", "paired"]
