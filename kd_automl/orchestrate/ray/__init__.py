"""Ray: a study's workers as Ray actors (``kd-automl optuna SPEC --ray ADDRESS``).

``options.py`` the request (workers, CPUs and fractional GPUs per worker, restarts);
``connect.py`` whether Ray is installed, connecting to the cluster (an unreachable address is
one clear error) and what it has; ``actor.py`` the worker actor (the ``kd-automl optuna
worker`` join path in the actor's main thread) and the stop flag the launcher raises on
Ctrl-C; ``launch.py`` prepare the study, start the actors, follow the study's progress, stop
them. Only this package imports Ray.
"""
