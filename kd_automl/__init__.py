"""kd-automl: hyperparameter search and AutoML for knowledge distillation.

``kd_automl.load_student(path)`` rebuilds an exported student (imported on first use, so
``import kd_automl`` stays light).
"""


def __getattr__(name: str):
    if name == "load_student":
        from kd_automl.export import load_student

        return load_student
    raise AttributeError(f"module 'kd_automl' has no attribute {name!r}")
