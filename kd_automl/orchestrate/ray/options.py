"""What a Ray launch asks of the cluster: how many worker actors and what each reserves."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kd_automl.errors import KDAutoMLError

MAX_RESTARTS = 3  # a worker actor lost with its node is started again this often


@dataclass(frozen=True)
class RayOptions:
    address: str = "auto"  # host:port of the head's GCS, ray://host:10001, or auto
    workers: int = 1  # actors, one worker loop each
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0  # fractional: 0.25 puts four workers on one GPU
    max_restarts: int = MAX_RESTARTS

    def check(self) -> None:
        if not self.address.strip():
            raise KDAutoMLError("--ray needs an address: host:port of the head node, "
                                "ray://host:10001, or auto")
        if self.workers < 1:
            raise KDAutoMLError("--workers must be >= 1 with --ray")
        if not self.cpus_per_worker > 0:
            raise KDAutoMLError("--cpus-per-worker must be > 0 with --ray (fractions allowed)")
        if self.gpus_per_worker < 0:
            raise KDAutoMLError("--gpus-per-worker must be >= 0")
        if self.gpus_per_worker > 1 and self.gpus_per_worker != int(self.gpus_per_worker):
            raise KDAutoMLError(f"--gpus-per-worker {self.gpus_per_worker}: Ray shares a GPU "
                                "only below one (0.25, 0.5); above one give a whole number")

    def threads(self, given: int | None = None) -> int:
        """Torch threads per trial: ``--threads``, else the whole CPUs it reserves (>= 1)."""
        return given or max(1, math.floor(self.cpus_per_worker))

    def actor_options(self) -> dict[str, Any]:
        """``ActorClass.options(...)`` for one worker: its resources and restarts; the
        actor's method that runs the worker loop is retried on the restarted actor."""
        return {"num_cpus": self.cpus_per_worker, "num_gpus": self.gpus_per_worker,
                "max_restarts": self.max_restarts, "max_task_retries": self.max_restarts,
                "scheduling_strategy": "SPREAD"}
