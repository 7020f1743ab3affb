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


def teacher_note(cached: bool | None) -> str:
    """What the run does first about its teacher, by what ``teacher_cached`` said."""
    if cached is None:  # no teacher, or one per sampled configuration
        return "starting"
    return "teacher: cached" if cached else "training the teacher (cached for later runs)"


@contextlib.contextmanager
def trial_progress(spec, total: int, console: Console,
                   fmt_params: Callable[[dict], str] = str,
                   best: float | None = None,
                   teacher: bool | None = False) -> Iterator[Callable]:
    """Yields the ``on_trial`` callback for ``run_study``; ``best``: the study's best so far
    (a resumed study shows it from the start); ``teacher``: whether the teacher is cached
    (None: no one teacher to train)."""
    tally = _Tally(spec.objective.metric, spec.objective.direction == "maximize")
    tally.best = best
    first = teacher_note(teacher)
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
            task = progress.add_task(spec.name, total=total, info=f"{first}...")

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

    say(f"{total} trial(s) to run; {first}")
    yield on_line


class _RunsBar:
    """``kd-automl train``'s display: one bar per run (epochs done of its epochs, val acc)."""

    def __init__(self, progress):
        self.progress, self.tasks = progress, {}

    def start(self, job) -> None:
        self.tasks[job.seed] = self.progress.add_task(
            f"seed {job.seed}", total=job.epochs, info="teacher, data...")

    def epoch(self, job, epoch: int, metrics: dict) -> None:
        val = metrics.get("val_acc")
        self.progress.update(self.tasks[job.seed], completed=epoch,
                             info="" if val is None else f"val {100 * val:.2f}%")

    def done(self, job, result) -> None:
        acc = result.student_test_acc
        info = f"{result.status}" + ("" if acc is None else f", test {100 * acc:.2f}%") + \
            (f" ({result.error.splitlines()[0][:100]})" if result.error else "")
        self.progress.update(self.tasks[job.seed], info=info)


class _RunsLines:
    """Without a terminal: one line when a run starts and one when it ends."""

    def __init__(self, name: str):
        self.name, self.t0 = name, time.monotonic()

    def _say(self, line: str) -> None:
        print(f"{self.name} {time.monotonic() - self.t0:6.0f}s  {line}", file=sys.stderr,
              flush=True)

    def start(self, job) -> None:
        self._say(f"seed {job.seed}: training {job.epochs} epoch(s)")

    def epoch(self, job, epoch: int, metrics: dict) -> None:
        pass

    def done(self, job, result) -> None:
        val, acc = result.student_val_acc, result.student_test_acc
        accs = "" if acc is None else f", val {100 * (val or 0):.2f}% test {100 * acc:.2f}%"
        why = f" ({result.error.splitlines()[0][:120]})" if result.error else ""
        self._say(f"seed {job.seed}: {result.status}{accs}{why}")


@contextlib.contextmanager
def runs_progress(name: str, console: Console) -> Iterator:
    """Yields the ``progress`` of ``run_final``: bars on a terminal, else plain lines."""
    if not console.is_terminal:
        yield _RunsLines(name)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(f"[bold]{name}[/] {{task.description}}"), BarColumn(),
                  MofNCompleteColumn(), TextColumn("epochs"), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        yield _RunsBar(progress)
