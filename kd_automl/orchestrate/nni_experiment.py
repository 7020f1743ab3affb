"""NNI backend: launch, watch, resume, view, stop and import NNI 3.0 experiments.

Every NNI call of kd-automl lives here and in ``kd_automl/trials/nni.py``, so NNI
(archived after 3.0) can be replaced. NNI keeps its experiment registry under
``$HOME/nni-experiments``; kd-automl points ``HOME`` for NNI at
``<workspace>/nni`` so everything NNI writes lives in the workspace
(``nni/nni-experiments/<id>``, one folder per experiment).

The web UI is guarded: the Node.js manager is preloaded with ``nni_guard.js``,
which binds it to 127.0.0.1 (``host`` to change) and answers a bare 404 to
every request outside an unguessable URL prefix, printed once at launch and
kept off every command line and out of every file other users can read
(``nni_private.py``).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.gpus import visible_gpus
from kd_automl.orchestrate.nni_private import make_private, private_launch
from kd_automl.spec import ExperimentSpec
from kd_automl.workspace import Workspace

TRIAL_MODULE = "kd_automl.trials.nni"  # run as ``python -m``: found wherever kd_automl is
PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder kd_automl is imported from
GUARD_JS = Path(__file__).with_name("nni_guard.js")
TUNERS = ("TPE", "Random", "Anneal", "Evolution", "GridSearch", "Hyperband", "BOHB")
ASSESSORS = ("none", "Medianstop", "Curvefitting")
FINAL_STATES = ("DONE", "STOPPED", "ERROR")


@dataclass
class Launch:
    """A running (or finished) NNI experiment as kd-automl started it."""

    id: str
    port: int
    host: str
    prefix: str
    store_name: str
    handle: Any = field(repr=False, default=None)

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("127.0.0.1", "0.0.0.0", "") else self.host
        return f"http://{shown}:{self.port}/{self.prefix}/"


@dataclass
class Progress:
    status: str
    counts: dict[str, int]
    best: float | None
    errors: list[str] = field(default_factory=list)


# -- environment ---------------------------------------------------------------------------

def nni_home(ws: Workspace) -> Path:
    return ws.folder("nni")


def _prepare_env(ws: Workspace, host: str = "127.0.0.1", prefix: str = "") -> None:
    """Point NNI at the workspace and preload the guard; must run before NNI is imported."""
    home = nni_home(ws)
    make_private(home)  # it holds the prefix (registry, logs): this user's alone
    os.environ["HOME"] = str(home)
    os.environ["NNI_CONFIG_DIR"] = str(home / "config")
    os.environ["KD_AUTOML_NNI_HOST"] = host
    os.environ["KD_AUTOML_NNI_PREFIX"] = prefix
    opts = [o for o in os.environ.get("NODE_OPTIONS", "").split() if "nni_guard" not in o]
    os.environ["NODE_OPTIONS"] = " ".join([*opts, f"--require={GUARD_JS}"])
    if "nni.tools.nnictl.constants" in sys.modules:
        registry = Path(sys.modules["nni.tools.nnictl.constants"].NNI_HOME_DIR)
        if registry.parent != home:
            raise KDAutoMLError("NNI was already used with another workspace in this process; "
                                "run one workspace per kd-automl command")


def _import_nni():
    try:
        import nni  # noqa: F401
        from nni.experiment import Experiment, RunMode
    except Exception as err:  # missing or broken install
        raise KDAutoMLError(f"NNI is not usable ({type(err).__name__}: {err}); "
                            "reinstall with `uv sync`") from None
    import logging

    # NNI logs every step and a list of "web portal URLs" on all interfaces, which the guard
    # makes wrong; kd-automl prints the one URL that works
    if not logging.getLogger().isEnabledFor(logging.INFO):
        for name in ("nni", "nni.experiment", "nni.runtime"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return Experiment, RunMode


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host if host not in ("", "0.0.0.0") else "0.0.0.0", port))
        except OSError:
            raise KDAutoMLError(f"port {port} is in use; pass --port with a free one") from None


def _secret_file(ws: Workspace, exp_id: str) -> Path:
    return nni_home(ws) / "secrets" / exp_id


def _save_secret(ws: Workspace, exp_id: str, info: dict[str, Any]) -> None:
    path = _secret_file(ws, exp_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)


def _load_secret(ws: Workspace, exp_id: str) -> dict[str, Any]:
    try:
        return json.loads(_secret_file(ws, exp_id).read_text())
    except (OSError, ValueError):
        return {}


# -- building the experiment ---------------------------------------------------------------

def _tuner(spec: ExperimentSpec, name: str) -> tuple[str, dict[str, Any]]:
    if name not in TUNERS:
        raise KDAutoMLError(f"unknown tuner {name!r}; use one of {', '.join(TUNERS)}")
    mode = {"optimize_mode": spec.objective.direction}
    if name in ("TPE", "Random"):
        return name, {**mode, "seed": spec.seed}
    if name == "Evolution":
        return name, {**mode, "population_size": 8}
    if name in ("Hyperband", "BOHB"):
        if name == "BOHB":
            try:
                import ConfigSpace  # noqa: F401
                import statsmodels  # noqa: F401
            except ImportError:
                raise KDAutoMLError("the BOHB tuner needs the ConfigSpace and statsmodels "
                                    "packages; use Hyperband or TPE, or install them") from None
        return name, {**mode, "R": spec.train.epochs, "eta": 3}
    return name, mode


SAFE_TUNERS = {"TPE": "PairingSafeTpeTuner", "Evolution": "PairingSafeEvolutionTuner"}


def _tuner_config(name: str, args: dict[str, Any]):
    """NNI's tuner by name, or its pairing-safe subclass where the stock one can crash."""
    from nni.experiment.config import AlgorithmConfig, CustomAlgorithmConfig

    if name in SAFE_TUNERS:
        return CustomAlgorithmConfig(
            class_name=f"kd_automl.orchestrate.nni_tuners.{SAFE_TUNERS[name]}",
            code_directory=str(PACKAGE_PARENT), class_args=args)
    return AlgorithmConfig(name=name, class_args=args)


