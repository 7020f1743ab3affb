"""Orchestrators: Optuna studies and NNI experiments over the same engine."""
