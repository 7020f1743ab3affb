"""SD-NKD against the authors' SDD_nkd.py worked by hand: NKD's target and non-target terms on
every pooled cell's logits, complementary cells weighted beta, the mean over cells x batch, the
warm-up ramp; value and gradient at several settings, and the global scale alone is NKD."""

import math

import pytest
import torch
from conftest import softmax
from test_methods_sdd import BS, BT, WS, WT, XS, XT, Head, Y, _check_gradient, cells, linear
from test_nkd import nkd_row

from kd_automl.distill import TeacherOutput, get_method
from kd_automl.engine.train import teacher_forward
from kd_automl.models import build_model

CPU = torch.device("cpu")


def by_hand(ws, scales, comp, T, gamma, ce_weight, ramp, keep_target):
    xs, xt = XS.tolist(), XT.tolist()
    total, n_rows, ce = 0.0, 0, 0.0
    for n in range(2):
        s_cells = [linear(ws, BS, f) for f in cells(xs, n, scales)]
        t_cells = [linear(WT, BT, f) for f in cells(xt, n, scales)]
        g_right = max(range(3), key=lambda c: t_cells[0][c]) == Y[n]
        for zs, zt in zip(s_cells, t_cells, strict=True):
            right = max(range(3), key=lambda c: zt[c]) == Y[n]
            w = comp if right != g_right else 1.0
            total += w * sum(nkd_row(zs, zt, Y[n], T, gamma, keep_target))
            n_rows += 1
        ce += -math.log(softmax(s_cells[0])[Y[n]]) / 2
    sdd = total / n_rows
    return ce_weight * ce + ramp * sdd, sdd


@pytest.mark.parametrize("hp", [{}, {"scales": "1,2", "complementary_weight": 3.0,
                                     "temperature": 2.0, "gamma": 3.5, "warmup": 0},
                                {"keep_target": True, "ce_weight": 0.5, "warmup": 4}],
                         ids=["defaults", "M12-beta3-T2", "their-mask"])
def test_sdd_nkd_value_and_gradient_by_hand(hp):
    full = {"scales": "1,2,4", "complementary_weight": 2.0, "temperature": 4.0, "gamma": 8.0,
            "warmup": 20, "ce_weight": 1.0, "keep_target": False, **hp}
    scales = tuple(int(s) for s in full["scales"].split(","))
    ramp = 1 / full["warmup"] if full["warmup"] else 1.0  # epoch 1

    def fn(ws):
        return by_hand(ws, scales, full["complementary_weight"], full["temperature"],
                       full["gamma"], full["ce_weight"], ramp, full["keep_target"])
    student = Head(WS, BS)
    d = get_method("sdd_nkd")(student, **hp)
    loss, parts = d.loss((XS, torch.tensor(Y)), teacher_forward(Head(WT, BT), XT,
                                                                 d.needs_features, CPU))
    expected, sdd = fn(WS)
    assert parts["sdd"].item() == pytest.approx(sdd, rel=1e-5)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    _check_gradient(student, loss, fn)


def test_defaults_are_the_authors_cifar_setting():
    hp = get_method("sdd_nkd").hyperparameters
    assert {k: h.default for k, h in hp.items()} == {
        "temperature": 4.0, "gamma": 8.0, "warmup": 20, "ce_weight": 1.0, "keep_target": False,
        "scales": "1,2,4", "complementary_weight": 2.0}


def test_the_global_scale_alone_is_nkd():
    torch.manual_seed(0)
    teacher = build_model("cnn", (1, 8, 8), 10, width=8, depth=2).eval()
    student = build_model("cnn", (1, 8, 8), 10, width=4, depth=2)
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,))
    hp = {"temperature": 3.0, "gamma": 2.0}
    d = get_method("sdd_nkd")(student, scales="1", warmup=0, **hp)
    t_out = teacher_forward(teacher, x, d.needs_features, CPU)
    ref = get_method("nkd")(student, **hp).loss((x, y), TeacherOutput(t_out.logits))[0]
    assert d.loss((x, y), t_out)[0].item() == pytest.approx(ref.item(), rel=1e-5)