def _assessor(spec: ExperimentSpec, name: str) -> tuple[str, dict[str, Any]] | None:
    if name not in ASSESSORS:
        raise KDAutoMLError(f"unknown assessor {name!r}; use one of {', '.join(ASSESSORS)}")
    if name == "none":
        return None
    args = {"optimize_mode": spec.objective.direction,
            "start_step": max(1, spec.pruner.warmup_epochs)}
    if name == "Curvefitting":
        args = {"epoch_num": spec.train.epochs, "start_step": args["start_step"], "threshold": 0.95}
    return name, args


def _check_space(spec: ExperimentSpec, tuner: str) -> None:
    types = {e["_type"] for e in spec.search.values()}
    if tuner == "GridSearch" and types & {"normal", "qnormal", "lognormal", "qlognormal"}:
        raise KDAutoMLError("the GridSearch tuner cannot enumerate normal-family ranges "
                            f"({', '.join(sorted(types))}); use TPE or another tuner")
    if not spec.search:
        raise KDAutoMLError(f"spec {spec.name!r} has an empty 'search' section: nothing to tune")


def build_experiment(spec: ExperimentSpec, ws: Workspace, db_url: str, *, trials: int,
                     concurrency: int, tuner: str, assessor: str, gpus: list[int] | None,
                     use_active_gpu: bool, max_duration: str | None):
    """An NNI ``Experiment`` (not started) whose trials run ``python -m kd_automl.trials.nni``."""
    Experiment, _ = _import_nni()
    _check_space(spec, tuner)
    exp = Experiment("local")
    c = exp.config
    c.experiment_name = spec.name
    c.search_space = spec.search
    c.tuner = _tuner_config(*_tuner(spec, tuner))
    assessed = _assessor(spec, assessor)
    if assessed:
        from nni.experiment.config import AlgorithmConfig

        c.assessor = AlgorithmConfig(name=assessed[0], class_args=assessed[1])
    store_name = f"{spec.name}-{exp.id}"
    spec_file = nni_home(ws) / "specs" / f"{exp.id}.json"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(spec.to_dict(), indent=2))
    c.trial_command = shlex.join([
        sys.executable, "-m", TRIAL_MODULE, "--spec", str(spec_file), "--db", db_url,
        "--workspace", str(ws.root), "--experiment", store_name,
        "--concurrency", str(concurrency)])  # each trial takes its share of the cores
    # an empty folder of the workspace: the trial's working directory (and sys.path[0])
    c.trial_code_directory = str(ws.folder("nni") / "trial")
    Path(c.trial_code_directory).mkdir(exist_ok=True)
    c.trial_concurrency = concurrency
    c.max_trial_number = trials
    if max_duration:
        c.max_experiment_duration = max_duration
    c.experiment_working_directory = str(nni_home(ws) / "nni-experiments")
    devices = visible_gpus(gpus)
    c.trial_gpu_number = 1 if devices else 0
    c.training_service.use_active_gpu = use_active_gpu
    if devices:
        c.training_service.gpu_indices = [int(d) for d in devices]
        c.training_service.max_trial_number_per_gpu = 1
    try:
        c.canonical_copy()
    except Exception as err:
        raise KDAutoMLError(f"NNI cannot run this spec: {err}") from None
    return exp, store_name


