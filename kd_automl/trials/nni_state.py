"""NNI's per-trial state, read again in a forked warm trial.

NNI reads its trial's environment (``NNI_TRIAL_JOB_ID``, ``NNI_OUTPUT_DIR``, the command
channel...) once, when it is imported. The warm trial server imports NNI once, without that
environment; each forked trial, once its environment is in place, calls :func:`reset`, which
does what NNI's import did: the environment read again, the trial's ids, no command channel
yet (made on the first request, from the new environment) and NNI's trial logging
(``trial.log``; print() there, as in a cold trial). NNI 3.0's module globals, checked by
``tests/test_nni_state.py``; where they are not what this expects, NNI is imported afresh.
"""

from __future__ import annotations

import os
import sys


def reset() -> None:
    """Make the imported NNI this process's trial's, as if it had been imported now."""
    try:
        _reset()
    except Exception:  # another NNI than 3.0's layout: import it again (slower, as cold)
        _purge()
        import nni  # noqa: F401
    import nni

    if nni.get_trial_id() != os.environ.get("NNI_TRIAL_JOB_ID", "STANDALONE"):
        _purge()
        import nni  # noqa: F401, F811


def _reset() -> None:
    import nni.trial
    from nni.runtime import env_vars, log, trial_command_channel

    old = (env_vars.trial_env_vars, env_vars.dispatcher_env_vars)
    trial = env_vars._load_env_vars(env_vars._trial_env_var_names)
    dispatcher = env_vars._load_env_vars(env_vars._dispatcher_env_var_names)
    for module in [m for name, m in sys.modules.items() if name.split(".")[0] == "nni"]:
        if getattr(module, "trial_env_vars", None) is old[0]:
            module.trial_env_vars = trial
        if getattr(module, "dispatcher_env_vars", None) is old[1]:
            module.dispatcher_env_vars = dispatcher
    nni.trial._params = None
    nni.trial._experiment_id = trial.NNI_EXP_ID or "STANDALONE"
    nni.trial._trial_id = trial.NNI_TRIAL_JOB_ID or "STANDALONE"
    seq = trial.NNI_TRIAL_SEQ_ID
    nni.trial._sequence_id = int(seq) if seq is not None else 0
    trial_command_channel._channel = None
    log.silence_stdout()  # the server's own stdout handler, added at its import
    if log.handlers:
        raise RuntimeError("NNI's trial logging was set up already")
    log._init_logger()


def _purge() -> None:
    """Forget every NNI module, so the next import reads this trial's environment."""
    import logging

    nni_log = sys.modules.get("nni.runtime.log")
    if nni_log is not None:
        nni_log.silence_stdout()
        for handler in getattr(nni_log, "handlers", {}).values():
            logging.getLogger().removeHandler(handler)
    for name in [n for n in sys.modules if n.split(".")[0] == "nni"]:
        del sys.modules[name]
