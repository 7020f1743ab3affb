"""Intra-op threads per trial: the usable cores shared among the trials that run at once.

Three trials with torch's default threads each on two cores ran 20-40x slower than
one alone; with the cores split between them they do not fight.
"""

from __future__ import annotations

import os

THREADS_ENV = "KD_AUTOML_THREADS"  # explicit threads per trial (overrides the split)
CONCURRENT_ENV = "KD_AUTOML_CONCURRENT_TRIALS"  # trials running at once (NNI passes this)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


_torch_default: list[int] = []


def threads_per_trial(concurrent: int | None = None, override: int | None = None,
                      ceiling: int | None = None) -> int:
    """``override`` (else ``$KD_AUTOML_THREADS``), else usable cores // concurrent trials
    (``concurrent`` defaults to ``$KD_AUTOML_CONCURRENT_TRIALS``, else 1), at most ``ceiling``."""
    override = override or int(os.environ.get(THREADS_ENV) or 0)
    if override > 0:
        return override
    concurrent = concurrent or int(os.environ.get(CONCURRENT_ENV) or 1)
    n = max(1, usable_cores() // max(1, concurrent))
    return min(n, ceiling) if ceiling else n


def set_trial_threads(concurrent: int | None = None, override: int | None = None) -> int:
    """Set torch's intra-op threads for this trial process; returns the number set.

    Without an override, never more than torch's own default for this process.
    """
    import torch

    if not _torch_default:
        _torch_default.append(torch.get_num_threads())
    n = threads_per_trial(concurrent, override, ceiling=_torch_default[0])
    torch.set_num_threads(n)
    return n