# -- lifecycle -----------------------------------------------------------------------------

def start(spec: ExperimentSpec, ws: Workspace, db_url: str, *, port: int, host: str = "127.0.0.1",
          trials: int = 16, concurrency: int = 1, tuner: str = "TPE", assessor: str = "none",
          gpus: list[int] | None = None, use_active_gpu: bool = False,
          max_duration: str | None = None, baseline: bool = True,
          on_baseline: Callable[[], None] | None = None) -> Launch:
    """Start an NNI experiment for ``spec`` in the background; returns its URL and ids."""
    from kd_automl.data import ensure_available

    ensure_available(spec.dataset.name, spec.dataset.options)
    prefix = secrets.token_urlsafe(18)
    _prepare_env(ws, host, prefix)
    _check_port(host, port)
    exp, store_name = build_experiment(spec, ws, db_url, trials=trials, concurrency=concurrency,
                                       tuner=tuner, assessor=assessor, gpus=gpus,
                                       use_active_gpu=use_active_gpu, max_duration=max_duration)
    if baseline:
        from kd_automl.orchestrate.optuna_study import run_baseline
        from kd_automl.store import Store

        store = Store(db_url)
        run_baseline(spec, store, store.experiment(spec, "nni", name=store_name,
                                                   study_name=exp.id), ws)
        if on_baseline:
            on_baseline()
    return _launch(exp, ws, port, host, prefix, store_name, action="create")


def _launch(exp, ws: Workspace, port: int, host: str, prefix: str, store_name: str,
            action: str) -> Launch:
    _, RunMode = _import_nni()
    exp.url_prefix = prefix
    _save_secret(ws, exp.id, {"prefix": prefix, "port": port, "host": host,
                              "store_name": store_name})
    try:
        with private_launch():  # the prefix reaches NNI's manager by environment only
            if action == "view":
                exp.view(port=port, non_blocking=True)
            else:
                if action == "resume":
                    exp.load_checkpoint()
                    exp._action = "resume"  # NNI's own resume() has no detached mode
                exp.start(port, debug=False, run_mode=RunMode.Detach)
    except Exception as err:
        raise KDAutoMLError(f"NNI failed to {action} experiment {exp.id}: "
                            f"{type(err).__name__}: {err}") from None
    finally:
        make_private(nni_home(ws))
    return Launch(exp.id, port, host, prefix, store_name, exp)


def _registry(ws: Workspace) -> dict[str, dict[str, Any]]:
    path = nni_home(ws) / "nni-experiments" / ".experiment"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _stored_experiment(ws: Workspace, exp_id: str) -> dict[str, Any]:
    info = _registry(ws).get(exp_id)
    if info is None:
        raise KDAutoMLError(f"no NNI experiment {exp_id!r} in workspace {ws.root} "
                            "(see `kd-automl nni list`)")
    return info


def _store_name(ws: Workspace, exp_id: str) -> str:
    name = _load_secret(ws, exp_id).get("store_name")
    if name:
        return name
    spec_file = nni_home(ws) / "specs" / f"{exp_id}.json"
    spec = json.loads(spec_file.read_text()) if spec_file.exists() else {}
    return f"{spec.get('name', 'nni')}-{exp_id}"


