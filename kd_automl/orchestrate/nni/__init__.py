"""NNI backend: launch, watch, resume, view, stop and import NNI 3.0 experiments.

Every NNI call of kd-automl lives in this package and in :mod:`kd_automl.trials.nni`, so NNI
(archived after 3.0) can be replaced: :mod:`.env` (NNI's home in the workspace, the web
UI's guard and secrets; :mod:`.private` keeps them to their user), :mod:`.launch`
(experiments by name of tuner and assessor; trials recorded by
:mod:`kd_automl.orchestrate.recording`), :mod:`.progress` (polling a running one),
:mod:`.importer` (NNI's own database into the store) and :mod:`.tuners` (pairing-safe
tuners).

>>> launch = start(spec, ws, db_url, port=8080)   # doctest: +SKIP
>>> print(launch.url)                              # doctest: +SKIP
"""

from kd_automl.orchestrate.nni.env import nni_home, prepare_env
from kd_automl.orchestrate.nni.importer import import_experiment
from kd_automl.orchestrate.nni.launch import (
    ASSESSORS,
    TUNERS,
    Launch,
    build_experiment,
    connect,
    list_experiments,
    resume,
    start,
    stop,
    view,
)
from kd_automl.orchestrate.nni.progress import FINAL_STATES, Progress, poll, wait

__all__ = ["ASSESSORS", "FINAL_STATES", "TUNERS", "Launch", "Progress", "build_experiment",
           "connect", "import_experiment", "list_experiments", "nni_home", "poll",
           "prepare_env", "resume", "start", "stop", "view", "wait"]
