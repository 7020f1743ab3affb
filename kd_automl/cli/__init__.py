"""The ``kd-automl`` command (typer): one module per command group, shared options in
:mod:`.options`, results shown by :mod:`.display`; commands call the library.

>>> main(["check", "digits_kd"])      # doctest: +SKIP
"""

from kd_automl.cli.app import app, main

__all__ = ["app", "main"]
