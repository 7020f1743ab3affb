"""Imported last by the workers' fork server: marks that its imports are done.

The file named by ``$KD_AUTOML_FORK_READY`` appears once the server can fork workers
at once, so the main process knows it can start them without waiting.
"""

import os

_path = os.environ.get("KD_AUTOML_FORK_READY")
if _path:
    with open(_path, "w"):
        pass
