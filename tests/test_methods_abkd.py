"""ABKD's alpha-beta divergence against the authors' formula, worked by hand in plain math
(value and gradient), and its special cases: forward and reverse KL."""

import math

import pytest
import torch
from conftest import ce, kl, softmax
from helpers.methods import Fixed, assert_fused_members_train_as_alone

from kd_automl.distill import TeacherOutput, check_method, get_method
from kd_automl.distill.abkd import ab_divergence
from kd_automl.errors import KDAutoMLError

ZS = [[1.0, 0.0, -1.0, 2.0], [-0.25, -2.0, -0.5, 0.5]]
ZT = [[2.0, 0.0, 1.0, -1.0], [0.0, 1.0, 3.0, 0.5]]
Y = [0, 2]


def d_ab(p, q, a, b):
    """The authors' general case (abkl.py): -sum(p^a q^b - a/(a+b) p^(a+b) - b/(a+b) q^(a+b))
    / (a b), one row."""
    s = a + b
    return -sum(pi**a * qi**b - a / s * pi**s - b / s * qi**s
                for pi, qi in zip(p, q, strict=True)) / (a * b)


def loss_by_hand(zs, zt, a, b, T, kd_weight, ce_weight=1.0):
    rows = [d_ab(softmax([v / T for v in t]), softmax([v / T for v in s]), a, b)
            for s, t in zip(zs, zt, strict=True)]
    ce_ = sum(ce(z, y) for z, y in zip(zs, Y, strict=True)) / len(Y)
    return ce_weight * ce_ + kd_weight * sum(rows) / len(rows), sum(rows) / len(rows)


def _run(**hp):
    d = get_method("abkd")(Fixed(ZS), **hp)
    loss, parts = d.loss((torch.zeros(2, 1), torch.tensor(Y)), TeacherOutput(torch.tensor(ZT)))
    return d, loss, parts


@pytest.mark.parametrize("hp", [{}, {"alpha": 0.5, "beta": 0.5, "temperature": 2.0},
                                {"alpha": 1.2, "beta": -0.4, "temperature": 1.0,
                                 "kd_weight": 3.0, "ce_weight": 0.5}],
                         ids=["defaults", "half-half-T2", "negative-beta"])
def test_abkd_value_and_gradient_are_the_authors_formula(hp):
    full = {"alpha": 0.8, "beta": 0.3, "temperature": 4.0, "kd_weight": 32.0, "ce_weight": 1.0,
            **hp}
    a, b, T, w, c = (full[k] for k in ("alpha", "beta", "temperature", "kd_weight",
                                       "ce_weight"))
    d, loss, parts = _run(**hp)
    expected, div = loss_by_hand(ZS, ZT, a, b, T, w, c)
    assert parts["ab"].item() == pytest.approx(div, rel=1e-4)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    h = 1e-5
    for i in range(2):
        for j in range(4):
            up = [row[:] for row in ZS]
            dn = [row[:] for row in ZS]
            up[i][j] += h
            dn[i][j] -= h
            g = (loss_by_hand(up, ZT, a, b, T, w, c)[0]
                 - loss_by_hand(dn, ZT, a, b, T, w, c)[0]) / (2 * h)
            assert d.student.z.grad[i, j].item() == pytest.approx(g, rel=2e-3, abs=1e-5)


def test_defaults_are_the_authors_cifar_command():
    hp = get_method("abkd").hyperparameters
    assert {k: h.default for k, h in hp.items()} == {
        "alpha": 0.8, "beta": 0.3, "temperature": 4.0, "kd_weight": 32.0, "ce_weight": 1.0}
    assert hp["alpha"].search and hp["beta"].search  # searchable
    check_method("abkd", {"alpha": 1.0, "beta": 0.0})
    with pytest.raises(KDAutoMLError):
        check_method("abkd", {"temperature": 0.0})


def _log(rows, T=1.0):
    return torch.tensor(rows, dtype=torch.float64).div(T).log_softmax(1)


def test_forward_and_reverse_kl_are_special_cases():
    T = 2.0
    log_p, log_q = _log(ZT, T), _log(ZS, T)
    p = [softmax([v / T for v in z]) for z in ZT]
    q = [softmax([v / T for v in z]) for z in ZS]
    fwd = [kl(pi, qi) for pi, qi in zip(p, q, strict=True)]
    rev = [kl(qi, pi) for pi, qi in zip(p, q, strict=True)]
    assert ab_divergence(log_p, log_q, 1.0, 0.0).tolist() == pytest.approx(fwd, rel=1e-12)
    assert ab_divergence(log_p, log_q, 0.0, 1.0).tolist() == pytest.approx(rev, rel=1e-12)
    # the general formula tends to them (the special cases are its limits, not other losses)
    for eps in (1e-3, -1e-3):
        assert ab_divergence(log_p, log_q, 1.0, eps).tolist() == pytest.approx(fwd, rel=2e-3)
        assert ab_divergence(log_p, log_q, eps, 1.0).tolist() == pytest.approx(rev, rel=2e-3)
    # ABKD at (1, 0) is Hinton's KD term without T^2
    _, _, parts = _run(alpha=1.0, beta=0.0, temperature=T)
    assert parts["ab"].item() == pytest.approx(sum(fwd) / 2, rel=1e-5)


def test_the_other_limits_are_continuous():
    log_p, log_q = _log(ZT), _log(ZS)
    p, q = log_p.exp(), log_q.exp()
    for a, b, lim_a, lim_b in ((0.6, 1e-4, 0.6, 0.0), (1e-4, 0.7, 0.0, 0.7),
                               (0.5, -0.5 + 1e-4, 0.5, -0.5), (1e-4, 1e-4, 0.0, 0.0)):
        near = ab_divergence(log_p, log_q, a, b)
        at = ab_divergence(log_p, log_q, lim_a, lim_b)
        assert near.tolist() == pytest.approx(at.tolist(), rel=2e-3), (lim_a, lim_b)
    # (0, 0): half the squared distance of the log-probabilities
    assert ab_divergence(log_p, log_q, 0.0, 0.0).tolist() == pytest.approx(
        (0.5 * (log_p - log_q).pow(2).sum(1)).tolist())
    # every case is a divergence: zero at q = p, positive elsewhere
    for a, b in ((0.8, 0.3), (1.0, 0.0), (0.0, 1.0), (0.5, -0.5), (0.0, 0.0), (2.0, 1.0)):
        assert ab_divergence(log_p, log_p, a, b).abs().max().item() < 1e-12
        assert (ab_divergence(log_p, log_q, a, b) > 0).all()
    assert torch.allclose(p.sum(1), q.sum(1))
    assert math.isfinite(ab_divergence(log_p, log_q, 0.8, 0.3).sum().item())


def test_abkd_members_of_a_fused_group_train_as_alone(tmp_path_factory):
    assert_fused_members_train_as_alone(tmp_path_factory, "abkd", [
        {"train.seed": 0, "method.alpha": 0.8, "method.beta": 0.3},
        {"train.seed": 1, "method.alpha": 1.0, "method.beta": 0.0}])