def resume(ws: Workspace, exp_id: str, *, port: int, host: str = "127.0.0.1",
           trials: int | None = None) -> Launch:
    """Resume a stopped experiment (optionally raising its trial budget to ``trials``)."""
    prefix = secrets.token_urlsafe(18)
    _prepare_env(ws, host, prefix)
    _check_port(host, port)
    info = _stored_experiment(ws, exp_id)
    if _alive(info):
        raise KDAutoMLError(f"experiment {exp_id} is still served (status "
                            f"{info.get('status')}, port {info.get('port')}); run "
                            f"`kd-automl nni stop {exp_id}` first")
    Experiment, _ = _import_nni()
    exp = Experiment(None, id=exp_id)
    launch = _launch(exp, ws, port, host, prefix, _store_name(ws, exp_id), action="resume")
    if trials is not None:
        exp.update_max_trial_number(trials)
    return launch


def view(ws: Workspace, exp_id: str, *, port: int, host: str = "127.0.0.1") -> Launch:
    """Serve the web UI of a stopped experiment, read-only."""
    prefix = secrets.token_urlsafe(18)
    _prepare_env(ws, host, prefix)
    _check_port(host, port)
    if _alive(_stored_experiment(ws, exp_id)):
        raise KDAutoMLError(f"experiment {exp_id} is still running; `kd-automl nni stop "
                            f"{exp_id}` first, or open the URL printed at its launch")
    Experiment, _ = _import_nni()
    return _launch(Experiment(None, id=exp_id), ws, port, host, prefix, _store_name(ws, exp_id),
                   action="view")


def _alive(info: dict[str, Any]) -> bool:
    import psutil

    pid = info.get("pid")
    return bool(pid) and psutil.pid_exists(pid)


def connect(ws: Workspace, exp_id: str):
    """A handle on a running experiment of this workspace (its port and prefix from launch)."""
    _prepare_env(ws)
    info = _stored_experiment(ws, exp_id)
    secret = _load_secret(ws, exp_id)
    Experiment, _ = _import_nni()
    import psutil

    exp = Experiment(None, id=exp_id)
    exp.port = secret.get("port") or info.get("port")
    exp.url_prefix = secret.get("prefix") or info.get("prefixUrl")
    if _alive(info):
        exp._proc = psutil.Process(info["pid"])
    return exp


def stop(ws: Workspace, exp_id: str) -> bool:
    """Stop a running experiment; False when it was not running."""
    info = _stored_experiment(ws, exp_id)
    if not _alive(info):
        return False
    exp = connect(ws, exp_id)
    try:
        exp.stop()
    except Exception:
        import psutil

        psutil.Process(info["pid"]).terminate()
    return True


def list_experiments(ws: Workspace) -> list[dict[str, Any]]:
    """Every NNI experiment of this workspace, newest first, with a live status."""
    _prepare_env(ws)
    rows = []
    for exp_id, info in _registry(ws).items():
        status = info.get("status", "?")
        if status not in ("STOPPED",) and not _alive(info):
            status = "STOPPED"
        rows.append({"id": exp_id, "name": info.get("experimentName"), "status": status,
                     "port": info.get("port"), "started": info.get("startTime"),
                     "store_name": _store_name(ws, exp_id)})
    return sorted(rows, key=lambda r: r.get("started") or 0, reverse=True)


def poll(exp, store, store_name: str, maximize: bool) -> Progress:
    """Status of the experiment, trial counts by NNI state, best stored objective."""
    status = exp.get_status()
    counts: dict[str, int] = {}
    for job in exp.list_trial_jobs():
        counts[job.status] = counts.get(job.status, 0) + 1
    best = None
    exps = store.experiments([store_name])
    if exps:
        metric = exps[0].objective_metric
        vals = [getattr(t, f"student_{metric}") for t in store.trials([exps[0].id])
                if t.role == "search" and t.state == "complete"]
        vals = [v for v in vals if v is not None]
        if vals:
            best = max(vals) if maximize else min(vals)
    errors = []
    if status == "ERROR":
        try:
            from nni.experiment import rest

            errors = rest.get(exp.port, "/check-status", exp.url_prefix).get("errors", [])
        except Exception:
            pass
    return Progress(status, counts, best, errors)


def wait(exp, store, store_name: str, maximize: bool, on_progress: Callable[[Progress], None],
         interval: float = 1.0) -> Progress:
    """Poll until the experiment is DONE, STOPPED or ERROR."""
    while True:
        progress = poll(exp, store, store_name, maximize)
        on_progress(progress)
        if progress.status in FINAL_STATES:
            return progress
        time.sleep(interval)


# -- import --------------------------------------------------------------------------------

