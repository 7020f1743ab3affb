"""What a Slurm launch asks of the cluster: from the command line or a profile file.

A profile is a YAML file with a ``cluster:`` section (kept apart from the experiment spec, so
a spec stays portable)::

    cluster:
      partition: gpu
      gpus_per_worker: 1
      cpus_per_worker: 4
      mem: 16G
      time: "12:00:00"
      account: mylab
      qos: normal
      workers: 8

Options given on the command line win over the profile's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from kd_automl.errors import KDAutoMLError

SIGNAL_S = 120  # seconds between the time-limit signal (USR1) and the time limit


@dataclass(frozen=True)
class SlurmOptions:
    workers: int = 1  # array tasks, one worker each
    partition: str | None = None
    gpus_per_worker: int = 0
    cpus_per_worker: int = 1
    mem: str | None = None  # Slurm's format: 16G, 4000M
    time: str | None = None  # Slurm's format: 12:00:00, 2-00:00:00, 90 (minutes)
    account: str | None = None
    qos: str | None = None
    single_node: bool = False  # allow SQLite: every task on this one machine
    signal_s: int = SIGNAL_S

    def sbatch_flags(self) -> dict[str, Any]:
        """The resource flags (``--name=value``; True: a bare flag), the same for
        ``sbatch --test-only`` and the submission."""
        flags: dict[str, Any] = {"cpus-per-task": self.cpus_per_worker}
        for name, value in (("partition", self.partition), ("mem", self.mem),
                            ("time", self.time), ("account", self.account),
                            ("qos", self.qos)):
            if value not in (None, ""):
                flags[name] = str(value)
        if self.gpus_per_worker:
            flags["gpus-per-node"] = self.gpus_per_worker
        # USR1 before the time limit: the worker stores its trial interrupted (with its
        # checkpoint) and requeues its task (task.py); a preempted task (TERM) is requeued
        # by Slurm; either continues the trial
        flags["signal"] = f"USR1@{self.signal_s}"
        flags["requeue"] = True
        return flags

    def check(self) -> None:
        if self.workers < 1:
            raise KDAutoMLError("--workers must be >= 1 with --slurm")
        if self.cpus_per_worker < 1:
            raise KDAutoMLError("--cpus-per-worker must be >= 1")
        if self.gpus_per_worker < 0:
            raise KDAutoMLError("--gpus-per-worker must be >= 0")


_FIELDS = {f.name for f in fields(SlurmOptions)}


def load_profile(path: Path) -> dict[str, Any]:
    """The ``cluster:`` section of a profile file, its keys checked."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as err:
        raise KDAutoMLError(f"cannot read cluster profile {path}: {err.strerror or err}") \
            from None
    except yaml.YAMLError as err:
        raise KDAutoMLError(f"cluster profile {path} is not valid YAML: {err}") from None
    section = data.get("cluster") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise KDAutoMLError(f"cluster profile {path} has no `cluster:` section (a mapping of "
                            f"{', '.join(sorted(_FIELDS - {'signal_s'}))})")
    section = {str(k).replace("-", "_"): v for k, v in section.items()}
    unknown = sorted(set(section) - _FIELDS)
    if unknown:
        raise KDAutoMLError(f"cluster profile {path}: unknown key(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(_FIELDS))}")
    return section


def resolve(profile: Path | None, **given: Any) -> SlurmOptions:
    """The profile's values (if any), then the options given (None: not given)."""
    base = SlurmOptions()
    if profile is not None:
        try:
            base = replace(base, **load_profile(profile))
        except TypeError as err:
            raise KDAutoMLError(f"cluster profile {profile}: {err}") from None
    chosen = replace(base, **{k: v for k, v in given.items() if v is not None})
    for name in ("workers", "gpus_per_worker", "cpus_per_worker", "signal_s"):
        value = getattr(chosen, name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise KDAutoMLError(f"cluster option {name} must be an integer, not {value!r}")
    chosen.check()
    return chosen


def as_dict(options: SlurmOptions) -> dict[str, Any]:
    return asdict(options)
