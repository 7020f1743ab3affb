"""ResKD units: residual targets, energy, the stopping rule, adaptive-inference accounting."""

import pytest
import torch
from torch import nn

from kd_automl.distill.base import TeacherOutput
from kd_automl.errors import KDAutoMLError
from kd_automl.models import profile
from kd_automl.reskd import (
    ArchSpace,
    StopRule,
    adaptive_point,
    build_res_student,
    energy,
    energy_ratio,
    gap_reduction,
    prefix_logits,
    residual_target,
)
from kd_automl.reskd.adaptive import ExitPoint, adaptive_curve, full_points, pick_threshold
from kd_automl.reskd.config import reskd_config
from kd_automl.reskd.ensemble import Ensemble, Member
from kd_automl.reskd.training import ResidualDistiller
from kd_automl.spec import parse_spec

T = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
Z1 = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
Z2 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def test_residual_targets_by_hand():
    assert torch.equal(residual_target(T, []), T)  # the first res-student distils the teacher
    assert torch.equal(residual_target(T, [Z1]), torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 2.0]]))
    assert torch.equal(residual_target(T, [Z1, Z2]),
                       torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))


def test_energy_is_mean_centred_and_ratio_by_hand():
    r = residual_target(T, [Z1, Z2])
    # rows centred: [2/3, -1/3, -1/3] and [-2/3, 1/3, 1/3] -> 6/9 each
    assert energy(r) == pytest.approx(12 / 9)
    # teacher rows centred: [5/3, -1/3, -4/3] (42/9) and [-4/3, 2/3, 2/3] (24/9)
    assert energy(T) == pytest.approx(66 / 9)
    assert energy_ratio(r, T) == pytest.approx(2 / 11)
    assert energy(torch.full((2, 3), 7.0)) == 0.0  # a per-row constant changes no prediction
    assert gap_reduction(residual_target(T, [Z1]), r) == pytest.approx(1 - (12 / 9) / energy(
        residual_target(T, [Z1])))


def test_ensemble_residual_matches_and_sums_logits():
    members = [Member(k + 1, {}, 1, 1, nn.Identity(), {"val": z}) for k, z in enumerate([Z1, Z2])]
    ens = Ensemble({"val": T}, 100, {"val": torch.tensor([0, 1])}, members)
    assert torch.equal(ens.logits("val"), Z1 + Z2)
    assert torch.equal(ens.residual("val"), residual_target(T, [Z1, Z2]))
    assert ens.energy_ratio("val") == pytest.approx(2 / 11)
    assert ens.flops_frac == pytest.approx(0.02)


class _Echo(nn.Module):  # a "student" whose logits are its input
    def forward(self, x):
        return x


@pytest.mark.parametrize("loss", ["mse", "kd"])
def test_residual_loss_is_zero_exactly_at_the_gap(loss):
    e = Z1
    side_by_side = TeacherOutput(torch.cat([T, e], 1))
    d = ResidualDistiller(_Echo(), loss=loss, temperature=2.0)
    y = torch.tensor([0, 1])
    at_gap, _ = d.loss((T - e, y), side_by_side)
    off, parts = d.loss((T - e + torch.tensor([[1.0, -1.0, 0.0]]), y), side_by_side)
    assert at_gap.item() == pytest.approx(0.0, abs=1e-6)
    assert off.item() > 0.01 and loss in parts


def test_stopping_rule_fires_as_specified():
    rule = StopRule(energy_threshold=0.1, flops_budget=0.5, max_students=3, min_gain=0.0)
    assert rule.after_student(1, 0.10, 0.2) == "energy"  # <= threshold
    assert rule.after_student(1, 0.11, 0.2) is None
    assert rule.after_student(1, 0.05, 0.6) == "energy"  # energy is checked first
    assert rule.after_student(2, 0.5, 0.5) == "budget"  # >= budget
    assert rule.after_student(3, 0.5, 0.3) == "max_students"
    assert rule.before_stage(0.4, 0.1) is None  # exactly fits
    assert rule.before_stage(0.41, 0.1) == "budget"
    assert rule.fits(0.2, 0.3) and not rule.fits(0.2, 0.31)
    assert rule.after_search(None) == "no_gain" and rule.after_search(0.0) == "no_gain"
    assert rule.after_search(0.01) is None


# 4 samples, 2 members costing 10 and 30 FLOPs, teacher 100.
M1 = torch.tensor([[5.0, 0.0], [0.0, 5.0], [0.1, 0.0], [0.1, 0.0]])  # confident on 0 and 1
M2 = torch.tensor([[0.0, 0.0], [0.0, 0.0], [-3.0, 3.0], [3.0, -3.0]])
Y = torch.tensor([0, 0, 1, 1])


