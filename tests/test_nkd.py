"""NKD's loss against the authors' nkd.py (cls_KD) worked by hand in plain math: the target term
at T = 1 and gamma T^2 x the cross-entropy of the normalised non-target distributions; value and
gradient at several settings, defaults included."""

import math

import pytest
import torch
from conftest import ce, softmax
from helpers.methods import Fixed, assert_fused_members_train_as_alone

from kd_automl.distill import TeacherOutput, get_method

ZS = [[1.0, 0.0, -1.0, 2.0], [-0.25, -2.0, -0.5, 0.5], [0.3, 0.1, 0.9, -0.7]]
ZT = [[2.0, 0.0, 1.0, -1.0], [0.0, 1.0, 3.0, 0.5], [0.1, 0.2, 0.4, 0.3]]
Y = [3, 2, 0]


def nkd_row(zs, zt, y, T, gamma, keep_target=False):
    """-t_y log s_y - gamma T^2 sum_c nt_c log ns_c over the non-target classes, one row."""
    target = -softmax(zt)[y] * math.log(softmax(zs)[y])
    classes = [c for c in range(len(zs)) if keep_target or c != y]
    ns, nt = (softmax([z[c] / T for c in classes]) for z in (zs, zt))
    return target, -gamma * T * T * sum(t * math.log(s) for s, t in zip(ns, nt, strict=True))


def by_hand(zs, T, gamma, ce_weight):
    rows = [nkd_row(s, t, y, T, gamma) for s, t, y in zip(zs, ZT, Y, strict=True)]
    target, non = (sum(r[i] for r in rows) / len(rows) for i in (0, 1))
    ce_ = sum(ce(z, y) for z, y in zip(zs, Y, strict=True)) / len(Y)
    return ce_weight * ce_ + target + non, target, non


@pytest.mark.parametrize("hp", [{}, {"temperature": 3.0, "gamma": 3.5},
                                {"temperature": 2.0, "gamma": 0.5, "ce_weight": 0.3}],
                         ids=["defaults", "cifar-T3-gamma3.5", "T2-ce0.3"])
def test_nkd_value_and_gradient_are_the_authors_formula(hp):
    full = {"temperature": 1.0, "gamma": 1.5, "ce_weight": 1.0, **hp}
    T, gamma, c = full["temperature"], full["gamma"], full["ce_weight"]
    d = get_method("nkd")(Fixed(ZS), **hp)
    loss, parts = d.loss((torch.zeros(3, 1), torch.tensor(Y)), TeacherOutput(torch.tensor(ZT)))
    expected, target, non = by_hand(ZS, T, gamma, c)
    assert parts["target"].item() == pytest.approx(target, rel=1e-5)
    assert parts["non"].item() == pytest.approx(non, rel=1e-5)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    h = 1e-5
    for i in range(3):
        for j in range(4):
            up, dn = [r[:] for r in ZS], [r[:] for r in ZS]
            up[i][j] += h
            dn[i][j] -= h
            g = (by_hand(up, T, gamma, c)[0] - by_hand(dn, T, gamma, c)[0]) / (2 * h)
            assert d.student.z.grad[i, j].item() == pytest.approx(g, rel=2e-3, abs=1e-5)


def test_the_non_target_term_excludes_the_target_class():
    """Raising the target logit of both models changes only the target term (and CE)."""
    d = get_method("nkd")(Fixed(ZS), temperature=2.0)
    bumped = [r[:] for r in ZT]
    for r, y in zip(bumped, Y, strict=True):
        r[y] += 5.0
    parts = [d.loss((torch.zeros(3, 1), torch.tensor(Y)), TeacherOutput(torch.tensor(z)))[1]
             for z in (ZT, bumped)]
    assert parts[0]["non"].item() == pytest.approx(parts[1]["non"].item(), rel=1e-6)
    assert parts[0]["target"].item() != pytest.approx(parts[1]["target"].item(), rel=1e-3)


def test_defaults_are_the_authors_loss_and_it_fuses():
    cls = get_method("nkd")
    assert {k: h.default for k, h in cls.hyperparameters.items()} == {
        "temperature": 1.0, "gamma": 1.5, "ce_weight": 1.0}
    assert cls.fusable


def test_nkd_members_of_a_fused_group_train_as_alone(tmp_path_factory):
    assert_fused_members_train_as_alone(tmp_path_factory, "nkd", [
        {"train.seed": 0, "method.temperature": 1.0, "method.gamma": 1.5},
        {"train.seed": 1, "method.temperature": 3.0, "method.gamma": 3.5}])
