"""Helpers shared by several test files (imported as ``helpers.<module>``: pytest puts
``tests/`` on the path); fixtures shared by all of them live in ``conftest.py``."""
