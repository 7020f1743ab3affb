"""Imported for its effect: every method's torch module, registered (as ``get_method`` does on
its first call). Processes that fork trials preload it, so no trial imports them itself."""

from kd_automl.distill.registry import registered

METHODS = registered()