def test_adaptive_inference_accounting_constructed_case():
    prefixes = prefix_logits([M1, M2])
    assert torch.equal(prefixes[1], M1 + M2)
    p = adaptive_point(prefixes, Y, [10, 30], 100, threshold=0.9)
    # samples 0, 1 exit after member 1 (cost 10), samples 2, 3 after member 2 (cost 40)
    assert p.exits == [2, 2]
    assert p.flops_frac == pytest.approx((10 + 10 + 40 + 40) / 4 / 100)
    # predictions: 0 -> 0 (right), 1 -> 1 (wrong), 2 -> 1 (right), 3 -> 0 (wrong)
    assert p.accuracy == pytest.approx(0.5)
    everyone_first = adaptive_point(prefixes, Y, [10, 30], 100, threshold=0.0)
    assert everyone_first.exits == [4, 0] and everyone_first.flops_frac == pytest.approx(0.1)
    assert everyone_first.accuracy == pytest.approx(0.25)  # M1 argmax: 0, 1, 0, 0
    nobody_early = adaptive_point(prefixes, Y, [10, 30], 100, threshold=1.0)
    assert nobody_early.exits == [0, 4] and nobody_early.flops_frac == pytest.approx(0.4)
    full = full_points(prefixes, Y, [10, 30], 100)
    assert [f.flops_frac for f in full] == pytest.approx([0.1, 0.4])
    assert [f.accuracy for f in full] == pytest.approx([0.25, 0.5])
    assert nobody_early.accuracy == full[-1].accuracy == p.accuracy  # same accuracy, less compute
    curve = adaptive_curve(prefixes, Y, [10, 30], 100, [0.0, 0.9, 1.0])
    assert [c.flops_frac for c in curve] == pytest.approx([0.1, 0.25, 0.4])


def test_pick_threshold_cheapest_within_tolerance():
    pts = [ExitPoint(0.5, 0.90, 0.10, []), ExitPoint(0.9, 0.95, 0.20, []),
           ExitPoint(0.99, 0.96, 0.30, [])]
    assert pick_threshold(pts, 0.96, 0.01).threshold == 0.9
    assert pick_threshold(pts, 0.96, 0.0).threshold == 0.99
    assert pick_threshold(pts, 0.99, 0.0).threshold == 0.99  # none close: most accurate


def test_space_builds_every_dimension_and_flops_grow_with_width():
    space = ArchSpace()
    assert space.size() == 3 * 4 * 2 * 2
    flops = [profile(build_res_student({"depth": 2, "width": w, "block": "residual",
                                        "kernel": 3}, (1, 8, 8), 10), (1, 8, 8),
                     latency=False).flops for w in space.width]
    assert flops == sorted(flops) and len(set(flops)) == len(flops)
    m = build_res_student({"depth": 3, "width": 4, "block": "plain", "kernel": 5}, (3, 32, 32), 10)
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_optuna_suggestions_cover_the_space():
    import optuna

    from kd_automl.reskd import suggest_arch

    arch = {"depth": 3, "width": 16, "block": "plain", "kernel": 5}
    assert suggest_arch(optuna.trial.FixedTrial(arch), ArchSpace()) == arch


def _spec(reskd):
    return parse_spec({"name": "r", "teacher": {"arch": "cnn", "width": 8, "depth": 1},
                       "student": {"arch": "cnn", "width": 4, "depth": 1}, "reskd": reskd})


def test_config_errors_name_the_field():
    assert reskd_config(_spec(None)).max_students == 4
    with pytest.raises(KDAutoMLError, match=r"reskd.space.kernel"):
        reskd_config(_spec({"space": {"kernel": [2]}}))
    with pytest.raises(KDAutoMLError, match=r"reskd.bogus: unknown field"):
        reskd_config(_spec({"bogus": 1}))


def test_nni_model_space_is_the_same_space():
    pytest.importorskip("nni", reason='NNI is not installed (the "nni" extra)')
    from kd_automl.reskd.nni_nas import model_space

    space = model_space(ArchSpace(), (1, 8, 8), 10)
    mutables = space.simplify()
    assert {k: list(m.values) for k, m in mutables.items()} == ArchSpace().choices()
    arch = {"depth": 2, "width": 16, "block": "residual", "kernel": 5}
    frozen = space.freeze(arch)
    assert frozen.arch == arch
    assert profile(frozen.net, (1, 8, 8), latency=False).flops == profile(
        build_res_student(arch, (1, 8, 8), 10), (1, 8, 8), latency=False).flops
