"""What the method tests share: a student whose logits are a fixed table, and the real-data
check that a method's members of a fused group train as each trains alone."""

import torch
from torch import nn


class Fixed(nn.Module):
    """A student whose logits are a trainable table, whatever the input."""

    def __init__(self, logits):
        super().__init__()
        self.z = nn.Parameter(torch.tensor(logits))

    def forward(self, x):
        return self.z


def assert_fused_members_train_as_alone(tmp_path_factory, method: str, points: list[dict]):
    """Each point of ``method`` (one epoch on digits) trained in one fused group equals its
    trial run alone. The workspace is the session's, so the digits teacher trains once for
    every method that checks this."""
    from test_fused import DIGITS, _assert_same_training, _fused

    from kd_automl.engine import run_trial
    from kd_automl.engine.trial import get_dataset
    from kd_automl.spec import apply_params, parse_spec
    from kd_automl.workspace import Workspace

    ws = Workspace.resolve(tmp_path_factory.getbasetemp() / "fused-methods-ws")
    spec = parse_spec({**DIGITS, "method": {"name": method},
                       "train": {**DIGITS["train"], "epochs": 1}})
    members = [apply_params(spec, p) for p in points]
    fused = _fused(spec, members, ws)
    for i, member_spec in enumerate(members):
        _assert_same_training(run_trial(member_spec, ws), fused[i],
                              len(get_dataset(member_spec).y_val))
