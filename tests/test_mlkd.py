"""MLKD's loss against the authors' KD_ours.py worked by hand in plain math (value and gradient
on both views, several settings), the strong view RandAugment draws on the device, and the
engine handing a method that asks for it the view and the teacher's logits on it."""

import statistics

import pytest
import torch
from conftest import ce, kl, softmax
from torch import nn

from kd_automl.data.augment import STRONG_OPS, augment_batch, strong_augment
from kd_automl.distill import TeacherOutput, get_method
from kd_automl.engine.fused import fusable_method
from kd_automl.engine.train import BatchStream
from kd_automl.spec import TrainSpec

SW = [[1.0, 0.0, -1.0, 2.0], [-0.25, -2.0, -0.5, 0.5], [0.3, 0.1, 0.9, -0.7]]
SS = [[0.5, 0.5, -1.5, 1.0], [0.0, -1.0, 0.5, 0.25], [1.2, -0.4, 0.2, 0.0]]
TW = [[2.0, 0.0, 1.0, -1.0], [0.0, 1.0, 3.0, 0.5], [0.1, 0.2, 0.4, 0.3]]
TS = [[1.0, 0.5, 0.5, -0.5], [0.2, 0.8, 1.5, 0.1], [0.6, -0.2, 0.0, 0.9]]
Y = [3, 2, 0]


class TwoViews(nn.Module):
    """A student whose logits are a trainable table per view: input 0 the weak, 1 the strong."""

    def __init__(self):
        super().__init__()
        self.weak, self.strong = nn.Parameter(torch.tensor(SW)), nn.Parameter(torch.tensor(SS))

    def forward(self, x):
        return self.strong if x[0, 0] == 1 else self.weak


def _p(rows, T):
    return [softmax([v / T for v in r]) for r in rows]


def _kd(zs, zt, T):
    return T * T * sum(kl(t, s) for s, t in zip(_p(zs, T), _p(zt, T), strict=True)) / len(zs)


def _gram(a, rows_of_classes):
    """sum_k a[k][i] a[k][j] (classes: P^T P) or sum_k a[i][k] a[j][k] (samples: P P^T)."""
    if rows_of_classes:
        a = [list(c) for c in zip(*a, strict=True)]
    return [[sum(x * y for x, y in zip(r, s, strict=True)) for s in a] for r in a]


def _align(zs, zt, T, classes):
    gs, gt = _gram(_p(zs, T), classes), _gram(_p(zt, T), classes)
    sq = sum((t - s) ** 2 for rs, rt in zip(gs, gt, strict=True)
             for s, t in zip(rs, rt, strict=True))
    return sq / (len(zs[0]) if classes else len(zs))


def by_hand(sw, ss, T, w, c):
    """KD_ours.forward_train's losses summed, in plain Python."""
    pw = [softmax(r) for r in TW]
    conf = [max(r) for r in pw]
    m = sum(v <= statistics.median(conf) for v in conf) / len(conf)
    per_class = [sum(col) for col in zip(*pw, strict=True)]
    m_c = sum(v <= statistics.median(per_class) for v in per_class) / len(per_class)
    temps = [T, 3.0, 5.0, 2.0, 6.0]
    ce_ = sum(ce(z, y) + ce(z2, y) for z, z2, y in zip(sw, ss, Y, strict=True)) / len(Y)
    kd_weak = m * sum(_kd(sw, TW, t) for t in temps)
    kd_strong = sum(_kd(ss, TS, t) for t in temps[:3]) + sum(_kd(sw, TW, t) for t in temps[3:])
    cc = m_c * sum(_align(sw, TW, t, True) for t in temps)
    bc = m * sum(_align(sw, TW, t, False) for t in temps)
    parts = {"kd_weak": kd_weak, "kd_strong": kd_strong, "cc": cc, "bc": bc}
    return c * ce_ + w * sum(parts.values()), parts


def _run(**hp):
    d = get_method("mlkd")(TwoViews(), **hp)
    t_out = TeacherOutput(torch.tensor(TW), strong=(torch.ones(3, 1), torch.tensor(TS)))
    loss, parts = d.loss((torch.zeros(3, 1), torch.tensor(Y)), t_out)
    return d, loss, parts


@pytest.mark.parametrize("hp", [{}, {"temperature": 2.0, "kd_weight": 1.5, "ce_weight": 0.5},
                                {"temperature": 7.0, "kd_weight": 0.3, "ce_weight": 1.0}],
                         ids=["defaults", "T2", "T7"])
def test_mlkd_value_and_gradient_are_the_authors_code(hp):
    full = {"temperature": 4.0, "kd_weight": 0.9, "ce_weight": 0.1, **hp}
    T, w, c = full["temperature"], full["kd_weight"], full["ce_weight"]
    d, loss, parts = _run(**hp)
    expected, terms = by_hand(SW, SS, T, w, c)
    for k, v in terms.items():
        assert parts[k].item() == pytest.approx(v, rel=1e-4), k
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    h = 1e-5
    for view, table in (("weak", SW), ("strong", SS)):
        grad = getattr(d.student, view).grad
        for i in range(3):
            for j in range(4):
                up, dn = [r[:] for r in table], [r[:] for r in table]
                up[i][j] += h
                dn[i][j] -= h
                args_up = (up, SS) if view == "weak" else (SW, up)
                args_dn = (dn, SS) if view == "weak" else (SW, dn)
                g = (by_hand(*args_up, T, w, c)[0] - by_hand(*args_dn, T, w, c)[0]) / (2 * h)
                assert grad[i, j].item() == pytest.approx(g, rel=2e-3, abs=1e-5), (view, i, j)


