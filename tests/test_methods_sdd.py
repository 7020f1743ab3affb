"""Scale-decoupled KD against the authors' SDD_KD / SDD_DKD, worked by hand in plain math: the
classifier on each pooled cell, the per-cell KD (or DKD) term, the complementary cells weighted
beta, the mean over cells x batch; value and gradient at several settings, defaults included."""

import math

import pytest
import torch
from conftest import kl, softmax
from torch import nn

from kd_automl.distill import TeacherOutput, get_method
from kd_automl.engine.train import teacher_forward
from kd_automl.errors import KDAutoMLError
from kd_automl.models import build_model
from kd_automl.models.base import class_map

CPU = torch.device("cpu")


class Head(nn.Module):
    """A 'zoo model' whose last map is its input and whose head is GAP + fc."""

    def __init__(self, w, b):
        super().__init__()
        self.fc = nn.Linear(len(w[0]), len(w))
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor(w))
            self.fc.bias.copy_(torch.tensor(b))

    def forward_features(self, x):
        return self.fc(x.mean((2, 3))), [x]

    def forward(self, x):
        return self.forward_features(x)[0]


torch.manual_seed(3)
XS = torch.randn(2, 2, 4, 4)  # the student's last map (N, C, H, W)
XT = torch.randn(2, 3, 4, 4)  # the teacher's
WS, BS = [[1.0, -0.5], [0.5, 1.5], [-1.0, 0.25]], [0.1, 0.0, -0.2]
WT, BT = [[2.0, 0.0, -1.0], [0.0, 1.0, 1.0], [-1.0, 2.0, 0.5]], [0.0, 0.3, 0.0]
Y = [1, 2]


def cells(x, n, scales):
    """Each cell's pooled feature of sample n, global first then each grid row-major."""
    out = []
    for s in scales:
        k = 4 // s
        for i in range(s):
            for j in range(s):
                out.append([sum(x[n][c][i * k + a][j * k + b] for a in range(k) for b in range(k))
                            / (k * k) for c in range(len(x[n]))])
    return out


def linear(w, b, f):
    return [sum(wi * fi for wi, fi in zip(row, f, strict=True)) + bi
            for row, bi in zip(w, b, strict=True)]


def dkd_row(zs, zt, y, alpha, beta, T):
    ps, pt = softmax([v / T for v in zs]), softmax([v / T for v in zt])
    tckd = kl([pt[y], 1 - pt[y]], [ps[y], 1 - ps[y]])
    ns = softmax([v / T for c, v in enumerate(zs) if c != y])
    nt = softmax([v / T for c, v in enumerate(zt) if c != y])
    return (alpha * tckd + beta * kl(nt, ns)) * T * T


def by_hand(ws, base, scales, comp, T=4.0, alpha=0.9, dkd=(1.0, 8.0), ce_weight=1.0, ramp=1.0):
    xs, xt = XS.tolist(), XT.tolist()
    total, n_rows, ce = 0.0, 0, 0.0
    for n in range(2):
        s_cells = [linear(ws, BS, f) for f in cells(xs, n, scales)]
        t_cells = [linear(WT, BT, f) for f in cells(xt, n, scales)]
        g_right = max(range(3), key=lambda c: t_cells[0][c]) == Y[n]
        for zs, zt in zip(s_cells, t_cells, strict=True):
            right = max(range(3), key=lambda c: zt[c]) == Y[n]
            w = comp if right != g_right else 1.0
            row = (kl(softmax([v / T for v in zt]), softmax([v / T for v in zs])) * T * T
                   if base == "kd" else dkd_row(zs, zt, Y[n], *dkd, T))
            total, n_rows = total + w * row, n_rows + 1
        ce += -math.log(softmax(s_cells[0])[Y[n]]) / 2  # the global cell is the model's logits
    sdd = total / n_rows
    if base == "kd":
        return (1 - alpha) * ce + alpha * sdd, sdd
    return ce_weight * ce + ramp * sdd, sdd


def _run(name, **hp):
    student = Head(WS, BS)
    d = get_method(name)(student, **hp)
    t_out = teacher_forward(Head(WT, BT), XT, d.needs_features, CPU)
    loss, parts = d.loss((XS, torch.tensor(Y)), t_out)
    return student, loss, parts


def _check_gradient(student, loss, fn):
    loss.backward()
    h = 1e-4
    for i in range(3):
        for j in range(2):
            up = [r[:] for r in WS]
            dn = [r[:] for r in WS]
            up[i][j] += h
            dn[i][j] -= h
            g = (fn(up)[0] - fn(dn)[0]) / (2 * h)
            assert student.fc.weight.grad[i, j].item() == pytest.approx(g, rel=2e-3, abs=1e-5)


