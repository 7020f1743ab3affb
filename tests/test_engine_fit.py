"""The train loop's two teacher paths (precomputed logits, per-batch teacher) and setup()."""

import pytest
import torch
from torch import nn

from kd_automl.distill import get_method
from kd_automl.engine.train import fit
from kd_automl.models import build_model
from kd_automl.spec import TrainSpec

X = torch.randn(40, 1, 8, 8)
Y = torch.randint(0, 10, (40,))


class CountingTeacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = build_model("cnn", (1, 8, 8), 10, width=4, depth=2).eval()
        self.calls, self.seen = 0, []

    def forward_features(self, x):
        self.calls += 1
        self.seen.append(x.clone())
        return self.net.forward_features(x)

    def forward(self, x):
        return self.forward_features(x)[0]


def _student():
    return build_model("cnn", (1, 8, 8), 10, width=4, depth=2)


def test_augmented_training_runs_the_teacher_on_every_augmented_batch():
    teacher = CountingTeacher()
    budget = TrainSpec(epochs=2, batch_size=16, augment="flip")
    curve = fit(get_method("kd")(_student()), X, Y, budget, torch.device("cpu"), teacher=teacher)
    assert teacher.calls == 1 + 2 * 3  # one probe batch, then 3 batches per epoch
    flipped = any(not any(torch.equal(s, x) for x in X) for b in teacher.seen[1:] for s in b)
    assert flipped and len(curve) == 2 and "train_kd" in curve[0]
    with pytest.raises(ValueError, match="augmented"):
        fit(get_method("kd")(_student()), X, Y, budget, torch.device("cpu"),
            teacher_logits=torch.zeros(40, 10))


def test_feature_methods_need_the_teacher_model_and_get_their_modules_trained():
    with pytest.raises(ValueError, match="features"):
        fit(get_method("fitnet")(_student()), X, Y, TrainSpec(epochs=1), torch.device("cpu"),
            teacher_logits=torch.zeros(40, 10))
    d = get_method("fitnet")(_student())
    built = {}
    setup = d.setup

    def recording_setup(x, t_out):
        setup(x, t_out)
        built["w"] = d.regressor.net[0].weight.detach().clone()

    d.setup = recording_setup
    fit(d, X, Y, TrainSpec(epochs=2, batch_size=16), torch.device("cpu"),
        teacher=CountingTeacher())
    assert not torch.equal(built["w"], d.regressor.net[0].weight)  # the regressor was trained


def test_flip_only_training_uses_both_cached_views_and_matches_the_teacher():
    """Cached logits of x and x.flip(3) give exactly the teacher's output on each flipped batch."""
    teacher = CountingTeacher()
    with torch.no_grad():
        plain, flipped = teacher(X), teacher(X.flip(3))
    seen = []

    class Recording(get_method("kd")):
        def loss(self, batch, teacher_out):
            with torch.no_grad():
                seen.append((teacher.net(batch[0]), teacher_out.logits))
            return super().loss(batch, teacher_out)

    budget = TrainSpec(epochs=2, batch_size=16, augment="flip")
    fit(Recording(_student()), X, Y, budget, torch.device("cpu"), teacher_logits=plain,
        teacher_logits_flipped=flipped)
    assert len(seen) == 6
    for expected, got in seen:
        assert torch.allclose(expected, got, atol=1e-5)
