"""The Optuna backend: ``study`` (open the storage, load the study, its seeded sampler, the
shared work queue), ``prepare`` (one study readied for a run, for every launcher),
``source`` (the trial runner's source: ask → a planned trial, done → tell; one process's
``trial_loop``) and ``run`` (``run_study`` and its summary, warm start)."""
