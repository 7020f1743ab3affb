"""Search progress: a rich bar on a terminal, else one plain line per finished trial."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from rich.console import Console


class _Tally:
    def __init__(self, metric: str, maximize: bool):
        self.metric, self.maximize = metric, maximize
        self.counts = {"complete": 0, "pruned": 0, "failed": 0}
        self.best: float | None = None

    def add(self, result) -> float | None:
        self.counts[result.status] = self.counts.get(result.status, 0) + 1
        v = result.objective(self.metric)
        if result.status == "complete" and v is not None and (
                self.best is None or (v > self.best if self.maximize else v < self.best)):
            self.best = v
        return v

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def info(self) -> str:
        best = f"{100 * self.best:.2f}%" if self.best is not None else "–"
        c = self.counts
        return (f"done {c['complete']} pruned {c['pruned']} failed {c['failed']} | "
                f"best {self.metric} {best}")


@contextlib.contextmanager
def trial_progress(spec, total: int, console: Console,
                   fmt_params: Callable[[dict], str] = str) -> Iterator[Callable]:
    """Yields the ``on_trial`` callback for ``run_study``."""
    tally = _Tally(spec.objective.metric, spec.objective.direction == "maximize")
    if console.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                      transient=False) as progress:
            task = progress.add_task(spec.name, total=total, info="training teacher...")

            def on_bar(event) -> None:
                r = event.result
                if event.role == "baseline":
                    acc = r.student_test_acc
                    progress.update(task, info=f"student alone: {100 * acc:.2f}%"
                                    if acc is not None else f"baseline {r.status}")
                elif event.role == "lost":
                    progress.update(task, info=f"trial {event.number} {r.error}; retrying")
                else:
                    tally.add(r)
                    progress.update(task, advance=1, info=tally.info())

            yield on_bar
        return

    start = time.monotonic()

    def say(line: str) -> None:
        print(f"{spec.name} {time.monotonic() - start:6.0f}s  {line}", file=sys.stderr,
              flush=True)

    def on_line(event) -> None:
        r = event.result
        if event.role == "baseline":
            acc = r.student_test_acc
            say(f"student alone: {100 * acc:.2f}% test" if acc is not None
                else f"baseline {r.status}: {r.error}")
            return
        if event.role == "lost":
            say(f"trial {event.number}: {r.error}")
            return
        v = tally.add(r)
        value = f" {tally.metric} {100 * v:.2f}%" if v is not None else ""
        why = f" ({r.error.splitlines()[0][:120]})" if r.error else ""
        say(f"[{tally.done}/{total}] trial {event.number} {r.status}{value}{why} "
            f"{fmt_params(event.params)} | {tally.info()}")

    say(f"{total} trial(s) to run; training the teacher (cached after the first run)")
    yield on_line