def import_experiment(ws: Workspace, exp_id: str, store, spec: ExperimentSpec | None = None,
                      nni_dir: Path | None = None) -> tuple[str, int]:
    """Copy an experiment's trials from NNI's own database into the store.

    Each metric is paired with the parameters of the parameter id recorded *in
    the metric*, never with the job's own (possibly mismatched) parameter
    record. Returns the store experiment name and the number of trials copied.
    """
    from kd_automl.engine import TrialResult
    from kd_automl.spec import parse_spec

    folder = nni_dir or (nni_home(ws) / "nni-experiments" / exp_id)
    db_file = folder / "db" / "nni.sqlite"
    if not db_file.exists():
        raise KDAutoMLError(f"no NNI database at {db_file}; pass --nni-dir with the folder of "
                            f"experiment {exp_id}")
    if spec is None:
        spec_file = nni_home(ws) / "specs" / f"{exp_id}.json"
        if not spec_file.exists():
            raise KDAutoMLError(f"experiment {exp_id} was not launched by kd-automl; pass --spec "
                                "with the spec it ran")
        spec = parse_spec(json.loads(spec_file.read_text()), str(spec_file))
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as conn:
        # parameter ids restart when an experiment is resumed: keep every (time, params) per id
        params_by_id: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        job_states: dict[str, str] = {}
        for ts, job_id, event, hp in conn.execute(
                "SELECT timestamp, trialJobId, event, data FROM TrialJobEvent "
                "ORDER BY timestamp"):
            job_states[job_id] = event
            for raw in _hyper_parameters(hp):
                params_by_id.setdefault(str(raw.get("parameter_id")), []).append(
                    (ts, raw.get("parameters", {})))
        metrics: dict[str, list[tuple[int, str, str, dict]]] = {}
        for ts, job_id, pid, kind, data in conn.execute(
                "SELECT timestamp, trialJobId, parameterId, type, data FROM MetricData "
                "ORDER BY timestamp"):
            metrics.setdefault(job_id, []).append((ts, str(pid), kind, _metric(data)))
    name = _store_name(ws, exp_id)
    exp_row = store.experiment(spec, "nni", name=name, study_name=exp_id)
    copied = 0
    for job_id, state in job_states.items():
        rows = metrics.get(job_id, [])
        pid = rows[0][1] if rows else None
        final = [m for _, _, kind, m in rows if kind == "FINAL"]
        curve = [{**{k: v for k, v in m.items() if isinstance(v, int | float)}, "epoch": i + 1}
                 for i, m in enumerate(r[3] for r in rows if r[2] == "PERIODICAL")]
        # the metric names its parameter id; of that id's records, the one issued last before
        # the metric is the set this trial received (ids repeat across resumes)
        params = {}
        if pid is not None:
            issued = [p for ts, p in params_by_id.get(pid, []) if ts <= rows[0][0]]
            params = issued[-1] if issued else {}
        existing = [t for t in store.trials([exp_row]) if t.backend_trial_id == job_id]
        if existing and existing[0].state == "complete":
            continue  # written by the trial itself: the better record
        result = TrialResult(status="complete" if final else (
            "failed" if state in ("FAILED", "SYS_CANCELED") else "pruned"),
            curve=curve, extra={"nni_parameter_id": pid, "imported": True})
        if final:
            value = final[-1].get("default")
            result.student_val_acc = value if spec.objective.metric == "val_acc" else None
            result.student_test_acc = final[-1].get("student_test_acc", (
                value if spec.objective.metric == "test_acc" else None))
            result.teacher_test_acc = final[-1].get("teacher_test_acc")
        elif state == "FAILED":
            result.error = "failed in NNI (imported; see the trial's stderr in NNI's folder)"
        trial_id = store.start_trial(exp_row, job_id, params)
        store.finish_trial(trial_id, result)
        copied += 1
    return name, copied


def _hyper_parameters(data: str | None) -> list[dict[str, Any]]:
    if not data:
        return []
    try:
        value = json.loads(data)
    except ValueError:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except ValueError:
                continue
        if isinstance(item, dict) and "parameters" in item:
            out.append(item)
    return out


def _metric(data: str) -> dict[str, Any]:
    value: Any = data
    for _ in range(3):  # NNI encodes metric data as JSON inside JSON
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                break
    if isinstance(value, int | float):
        return {"default": float(value)}
    return value if isinstance(value, dict) else {}
