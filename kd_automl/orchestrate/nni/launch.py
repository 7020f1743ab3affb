"""Launch, resume, view, stop and list NNI experiments whose trials run
``python -m kd_automl.trials.nni``."""

from __future__ import annotations

import json
import secrets
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kd_automl.errors import KDAutoMLError
from kd_automl.orchestrate.gpus import visible_gpus
from kd_automl.orchestrate.nni.env import (
    check_port,
    import_nni,
    load_secret,
    nni_home,
    own_secret,
    prepare_env,
    save_secret,
)
from kd_automl.orchestrate.nni.launched import manager_pid
from kd_automl.orchestrate.nni.private import make_private, private_launch
from kd_automl.orchestrate.nni.trial_server import follow, start_server, stop_server
from kd_automl.spec import ExperimentSpec
from kd_automl.workspace import Workspace

TRIAL_MODULE = "kd_automl.trials.nni"  # run as ``python -m``: found wherever kd_automl is
PACKAGE_PARENT = Path(__file__).resolve().parents[3]  # the folder kd_automl is imported from
TUNERS = ("TPE", "Random", "Anneal", "Evolution", "GridSearch", "Hyperband", "BOHB")
ASSESSORS = ("none", "Medianstop", "Curvefitting")


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
    def maximize(self) -> bool:
        """Whether the experiment's tuner maximises its objective (from NNI's config)."""
        return self.handle.config.tuner.class_args.get("optimize_mode") != "minimize"

    @property
    def max_trials(self) -> int | None:
        """The experiment's trial budget (from NNI's config)."""
        return self.handle.config.max_trial_number

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("127.0.0.1", "0.0.0.0", "") else self.host
        return f"http://{shown}:{self.port}/{self.prefix}/"


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
            class_name=f"kd_automl.orchestrate.nni.tuners.{SAFE_TUNERS[name]}",
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


def build_experiment(spec: ExperimentSpec, ws: Workspace, db_url: str, *, trials: int,
                     concurrency: int, tuner: str, assessor: str, gpus: list[int] | None,
                     use_active_gpu: bool, max_duration: str | None):
    """An NNI ``Experiment`` (not started) whose trials run ``python -m kd_automl.trials.nni``."""
    Experiment, _ = import_nni()
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

def new_prefix() -> str:
    """A web UI's secret URL prefix: 128 random bits as hex. Never URL-safe base64, which
    starts with "-" one time in 64, and NNI's manager then reads the prefix as options
    ("Unknown arguments") and the launch fails."""
    return secrets.token_hex(16)


def start(spec: ExperimentSpec, ws: Workspace, db_url: str, *, port: int, host: str = "127.0.0.1",
          trials: int = 16, concurrency: int = 1, tuner: str = "TPE", assessor: str = "none",
          gpus: list[int] | None = None, use_active_gpu: bool = False,
          max_duration: str | None = None, baseline: bool = True,
          on_baseline: Callable[[], None] | None = None,
          on_wait: Callable[[], None] | None = None) -> Launch:
    """Start an NNI experiment for ``spec`` in the background; returns its URL and ids. Its
    warm trial server starts first, importing while the baseline trains; ``on_wait`` is
    called once if NNI's manager does not answer at once."""
    from kd_automl.orchestrate.recording import check_before_search, run_baseline  # torch

    check_before_search(spec)
    prefix = new_prefix()
    prepare_env(ws, host, prefix)
    check_port(host, port)
    exp, store_name = build_experiment(spec, ws, db_url, trials=trials, concurrency=concurrency,
                                       tuner=tuner, assessor=assessor, gpus=gpus,
                                       use_active_gpu=use_active_gpu, max_duration=max_duration)
    server = start_server(ws, exp.id, spec.dataset.name)
    if baseline:
        from kd_automl.store import Store

        store = Store(db_url)
        try:
            run_baseline(spec, store, store.experiment(spec, "nni", name=store_name,
                                                       study_name=exp.id), ws)
        except BaseException:
            stop_server(server)
            raise
        if on_baseline:
            on_baseline()
    return _launch(exp, ws, port, host, prefix, store_name, action="create", server=server,
                   on_wait=on_wait)


