"""One trial as a folder you can ship: its spec, its weights, ONNX and a model card.

``export_trial`` writes, for a stored trial that kept its weights (``artifacts:``):

- ``spec.yaml``: the trial's spec with its parameters written in, no ``search:``, named after
  its experiment, so ``kd-automl check`` accepts it and ``kd-automl train spec.yaml``
  retrains the same student beside the search;
- ``student.pt``: the weights with the model's spec (``kd_automl.load_student``);
- ``student.onnx``: ``torch.onnx`` with a dynamic batch, checked with ONNX Runtime on the
  test split (an export that fails is a warning in the card; the ``.pt`` is written);
- ``card.json`` and ``README.md``: the model card.

>>> bundle = export_trial(store, workspace, "digits-kd", best=True, out="out/")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from kd_automl.errors import KDAutoMLError
from kd_automl.files import atomic_write, sha256_of
from kd_automl.spec import ExperimentSpec, apply_params, parse_spec
from kd_automl.store import ExperimentRecord, Store, TrialRecord

NNI_BUDGET = "TRIAL_BUDGET"  # NNI's Hyperband/BOHB budget, which the trial ran as train.epochs
EXPORTABLE_ROLES = ("search", "confirm", "final")


@dataclass
class Bundle:
    """What :func:`export_trial` wrote, and how the ONNX file checked out."""

    folder: Path
    trial: TrialRecord
    files: dict[str, Path] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def pick_trial(store: Store, experiment: str, trial: str | None = None) -> TrialRecord:
    """Trial ``trial`` (its number as the leaderboard shows it) of ``experiment``, or the
    experiment's best complete search trial; one clear error when there is none."""
    exps = store.experiments([experiment], require=True)
    if len(exps) > 1:
        raise KDAutoMLError(f"experiment name {experiment!r} is used by several backends "
                            f"({', '.join(e.backend for e in exps)}); rename one to export it")
    exp = exps[0]
    trials = [t for t in store.trials([exp.id]) if t.role in EXPORTABLE_ROLES]
    if trial is not None:
        wanted = str(trial).lstrip("#")
        found = [t for t in trials if t.backend_trial_id == wanted]
        if not found:
            numbers = ", ".join(t.backend_trial_id for t in trials[:12]) or "none"
            raise KDAutoMLError(f"experiment {experiment!r} has no trial {trial!r} (its "
                                f"trials: {numbers}{', ...' if len(trials) > 12 else ''})")
        return found[0]
    done = [t for t in trials if t.role == "search" and t.state == "complete"
            and t.objective is not None]
    if not done:
        raise KDAutoMLError(f"experiment {experiment!r} has no complete search trial to "
                            "export")
    sign = -1.0 if exp.maximize else 1.0
    return min(done, key=lambda t: (sign * t.objective, t.id))


def trial_spec(trial: TrialRecord) -> ExperimentSpec:
    """The spec ``trial`` trained with: its experiment's spec with the trial's parameters
    written in (a confirm run on its seed), without ``search:``, named after the experiment."""
    exp = trial.experiment
    final = trial.extra.get("final")
    if isinstance(final, dict) and isinstance(final.get("spec"), dict):
        spec = parse_spec(final["spec"], source=f"trial {trial.backend_trial_id}")
    else:
        params = dict(trial.params)
        if NNI_BUDGET in params:
            params["train.epochs"] = max(1, round(params.pop(NNI_BUDGET)))
        spec = apply_params(parse_spec(exp.spec, source=f"experiment {exp.name}"), params,
                            source=f"trial {trial.backend_trial_id}")
        seed = (trial.extra.get("confirm") or {}).get("seed")
        if trial.role == "confirm" and seed is not None:
            spec = spec.model_copy(update={"seed": seed,
                                           "train": spec.train.model_copy(update={"seed": seed})})
    return spec.model_copy(update={"search": {}, "name": exp.name})


def spec_yaml(spec: ExperimentSpec, trial: TrialRecord) -> str:
    """``spec`` as the YAML file export writes (a comment says where it came from)."""
    data = spec.to_dict()
    data.pop("search", None)
    head = (f"# trial #{trial.backend_trial_id} of experiment {trial.experiment.name} "
            f"({trial.experiment.backend}), exported by kd-automl {package_version()}\n"
            "# retrain it: kd-automl train spec.yaml\n")
    return head + yaml.safe_dump(data, sort_keys=False)


