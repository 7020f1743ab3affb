"""The one folder a run writes to: database, teacher checkpoints, NNI folders, reports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kd_automl.errors import KDAutoMLError

ENV_VAR = "KD_AUTOML_WORKSPACE"
DB_FILE = "kd_automl.db"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def locate(cls, path: str | os.PathLike | None = None) -> Workspace:
        """``path``, else ``$KD_AUTOML_WORKSPACE``, else ``./runs``; neither made nor written
        (for reading results, which needs no write access)."""
        return cls(Path(path or os.environ.get(ENV_VAR) or "runs").expanduser().resolve())

    @classmethod
    def resolve(cls, path: str | os.PathLike | None = None) -> Workspace:
        """As :meth:`locate`, then made and checked writable."""
        root = cls.locate(path).root
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as err:
            raise KDAutoMLError(f"workspace {root} is not writable ({err.strerror or err}); "
                                f"pass --workspace or set {ENV_VAR} to a folder you can write") \
                from None
        return cls(root)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / DB_FILE}"

    def report_file(self) -> Path:
        """Where the HTML report goes by default: ``<workspace>/reports/report.html``."""
        return self.folder("reports") / "report.html"

    def folder(self, name: str) -> Path:
        path = self.root / name
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise KDAutoMLError(f"cannot create {path} ({err.strerror or err}); pass "
                                "--workspace with a folder you can write") from None
        return path
