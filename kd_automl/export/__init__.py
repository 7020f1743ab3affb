"""A trained student to ship: its weights file, ONNX, and the check that ONNX agrees.

>>> from kd_automl.export import load_student
>>> model = load_student("out/student.pt")  # doctest: +SKIP
"""

from kd_automl.export.student import SavedFile, load_student, read_student, save_student

__all__ = ["SavedFile", "load_student", "read_student", "save_student"]
