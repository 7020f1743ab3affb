"""The leaderboard's sort keys, in a module light enough for the CLI to offer them as choices
without importing the store.

>>> SORT_KEYS["gap"]     # (leaderboard Row attribute, larger is better)
('gap', False)
"""

# sort key -> (Row attribute, larger is better); "objective" follows each experiment's direction
SORT_KEYS: dict[str, tuple[str, bool]] = {
    "objective": ("objective", True),
    "val_acc": ("student_val_acc", True),
    "test_acc": ("student_test_acc", True),
    "teacher_acc": ("teacher_test_acc", True),
    "gap": ("gap", False),
    "gain": ("gain", True),
    "params": ("student_params", False),
    "flops": ("student_flops", False),
    "time": ("wall_time_s", False),
    "trial": ("trial_id", False),
}
