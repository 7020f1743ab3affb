"""What Ray costs a search: `--ray ADDRESS --workers K` against K local workers, side by side.

The same tiny digits study (MLP 64 -> MLP 8, KD, 2 epochs per trial) on PostgreSQL, run as a
whole ``kd-automl optuna`` command each way in a fresh process, teacher cached and the
student alone stored by a warm-up run first (so neither row trains them):

- **to the first trial**: from the command's start to the first new trial's start in the
  study (imports, connecting to the cluster, the actors' start and their imports for Ray);
- **overhead per trial**: the span from the first trial's start to the last one's end, times
  K workers, over the trials, less a trial's mean run time: what each trial waits outside
  its own training (asking, the queue, the store, an actor that starts late).

Printed with the ratios Ray / local. Needs the cluster of ``bash .ci/ray.sh`` (the commands run
in its network namespace) and ``KD_AUTOML_TEST_PG`` (``bash .ci/postgres.sh`` prints one;
``.ci/ray.sh`` bridges it into the namespace).

    uv run python benchmarks/ray_overhead.py [--trials 12] [--workers 2]
"""

from __future__ import annotations

import os

from _launchers import arguments, side_by_side


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--address", default="127.0.0.1:6379")
    ap.add_argument("--netns", default=os.environ.get("KD_AUTOML_RAY_NS", "kd-automl-ray"),
                    help="run the commands in this network namespace ('' for none)")
    args = ap.parse_args()
    prefix = ["ip", "netns", "exec", args.netns] if args.netns else []
    side_by_side("ray", "Ray actors", ["--ray", args.address], args, prefix)


if __name__ == "__main__":
    main()
