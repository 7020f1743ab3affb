"""What to launch: a spec's text, a backend and its options, checked before anything runs,
and the ``kd-automl`` command line it becomes."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kd_automl.errors import KDAutoMLError
from kd_automl.spec import ExperimentSpec

BACKENDS = ("optuna", "nni")
_DURATION = re.compile(r"^\d+[smhd]$")


@dataclass(frozen=True)
class LaunchRequest:
    """One search to start: ``kd-automl optuna`` or ``kd-automl nni start --detach``."""

    backend: str
    spec_text: str
    source: str = "pasted spec"  # how messages name the spec (as `kd-automl check` does)
    trials: int = 16
    gpus: str | None = None
    study: str | None = None  # optuna: default the spec's name (resumes, as the CLI does)
    workers: int = 1
    fuse: int | None = None
    concurrency: int = 1  # nni
    tuner: str = "TPE"
    assessor: str = "none"
    port: int | None = None  # nni's web UI; None: a free one
    max_duration: str | None = None

    def check(self) -> ExperimentSpec:
        """The validated spec, or one :class:`KDAutoMLError` naming the bad input."""
        from kd_automl.orchestrate.gpus import parse_gpus
        from kd_automl.spec_check import check_text

        if self.backend not in BACKENDS:
            raise KDAutoMLError(f"unknown backend {self.backend!r}; use optuna or nni")
        checked = check_text(self.spec_text, self.source)
        if checked.spec is None:
            raise KDAutoMLError("\n".join(p.message for p in checked.problems))
        for name in ("trials", "workers", "concurrency"):
            _positive(name, getattr(self, name))
        if self.fuse is not None:
            _positive("fuse", self.fuse)
        if self.port is not None and not 1024 <= self.port <= 65535:
            raise KDAutoMLError(f"port {self.port}: give a port between 1024 and 65535")
        if self.max_duration and not _DURATION.match(self.max_duration):
            raise KDAutoMLError(f"max duration {self.max_duration!r}: give a number and a "
                                "unit, e.g. 30m or 2h")
        if self.study is not None and not re.match(r"^[\w.\-]{1,120}$", self.study):
            raise KDAutoMLError(f"study {self.study!r}: use letters, digits, '.', '_', '-'")
        parse_gpus(self.gpus)
        if self.backend == "nni":
            from kd_automl.extras import require_nni
            from kd_automl.orchestrate.nni import ASSESSORS, TUNERS

            require_nni()

            if self.tuner not in TUNERS:
                raise KDAutoMLError(f"unknown tuner {self.tuner!r}; use one of "
                                    f"{', '.join(TUNERS)}")
            if self.assessor not in ASSESSORS:
                raise KDAutoMLError(f"unknown assessor {self.assessor!r}; use one of "
                                    f"{', '.join(ASSESSORS)}")
        return checked.spec

    def argv(self, spec_file: Path, workspace: Path, db_url: str, study: str,
             port: int | None) -> list[str]:
        """The ``kd-automl`` arguments of this launch (the CLI's own command)."""
        common = ["--trials", str(self.trials), "--workspace", str(workspace), "--db", db_url]
        common += ["--gpus", self.gpus] if self.gpus else []
        if self.backend == "optuna":
            return ["optuna", str(spec_file), *common, "--study", study,
                    "--workers", str(self.workers),
                    *(["--fuse", str(self.fuse)] if self.fuse else [])]
        return ["nni", "start", str(spec_file), *common, "--concurrency", str(self.concurrency),
                "--tuner", self.tuner, "--assessor", self.assessor, "--port", str(port),
                "--detach", *(["--max-duration", self.max_duration] if self.max_duration
                              else [])]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "spec_text"}


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise KDAutoMLError(f"{name} must be a whole number of at least 1, got {value!r}")
