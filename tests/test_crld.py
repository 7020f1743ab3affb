"""CRLD's loss against the authors' CRLD.forward_train worked by hand in plain math: CE on both
views, within- and cross-view KD per sample masked by the teacher's confidence on each view;
value and gradient on both views at several settings, defaults included."""

import pytest
import torch
from conftest import ce, kl, softmax
from test_mlkd import SS, SW, TS, TW, TwoViews, Y

from kd_automl.distill import TeacherOutput, get_method
from kd_automl.engine.fused import fusable_method


def _kd_rows(zs, zt, T):
    return [T * T * kl(softmax([v / T for v in t]), softmax([v / T for v in s]))
            for s, t in zip(zs, zt, strict=True)]


def by_hand(sw, ss, T, wv, cv, tau_w, tau_s, c):
    mask_w = [max(softmax(t)) >= tau_w for t in TW]
    mask_s = [max(softmax(t)) >= tau_s for t in TS]
    n = len(Y)
    within = sum(m * (a + b) for m, a, b in zip(mask_w, _kd_rows(sw, TW, T), _kd_rows(ss, TS, T),
                                                strict=True)) / n
    cross = sum(m * (a + b) for m, a, b in zip(mask_s, _kd_rows(ss, TW, T), _kd_rows(sw, TS, T),
                                               strict=True)) / n
    ce_ = sum(ce(a, y) + ce(b, y) for a, b, y in zip(sw, ss, Y, strict=True)) / n
    return c * ce_ + wv * within + cv * cross, within, cross


@pytest.mark.parametrize("hp", [{}, {"tau_w": 0.3, "tau_s": 0.35, "temperature": 2.0},
                                {"tau_w": 0.0, "tau_s": 0.0, "wv_weight": 1.0, "cv_weight": 1.5,
                                 "ce_weight": 0.5, "temperature": 6.0}],
                         ids=["defaults", "some-masked", "none-masked"])
def test_crld_value_and_gradient_are_the_authors_code(hp):
    full = {"temperature": 4.0, "wv_weight": 2.0, "cv_weight": 0.5, "tau_w": 0.9, "tau_s": 0.2,
            "ce_weight": 1.0, **hp}
    args = [full[k] for k in ("temperature", "wv_weight", "cv_weight", "tau_w", "tau_s",
                              "ce_weight")]
    d = get_method("crld")(TwoViews(), **hp)
    t_out = TeacherOutput(torch.tensor(TW), strong=(torch.ones(3, 1), torch.tensor(TS)))
    loss, parts = d.loss((torch.zeros(3, 1), torch.tensor(Y)), t_out)
    expected, within, cross = by_hand(SW, SS, *args)
    assert parts["within"].item() == pytest.approx(within, rel=1e-4, abs=1e-7)
    assert parts["cross"].item() == pytest.approx(cross, rel=1e-4, abs=1e-7)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    h = 1e-5
    for view, table in (("weak", SW), ("strong", SS)):
        for i in range(3):
            for j in range(4):
                up, dn = [r[:] for r in table], [r[:] for r in table]
                up[i][j] += h
                dn[i][j] -= h
                pair_up = (up, SS) if view == "weak" else (SW, up)
                pair_dn = (dn, SS) if view == "weak" else (SW, dn)
                g = (by_hand(*pair_up, *args)[0] - by_hand(*pair_dn, *args)[0]) / (2 * h)
                grad = getattr(d.student, view).grad[i, j].item()
                assert grad == pytest.approx(g, rel=2e-3, abs=1e-5), (view, i, j)


def test_the_masks_select_samples_by_the_teachers_confidence():
    """A threshold at the second most confident sample keeps two of the three samples' terms
    on each view: less than all of them, more than none."""
    conf_w = [max(softmax(t)) for t in TW]
    conf_s = [max(softmax(t)) for t in TS]
    some = {"tau_w": sorted(conf_w)[1], "tau_s": sorted(conf_s)[1]}
    _, within, cross = by_hand(SW, SS, 4.0, 2.0, 0.5, some["tau_w"], some["tau_s"], 1.0)
    _, within_all, cross_all = by_hand(SW, SS, 4.0, 2.0, 0.5, 0.0, 0.0, 1.0)
    assert 0 < within < within_all and 0 < cross < cross_all


def test_defaults_are_the_authors_cfg_and_it_does_not_fuse():
    cls = get_method("crld")
    assert {k: h.default for k, h in cls.hyperparameters.items()} == {
        "temperature": 4.0, "wv_weight": 2.0, "cv_weight": 0.5, "tau_w": 0.9, "tau_s": 0.2,
        "ce_weight": 1.0}
    assert cls.strong_view and "crld" in fusable_method("crld")
