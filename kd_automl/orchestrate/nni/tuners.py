"""NNI tuners that survive NNI 3.0's parameter mix-up under concurrency (NNI issue 5726).

NNI 3.0 hands parameter sets to trials first come, first served, but tells the
tuner a trial ended under the parameter id it *recorded* for the job. The
stock TPE and Evolution tuners then forget a parameter set that is still
running and crash (``KeyError``) when its real result arrives, which stops the
whole experiment. These subclasses keep every set they generated and accept
results for any of them. They are referenced by class name in the experiment
config, so NNI's dispatcher imports them from the kd-automl install.
"""

from __future__ import annotations

import logging

from nni.algorithms.hpo.evolution_tuner import EvolutionTuner
from nni.algorithms.hpo.tpe_tuner import TpeTuner

log = logging.getLogger(__name__)


class PairingSafeTpeTuner(TpeTuner):
    """NNI's TPE; a result for a parameter id already retired by ``trial_end`` still counts."""

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        if parameter_id not in self._running_params:
            if parameter_id not in self._params:
                log.warning("result for unknown parameter id %s ignored", parameter_id)
                return
            self._running_params[parameter_id] = self._params[parameter_id]
        super().receive_trial_result(parameter_id, parameters, value, **kwargs)


class _Remembering(dict):
    """A dict that remembers every value ever stored, for lookups after a wrong ``pop``."""

    def __init__(self):
        super().__init__()
        self.ever: dict = {}

    def __setitem__(self, key, value):
        self.ever[key] = value
        super().__setitem__(key, value)


class PairingSafeEvolutionTuner(EvolutionTuner):
    """NNI's Evolution tuner with the same tolerance."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.running_trials = _Remembering()

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        if parameter_id not in self.running_trials:
            if parameter_id not in self.running_trials.ever:
                log.warning("result for unknown parameter id %s ignored", parameter_id)
                return
            dict.__setitem__(self.running_trials, parameter_id,
                             self.running_trials.ever[parameter_id])
        super().receive_trial_result(parameter_id, parameters, value, **kwargs)

    def trial_end(self, parameter_id, success, **kwargs):
        if not success and parameter_id not in self.running_trials:
            dict.__setitem__(self.running_trials, parameter_id, None)
        super().trial_end(parameter_id, success, **kwargs)
