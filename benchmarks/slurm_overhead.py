"""What Slurm costs a search: `--slurm --workers K` against K local workers, side by side.

The same tiny digits study (MLP 64 -> MLP 8, KD, 2 epochs per trial) on PostgreSQL, run as a
whole ``kd-automl optuna`` command each way in a fresh process, teacher cached and the
student alone stored by a warm-up run first (so neither row trains them):

- **to the first trial**: from the command's start to the first new trial's start in the
  study (imports, the checks, for Slurm ``sbatch --test-only``, the submission, the queue, the
  task's start and its imports);
- **overhead per trial**: the span from the first trial's start to the last one's end, times
  K workers, over the trials, less a trial's mean run time: what each trial waits outside
  its own training (asking, the queue, the store, a task that starts late).

Printed with the ratios Slurm / local. Needs a running Slurm (``bash .ci/slurm.sh``) and
``KD_AUTOML_TEST_PG`` (``bash .ci/postgres.sh`` prints one).

    uv run python benchmarks/slurm_overhead.py [--trials 12] [--workers 2]
"""

from __future__ import annotations

from _launchers import arguments, side_by_side


def main() -> None:
    args = arguments(__doc__).parse_args()
    side_by_side("slurm", "Slurm array", ["--slurm"], args)


if __name__ == "__main__":
    main()
