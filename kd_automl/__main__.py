"""``python -m kd_automl`` is the ``kd-automl`` command."""

from kd_automl.cli import main

main()
