"""The NNI backend of a ResKD stage: NNI 3.0 multi-trial NAS over a ``ModelSpace``.

Every NNI call of ResKD lives in this file, so NNI can be replaced.

The res-student space (:class:`~kd_automl.reskd.config.ArchSpace`) becomes a
``nni.nas.nn.pytorch.ModelSpace`` with one ``nni.choice`` mutable per dimension
(depth, width, block, kernel); NNI freezes a sample by re-running the space's
``__init__`` with the chosen values, which builds the same
:class:`~kd_automl.reskd.space.ResStudent` the Optuna backend builds. A
``NasExperiment`` with NNI's strategy (``Random``, ``RegularizedEvolution``,
``TPE``) explores it; a ``FunctionalEvaluator`` trains each sampled model through
:meth:`StageSearch.evaluate` and reports its objective with ``nni.report_final_result``.

The experiment runs on NNI's *sequential* execution engine: models are evaluated
one after another in this process, so no NNI manager, web UI or trial subprocess
is involved (the residual targets live in this process's memory). As for the HPO
backend, ``HOME`` and NNI's config folder point at ``<workspace>/nni`` first
(:func:`kd_automl.orchestrate.nni.prepare_env`), so the experiment
registry and folders (``nni/nas-experiments/<id>``) live in the workspace.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from kd_automl.errors import KDAutoMLError
from kd_automl.extras import require_nni
from kd_automl.reskd.config import ArchSpace
from kd_automl.reskd.search import StageSearch
from kd_automl.workspace import Workspace

STRATEGIES = ("Random", "RegularizedEvolution", "TPE")


def _import_nas():
    """NNI's NAS modules, without PyTorch-Lightning (only NNI's Lightning evaluators need it)."""
    require_nni()
    try:
        import nni

        nni.set_default_framework("none")
        with warnings.catch_warnings():  # NNI warns about torch classes it does not know
            warnings.simplefilter("ignore")
            from nni.nas.nn.pytorch import ModelSpace
        from nni.nas import strategy
        from nni.nas.evaluator import FunctionalEvaluator
        from nni.nas.experiment import NasExperiment, NasExperimentConfig
    except Exception as err:
        raise KDAutoMLError(f"NNI NAS is not usable ({type(err).__name__}: {err}); reinstall "
                            'it: pip install "kd-automl[nni]" (or `uv sync` in a checkout)'
                            ) from None
    if not logging.getLogger().isEnabledFor(logging.INFO):
        for name in ("nni", "nni.nas", "nni.experiment", "nni.runtime"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return nni, ModelSpace, strategy, FunctionalEvaluator, NasExperiment, NasExperimentConfig


def model_space(space: ArchSpace, input_shape: tuple[int, ...], num_classes: int):
    """The res-student space as an NNI ``ModelSpace`` (class built on first use)."""
    nni, ModelSpace, *_ = _import_nas()
    from nni.mutable import ensure_frozen
    from nni.nas.space import model_context

    from kd_automl.reskd.space import build_res_student

    class ResStudentSpace(ModelSpace):
        def __init__(self, choices: dict[str, list[Any]], input_shape: tuple[int, ...],
                     num_classes: int):
            super().__init__()
            mutables = {k: self.add_mutable(nni.choice(k, v)) for k, v in choices.items()}
            # frozen by NNI: the sampled values; unfrozen (the space itself): the first choices
            self.arch = {k: ensure_frozen(m, strict=False) for k, m in mutables.items()}
            self.net = build_res_student(self.arch, input_shape, num_classes)

        def freeze(self, sample: dict[str, Any]) -> ResStudentSpace:
            with model_context(sample):  # NNI's recipe: re-create the space in a frozen context
                return self.__class__(*self.trace_args, **self.trace_kwargs)

        def forward(self, x):
            return self.net(x)

    return ResStudentSpace(space.choices(), tuple(input_shape), num_classes)


def _evaluate(model, stage: StageSearch) -> None:
    import nni

    nni.report_final_result(stage.evaluate(dict(model.arch), model.net))


def _strategy(strategy_mod, name: str, n_trials: int, seed: int):
    if name == "Random":
        return strategy_mod.Random(dedup=True, seed=seed)
    if name == "RegularizedEvolution":
        population = max(2, n_trials // 2)
        return strategy_mod.RegularizedEvolution(population_size=population,
                                                 sample_size=max(1, population // 2),
                                                 mutation_prob=0.25, dedup=True, seed=seed)
    if name == "TPE":
        return strategy_mod.TPE(optimize_mode="maximize", seed=seed)
    raise KDAutoMLError(f"unknown NAS strategy {name!r}; use one of {', '.join(STRATEGIES)}")


def search_stage_nni(stage: StageSearch, space: ArchSpace, n_trials: int, seed: int,
                     strategy: str, ws: Workspace) -> str:
    """Run one NNI NAS experiment for ``stage``; returns its NNI experiment id."""
    from kd_automl.orchestrate.nni import nni_home, prepare_env

    prepare_env(ws)
    nni, _, strategy_mod, FunctionalEvaluator, NasExperiment, NasExperimentConfig = _import_nas()
    from nni.experiment import RunMode

    data = stage.ctx.data
    config = NasExperimentConfig("sequential", "simplified")
    config.experiment_name = f"{stage.ctx.spec.name}-reskd-stage{stage.stage}"
    config.max_trial_number = n_trials
    config.execution_engine.continue_on_failure = True
    config.experiment_working_directory = str(nni_home(ws) / "nas-experiments")
    exp = NasExperiment(model_space(space, data.input_shape, data.num_classes),
                        FunctionalEvaluator(_evaluate, stage=stage),
                        _strategy(strategy_mod, strategy, n_trials, seed), config)
    try:
        exp.start(run_mode=RunMode.Detach)  # sequential engine: returns when the strategy ends
    except KDAutoMLError:
        raise
    except Exception as err:
        raise KDAutoMLError(f"NNI NAS failed in stage {stage.stage}: "
                            f"{type(err).__name__}: {err}") from None
    finally:
        try:
            exp.stop()
        except Exception:  # stopping a finished sequential experiment only updates its manifest
            pass
    return exp.id