def _launch(exp, ws: Workspace, port: int, host: str, prefix: str, store_name: str,
            action: str, server: Path | None = None,
            on_wait: Callable[[], None] | None = None) -> Launch:
    _, RunMode = import_nni()
    exp.url_prefix = prefix
    save_secret(ws, exp.id, {"prefix": prefix, "port": port, "host": host,
                              "store_name": store_name})
    try:
        with private_launch(on_wait):  # the prefix reaches NNI's manager by environment only
            if action == "view":
                exp.view(port=port, non_blocking=True)
            else:
                if action == "resume":
                    exp.load_checkpoint()
                    exp._action = "resume"  # NNI's own resume() has no detached mode
                exp.start(port, debug=False, run_mode=RunMode.Detach)
    except BaseException as err:
        stop_server(server)
        if not isinstance(err, Exception):
            raise
        raise KDAutoMLError(f"NNI failed to {action} experiment {exp.id}: "
                            f"{type(err).__name__}: {err}") from None
    finally:
        make_private(nni_home(ws))
    follow(server, manager_pid(ws, exp.id))  # the trial server stops with NNI's manager
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


def _stored_spec(ws: Workspace, exp_id: str) -> dict[str, Any]:
    """The spec a kd-automl experiment was started with, as its trials read it ({} if none)."""
    spec_file = nni_home(ws) / "specs" / f"{exp_id}.json"
    try:
        return json.loads(spec_file.read_text())
    except (OSError, ValueError):
        return {}


def store_name_of(ws: Workspace, exp_id: str) -> str:
    name = load_secret(ws, exp_id).get("store_name")
    if name:
        return name
    return f"{_stored_spec(ws, exp_id).get('name', 'nni')}-{exp_id}"


def resume(ws: Workspace, exp_id: str, *, port: int, host: str = "127.0.0.1",
           trials: int | None = None, on_wait: Callable[[], None] | None = None) -> Launch:
    """Resume a stopped experiment (optionally raising its trial budget to ``trials``)."""
    prefix = new_prefix()
    prepare_env(ws, host, prefix)
    check_port(host, port)
    info = _stored_experiment(ws, exp_id)
    if _alive(info):
        raise KDAutoMLError(f"experiment {exp_id} is still served (status "
                            f"{info.get('status')}, port {info.get('port')}); run "
                            f"`kd-automl nni stop {exp_id}` first")
    Experiment, _ = import_nni()
    exp = Experiment(None, id=exp_id)
    dataset = _stored_spec(ws, exp_id).get("dataset", {}).get("name", "")
    server = start_server(ws, exp_id, dataset)
    launch = _launch(exp, ws, port, host, prefix, store_name_of(ws, exp_id), action="resume",
                     server=server, on_wait=on_wait)
    if trials is not None:
        exp.update_max_trial_number(trials)
    return launch


def view(ws: Workspace, exp_id: str, *, port: int, host: str = "127.0.0.1") -> Launch:
    """Serve the web UI of a stopped experiment, read-only."""
    prefix = new_prefix()
    prepare_env(ws, host, prefix)
    check_port(host, port)
    if _alive(_stored_experiment(ws, exp_id)):
        raise KDAutoMLError(f"experiment {exp_id} is still running; `kd-automl nni stop "
                            f"{exp_id}` first, or open the URL printed at its launch")
    Experiment, _ = import_nni()
    return _launch(Experiment(None, id=exp_id), ws, port, host, prefix, store_name_of(ws, exp_id),
                   action="view")


def _alive(info: dict[str, Any]) -> bool:
    import psutil

    pid = info.get("pid")
    return bool(pid) and psutil.pid_exists(pid)


def connect(ws: Workspace, exp_id: str):
    """A handle on a running experiment of this workspace (its port and prefix from launch)."""
    prepare_env(ws)
    info = _stored_experiment(ws, exp_id)
    secret = load_secret(ws, exp_id)
    Experiment, _ = import_nni()
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


def web_url(ws: Workspace, exp_id: str) -> str | None:
    """The web UI's URL of a served experiment, for the user who launched it (its secret
    prefix is theirs: :func:`~kd_automl.orchestrate.nni.env.own_secret`); None otherwise."""
    secret = own_secret(ws, exp_id)
    if not (secret.get("prefix") and secret.get("port")):
        return None
    return Launch(exp_id, secret["port"], secret.get("host") or "127.0.0.1", secret["prefix"],
                  secret.get("store_name", "")).url


def list_experiments(ws: Workspace) -> list[dict[str, Any]]:
    """Every NNI experiment of this workspace, newest first, with a live status and, for
    the user who launched it, the web UI's URL while it is served."""
    prepare_env(ws)
    rows = []
    for exp_id, info in _registry(ws).items():
        status, alive = info.get("status", "?"), _alive(info)
        if status not in ("STOPPED",) and not alive:
            status = "STOPPED"
        rows.append({"id": exp_id, "name": info.get("experimentName"), "status": status,
                     "port": info.get("port"), "started": info.get("startTime"),
                     "store_name": store_name_of(ws, exp_id),
                     "url": web_url(ws, exp_id) if alive else None})
    return sorted(rows, key=lambda r: r.get("started") or 0, reverse=True)