def test_the_hand_cells_are_inconsistent_somewhere():
    """The fixed maps give both consistent and complementary cells, so the weight is tested."""
    xt = XT.tolist()
    kinds = set()
    for n in range(2):
        t_cells = [linear(WT, BT, f) for f in cells(xt, n, (1, 2, 4))]
        right = [max(range(3), key=lambda c: z[c]) == Y[n] for z in t_cells]
        kinds |= {r != right[0] for r in right[1:]}
    assert kinds == {True, False}


@pytest.mark.parametrize("hp", [{}, {"scales": "1,2", "complementary_weight": 3.0,
                                     "temperature": 2.0, "alpha": 0.5}],
                         ids=["defaults", "M12-beta3-T2"])
def test_sdd_kd_value_and_gradient_by_hand(hp):
    full = {"scales": "1,2,4", "complementary_weight": 2.0, "temperature": 4.0, "alpha": 0.9,
            **hp}
    scales = tuple(int(s) for s in full["scales"].split(","))

    def fn(ws):
        return by_hand(ws, "kd", scales, full["complementary_weight"], full["temperature"],
                       full["alpha"])
    student, loss, parts = _run("sdd_kd", **hp)
    expected, sdd = fn(WS)
    assert parts["sdd"].item() == pytest.approx(sdd, rel=1e-5)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    _check_gradient(student, loss, fn)


@pytest.mark.parametrize("hp", [{}, {"scales": "1,2", "complementary_weight": 1.5, "alpha": 0.5,
                                     "beta": 4.0, "temperature": 3.0, "warmup": 0}],
                         ids=["defaults", "M12-beta1.5"])
def test_sdd_dkd_value_and_gradient_by_hand(hp):
    full = {"scales": "1,2,4", "complementary_weight": 2.0, "temperature": 4.0, "alpha": 1.0,
            "beta": 8.0, "warmup": 20, **hp}
    scales = tuple(int(s) for s in full["scales"].split(","))
    ramp = 1 / full["warmup"] if full["warmup"] else 1.0  # epoch 1

    def fn(ws):
        return by_hand(ws, "dkd", scales, full["complementary_weight"], full["temperature"],
                       dkd=(full["alpha"], full["beta"]), ramp=ramp)
    student, loss, parts = _run("sdd_dkd", **hp)
    expected, sdd = fn(WS)
    assert parts["sdd"].item() == pytest.approx(sdd, rel=1e-5)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    _check_gradient(student, loss, fn)


def test_defaults_are_the_authors():
    kd, dkd = (get_method(n).hyperparameters for n in ("sdd_kd", "sdd_dkd"))
    assert {k: h.default for k, h in kd.items()} == {
        "temperature": 4.0, "alpha": 0.9, "scales": "1,2,4", "complementary_weight": 2.0}
    assert {k: h.default for k, h in dkd.items()} == {
        "alpha": 1.0, "beta": 8.0, "temperature": 4.0, "warmup": 20, "ce_weight": 1.0,
        "scales": "1,2,4", "complementary_weight": 2.0}


@pytest.mark.parametrize("name, base, extra", [("sdd_kd", "kd", {}),
                                               ("sdd_dkd", "dkd", {"warmup": 0})])
def test_the_global_scale_alone_is_the_base_method(name, base, extra):
    torch.manual_seed(0)
    teacher = build_model("cnn", (1, 8, 8), 10, width=8, depth=2).eval()
    student = build_model("cnn", (1, 8, 8), 10, width=4, depth=2)
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,))
    d = get_method(name)(student, scales="1", **extra)
    t_out = teacher_forward(teacher, x, d.needs_features, CPU)
    loss = d.loss((x, y), t_out)[0]
    ref = get_method(base)(student, **extra).loss((x, y), TeacherOutput(t_out.logits))[0]
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)


@pytest.mark.parametrize("arch, opts", [("resnet", {"depth": 8}), ("wrn", {"depth": 10}),
                                        ("cnn", {"depth": 2})])
def test_the_class_map_pooled_is_the_classifier_on_pooled_cells(arch, opts):
    torch.manual_seed(0)
    net = build_model(arch, (3, 12, 12), 5, **opts).eval()
    x = torch.randn(2, 3, 12, 12)
    logits, feats = net.forward_features(x)
    cmap = class_map(net, feats[-1])
    assert torch.allclose(cmap.mean((2, 3)), logits, atol=1e-5)
    f = nn.functional.adaptive_avg_pool2d(feats[-1], 2)[:, :, 1, 0]
    assert torch.allclose(nn.functional.adaptive_avg_pool2d(cmap, 2)[:, :, 1, 0], net.fc(f),
                          atol=1e-5)


def test_a_model_without_a_pooled_linear_head_is_one_clear_error():
    net = build_model("lenet5", (1, 28, 28), 10)
    _, feats = net.forward_features(torch.randn(2, 1, 28, 28))
    with pytest.raises(KDAutoMLError, match="global average pool"):
        class_map(net, feats[-1])