def package_version() -> str:
    try:
        return version("kd-automl")
    except PackageNotFoundError:
        return "unknown"


def export_trial(store: Store, experiment: str, out: str | Path, *, trial: str | None = None,
                 onnx: bool = True, spec_only: bool = False,
                 confirmed: dict[str, Any] | None = None) -> Bundle:
    """Write trial ``trial`` (default: the best search trial) of ``experiment`` to ``out``.

    A trial without weights is one error naming why (its state, or the ``artifacts:``
    policy) unless ``spec_only``: then spec.yaml and the card are written, to retrain it.
    ``confirmed`` is the trial's confirm summary (mean, ci_low, ci_high, seeds) if any.
    """
    t = pick_trial(store, experiment, trial)
    weights = t.weights
    if weights is None and not spec_only:
        raise KDAutoMLError(_no_weights(t))
    if weights is not None and not spec_only and not weights.path.is_file():
        raise KDAutoMLError(f"trial #{t.backend_trial_id} of {experiment!r}: its weights file "
                            f"{weights.path} is missing (moved or deleted); export --spec-only "
                            "writes its spec.yaml, and kd-automl train spec.yaml retrains it")
    spec = trial_spec(t)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    bundle = Bundle(folder, t)
    _write_text(bundle, "spec.yaml", spec_yaml(spec, t))
    onnx_check: dict[str, Any] | None = None
    if not spec_only:
        from kd_automl.export.student import load_student, read_student

        model = load_student(weights.path, expected_sha256=weights.sha256)  # a changed file
        pt = folder / "student.pt"
        atomic_write(pt, lambda p: shutil.copyfile(weights.path, p))
        bundle.files["student.pt"] = pt
        if onnx:
            onnx_check = _onnx(bundle, model, spec, tuple(read_student(pt)["input_shape"]))
    bundle.card = model_card(t, spec, onnx_check, confirmed,
                             sha256_of(bundle.files["student.pt"]) if not spec_only else None)
    _write_text(bundle, "card.json", json.dumps(bundle.card, indent=2) + "\n")
    _write_text(bundle, "README.md", card_markdown(bundle.card))
    return bundle


def _no_weights(t: TrialRecord) -> str:
    head = f"trial #{t.backend_trial_id} of {t.experiment.name!r} kept no weights"
    if t.state != "complete":
        why = f"it is {t.state}" + (f" ({t.error})" if t.error else "")
    else:
        policy = (t.experiment.spec.get("artifacts") or {})
        why = (f"the spec's artifacts policy (keep: {policy.get('keep', 'top')}, top: "
               f"{policy.get('top', 5)}) did not keep it")
    return (f"{head}: {why}. export --spec-only writes its spec.yaml, and kd-automl train "
            "spec.yaml trains it with its weights kept")


def _write_text(bundle: Bundle, name: str, text: str) -> None:
    path = bundle.folder / name
    atomic_write(path, lambda p: p.write_text(text))
    bundle.files[name] = path


def _onnx(bundle: Bundle, model, spec: ExperimentSpec, input_shape: tuple[int, ...]
          ) -> dict[str, Any]:
    """Export and check the ONNX file; a failure is a warning recorded in the card."""
    from kd_automl.engine.trial import get_dataset
    from kd_automl.export.onnx import check_onnx, export_onnx

    path = bundle.folder / "student.onnx"
    try:
        export_onnx(model, input_shape, path)
    except KDAutoMLError as err:
        bundle.warnings.append(f"{err}; student.pt is written")
        return {"error": str(err)}
    bundle.files["student.onnx"] = path
    data = get_dataset(spec)
    check = check_onnx(path, model, data.x_test, data.y_test)
    summary = {"file": path.name, "sha256": sha256_of(path), "opset": "torch.onnx (dynamo)",
               "dynamic_batch": True, "checked_images": check.images,
               "max_abs_logit_diff": check.max_abs_diff, "torch_test_acc": check.torch_acc,
               "onnxruntime_test_acc": check.onnx_acc, "agrees": check.agrees}
    if not check.agrees:
        bundle.warnings.append(f"ONNX Runtime differs from PyTorch on the test split (max "
                               f"|Δ logits| {check.max_abs_diff:.2e}, accuracy "
                               f"{check.onnx_acc:.4f} vs {check.torch_acc:.4f})")
    return summary


