"""Slurm: a study's workers as one job array through submitit (``kd-automl optuna --slurm``).

``options.py`` the request (command line or a profile's ``cluster:`` section) and its sbatch
flags; ``scheduler.py`` sbatch/squeue/scontrol/scancel (no sacct: clusters without slurmdbd
have none) and the checks made before anything is submitted; ``task.py`` what one array
task runs (the ``kd-automl optuna worker`` join path); ``launch.py`` prepare the study,
submit, follow the study's progress, cancel on Ctrl-C; ``record.py`` what a submission
leaves in the workspace for ``kd-automl cluster status|cancel|log``.
"""