def test_defaults_are_the_authors_cifar_setting_and_it_does_not_fuse():
    cls = get_method("mlkd")
    assert {k: h.default for k, h in cls.hyperparameters.items()} == {
        "temperature": 4.0, "kd_weight": 0.9, "ce_weight": 0.1}
    assert cls.strong_view and "mlkd" in fusable_method("mlkd")


def test_strong_augment_is_seeded_keeps_shape_and_range_and_changes_images():
    x = torch.randn(32, 3, 16, 16)
    a = strong_augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, strong_augment(x, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, strong_augment(x, torch.Generator().manual_seed(4)))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= x.min() - 1e-5 and a.max() <= x.max() + 1e-5  # the pixel range kept
    changed = (a - x).abs().flatten(1).amax(1) > 1e-3
    assert changed.float().mean() > 0.8  # two operations: few images come out as they went in
    assert len(STRONG_OPS) == 14


def test_strong_augment_without_operations_is_one_cutout_of_the_mean():
    """ops=0 leaves the cutout alone: per image one axis-aligned square (side below half the
    width) painted the channel mean (normalised 0), every other pixel as it was."""
    x = torch.rand(64, 3, 16, 16) * 2 - 0.5
    a = strong_augment(x, torch.Generator().manual_seed(1), ops=0)
    changed = ((a - x).abs() > 1e-4).any(1)  # (N, H, W); elsewhere a float round trip
    assert torch.all(a.masked_select(changed[:, None].expand_as(a)).abs() < 1e-5)
    for img in changed:
        rows, cols = img.any(1).nonzero()[:, 0], img.any(0).nonzero()[:, 0]
        if len(rows):
            assert img[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
            assert cols.max() - cols.min() <= 9 and rows.max() - rows.min() <= 9
    assert changed.flatten(1).any(1).float().mean() > 0.7


def test_batch_stream_draws_the_strong_view_after_the_weak_and_runs_the_teacher_on_it():
    torch.manual_seed(0)
    x, y = torch.randn(8, 1, 6, 6), torch.arange(8) % 3
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(36, 3)).eval()
    budget = TrainSpec(epochs=1, batch_size=8, augment="crop_flip")
    stream = BatchStream(x, y, budget, torch.device("cpu"), teacher=teacher, seed=5,
                         strong_view=True)
    xb, yb, t_out = next(iter(stream))
    view, logits = t_out.strong
    raw = next(iter(BatchStream(x, y, budget, torch.device("cpu"), teacher=teacher,
                                seed=5).loader))[0]  # the same seeded order, not augmented
    g = torch.Generator().manual_seed(6)  # the stream's augmentation generator: seed + 1
    weak = augment_batch(raw, "crop_flip", g)
    strong = strong_augment(augment_batch(raw, "crop_flip", g), g)
    assert torch.equal(xb, weak) and torch.equal(view, strong)
    assert torch.allclose(logits, teacher(strong)) and torch.allclose(t_out.logits, teacher(weak))
    with pytest.raises(ValueError, match="strong view"):
        BatchStream(x, y, TrainSpec(epochs=1, batch_size=8), torch.device("cpu"),
                    teacher_logits=torch.zeros(8, 3), strong_view=True)


def test_a_stopped_mlkd_run_resumes_on_the_same_strong_views(tmp_path, one_thread):
    """The strong views come from the stream's seeded generator, which a checkpoint saves: a run
    stopped after epoch 2 and resumed has the curve of a run never stopped."""
    import copy

    from conftest import TINY
    from test_checkpoint import Stop, _fit

    from kd_automl.engine.checkpoint import Checkpoint
    from kd_automl.spec import parse_spec
    from kd_automl.workspace import Workspace

    data = copy.deepcopy(TINY)
    data["method"], data["search"] = {"name": "mlkd"}, {}
    data["train"].update(epochs=4, augment="crop_flip")
    spec = parse_spec(data)
    ws = Workspace(tmp_path / "ws")
    reference, _ = _fit(spec, ws)
    with pytest.raises(Stop):
        _fit(spec, ws, Checkpoint(tmp_path / "ckpt", every=1), stop_after=3)
    curve, _ = _fit(spec, ws, Checkpoint(tmp_path / "ckpt", every=1))
    for ours, theirs in zip(curve, reference, strict=True):
        for key in ours:
            assert ours[key] == pytest.approx(theirs[key], rel=1e-6, abs=1e-7), key
    assert {"train_kd_weak", "train_kd_strong", "train_cc", "train_bc"} <= set(curve[-1])