def _model_line(data: dict[str, Any] | None) -> str | None:
    if not data:
        return None
    sizes = ", ".join(f"{k}={v}" for k, v in data.items() if k != "arch" and v is not None)
    return f"{data.get('arch')}({sizes})" if sizes else str(data.get("arch"))


def model_card(t: TrialRecord, spec: ExperimentSpec, onnx: dict[str, Any] | None,
               confirmed: dict[str, Any] | None, student_sha256: str | None) -> dict[str, Any]:
    """The card's facts, as card.json holds them."""
    data = spec.to_dict()
    exp: ExperimentRecord = t.experiment
    method = {k: v for k, v in data["method"].items() if v is not None}
    return {
        "kd_automl_version": package_version(),
        "experiment": exp.name, "backend": exp.backend, "trial": t.backend_trial_id,
        "role": t.role, "state": t.state,
        "dataset": {"name": spec.dataset.name, **spec.dataset.options},
        "teacher": None if spec.teacher is None else {
            "model": _model_line(data.get("teacher")), "test_acc": t.teacher_test_acc,
            "params": t.teacher_params},
        "student": {"model": _model_line(data.get("student")), "params": t.student_params,
                    "flops": t.student_flops, "latency_ms": t.student_latency_ms,
                    "sha256": student_sha256},
        "method": method,
        "hyperparameters": dict(t.params),
        "train": {k: v for k, v in data["train"].items() if v is not None},
        "seed": spec.seed,
        "val_acc": t.student_val_acc, "test_acc": t.student_test_acc,
        "baseline_test_acc": exp.baseline_test_acc,
        "confirmed": confirmed,
        "onnx": onnx,
        "reproduce": f"kd-automl train {shlex.quote('spec.yaml')}",
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as the README.md beside the files."""
    teacher, student = card["teacher"], card["student"]
    lines = [f"# {card['student']['model']} distilled on {card['dataset']['name']}", "",
             f"Trial #{card['trial']} ({card['role']}) of experiment `{card['experiment']}` "
             f"({card['backend']}), exported by kd-automl {card['kd_automl_version']}.", "",
             "| | |", "|---|---|",
             f"| dataset | {card['dataset']['name']} |",
             f"| teacher | {teacher['model']}, test {_pct(teacher['test_acc'])} |"
             if teacher else "| teacher | none |",
             f"| method | {card['method'].get('name')} |",
             f"| hyperparameters | {_kv(card['hyperparameters']) or '–'} |",
             f"| validation accuracy | {_pct(card['val_acc'])} |",
             f"| test accuracy | {_pct(card['test_acc'])} |",
             f"| student alone (baseline) | {_pct(card['baseline_test_acc'])} |"]
    if card.get("confirmed"):
        c = card["confirmed"]
        interval = ("" if c.get("ci_low") is None else
                    f" [{_pct(c['ci_low'])}, {_pct(c['ci_high'])}] 95%")
        lines.append(f"| confirmed over {len(c['seeds'])} seeds | {_pct(c['mean'])}{interval} |")
    lines += [f"| params | {student['params']:,} |" if student["params"] else "| params | – |",
              f"| FLOPs | {student['flops']:,} |" if student["flops"] else "| FLOPs | – |",
              f"| latency (trial's device) | {student['latency_ms']:.3f} ms |"
              if student["latency_ms"] else "| latency | – |"]
    onnx = card.get("onnx")
    if onnx and "error" not in onnx:
        lines.append(f"| ONNX | max abs logit diff {onnx['max_abs_logit_diff']:.1e}, test "
                     f"{_pct(onnx['onnxruntime_test_acc'])} in ONNX Runtime |")
    elif onnx:
        lines.append(f"| ONNX | not exported: {onnx['error']} |")
    lines += ["", "## Files", "",
              "- `spec.yaml`: the recipe (`kd-automl check spec.yaml`; "
              "`kd-automl train spec.yaml` retrains it)",
              "- `student.pt`: `kd_automl.load_student('student.pt')` gives the `nn.Module`"
              if student["sha256"] else "- no weights were kept for this trial",
              "- `student.onnx`: batch size dynamic, input `images`, output `logits`"
              if onnx and "error" not in onnx else "",
              "- `card.json`: this card's facts", "",
              "## Reproduce", "", "```", card["reproduce"], "```", ""]
    return "\n".join(lines).replace("\n\n\n", "\n\n")


def _kv(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


__all__ = ["Bundle", "export_trial", "pick_trial", "spec_yaml", "trial_spec"]
