"""Processes that run a ``kd-automl`` command of their own: a launch from the dashboard
(``launch.py``) and the stop of a launched NNI experiment (``nni_stop.py``). They sit above
the CLI (they call it), so nothing below imports the CLI."""
