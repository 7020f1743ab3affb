"""The KD loss against values computed by hand (math, not the code under test)."""

import math

import pytest
import torch

from kd_automl.distill import get_method, kd_loss
from kd_automl.distill.base import TeacherOutput


def _softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


def test_kd_term_matches_hand_computed_value_with_t_squared():
    s, t, T = [1.0, 2.0, 0.5], [3.0, 0.0, 1.0], 2.0
    ps, pt = _softmax([v / T for v in s]), _softmax([v / T for v in t])
    expected = T * T * sum(p * math.log(p / q) for p, q in zip(pt, ps, strict=True))
    got = kd_loss(torch.tensor([s]), torch.tensor([t]), T).item()
    assert got == pytest.approx(expected, rel=1e-5)
    # softmax([.5, 1, .25]) = [.29176, .48102, .22722]
    # softmax([1.5, 0, .5]) = [.62853, .14024, .23122]
    # KL = .62853 ln(.62853/.29176) + .14024 ln(.14024/.48102) + .23122 ln(.23122/.22722) = .31356
    assert got == pytest.approx(4 * 0.31356, rel=1e-3)


def test_kd_term_is_averaged_over_the_batch_and_zero_for_equal_logits():
    z = torch.tensor([[1.0, -1.0, 0.0], [0.3, 0.2, 0.1]])
    assert kd_loss(z, z, 3.0).item() == pytest.approx(0.0, abs=1e-7)
    one = kd_loss(z[:1], z[1:] * 5, 3.0)
    both = kd_loss(torch.cat([z[:1], z[:1]]), torch.cat([z[1:] * 5, z[1:] * 5]), 3.0)
    assert both.item() == pytest.approx(one.item(), rel=1e-6)


def test_hinton_loss_mixes_ce_and_kd_with_alpha():
    torch.manual_seed(0)
    student = torch.nn.Linear(4, 3)
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 1, 0])
    t_logits = torch.randn(5, 3)
    T, alpha = 3.0, 0.25
    kd = get_method("kd")(student, temperature=T, alpha=alpha)
    loss, parts = kd.loss((x, y), TeacherOutput(t_logits))
    logits = student(x).tolist()
    ce = sum(-math.log(_softmax(row)[label]) for row, label in zip(logits, y.tolist(),
                                                                  strict=True)) / 5
    kl = 0.0
    for srow, trow in zip(logits, t_logits.tolist(), strict=True):
        ps, pt = _softmax([v / T for v in srow]), _softmax([v / T for v in trow])
        kl += sum(p * math.log(p / q) for p, q in zip(pt, ps, strict=True))
    kl = T * T * kl / 5
    assert parts["ce"].item() == pytest.approx(ce, rel=1e-5)
    assert parts["kd"].item() == pytest.approx(kl, rel=1e-5)
    assert loss.item() == pytest.approx((1 - alpha) * ce + alpha * kl, rel=1e-5)
