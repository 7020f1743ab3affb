"""A trained student to ship: its weights file, ONNX, the check that ONNX agrees, and the
folder ``kd-automl export`` writes (:mod:`kd_automl.export.bundle`).

>>> from kd_automl.export import load_student
>>> model = load_student("out/student.pt")  # doctest: +SKIP

The names below are imported on first use, so ``kd_automl.export.bundle`` (spec and card)
loads without torch.
"""

_STUDENT = ("SavedFile", "load_student", "read_student", "save_student")


def __getattr__(name: str):
    if name in _STUDENT:
        from kd_automl.export import student

        return getattr(student, name)
    raise AttributeError(f"module 'kd_automl.export' has no attribute {name!r}")


__all__ = list(_STUDENT)
