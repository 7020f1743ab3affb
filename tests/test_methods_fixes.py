"""Issue 28's fixes to existing methods, against their authors' code, worked by hand: DIST's
default weights, CTKD's kd_scale, Moonshine's third attention point as the authors take it."""

import pytest
import torch
from conftest import ce
from helpers.losses import S_LOGITS, T_LOGITS, Stub, W, X, Y, kd_term

from kd_automl.distill import TeacherOutput, check_method, get_method
from kd_automl.distill.dist import dist_loss
from kd_automl.distill.moonshine import stage_ends
from kd_automl.engine.train import teacher_forward
from kd_automl.errors import KDAutoMLError
from kd_automl.models import build_model
from kd_automl.models.base import block_features

CPU = torch.device("cpu")


def _ce():
    return (ce(S_LOGITS[0], 0) + ce(S_LOGITS[1], 2)) / 2


def test_dist_default_is_the_authors_imagenet_weight_two_on_both_terms():
    hp = get_method("dist").hyperparameters
    assert (hp["beta"].default, hp["gamma"].default, hp["temperature"].default) == (2.0, 2.0, 1.0)
    loss, parts = get_method("dist")(Stub(W)).loss((X, Y), TeacherOutput(T_LOGITS))
    inter, intra = dist_loss(torch.tensor(S_LOGITS), T_LOGITS, 1.0)
    # their config: kd_loss_weight 2 x DIST(beta 1, gamma 1, tau 1), CE weight 1
    assert loss.item() == pytest.approx(_ce() + 2 * (inter.item() + intra.item()), rel=1e-5)


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_ctkd_kd_scale_multiplies_the_kd_term_alone(scale):
    d = get_method("ctkd")(Stub(W), alpha=0.9, kd_scale=scale, t_min=1.0, t_range=4.0)
    loss, parts = d.loss((X, Y), TeacherOutput(T_LOGITS))
    T = parts["temperature"].item()
    kd = kd_term(S_LOGITS, T_LOGITS.tolist(), T)
    assert parts["kd"].item() == pytest.approx(kd, rel=1e-5)
    # scale 10: the logit-standardization authors' CE 0.1 / KD 9
    assert loss.item() == pytest.approx(0.1 * _ce() + 0.9 * scale * kd, rel=1e-5)
    check_method("ctkd", {"kd_scale": 10.0})
    with pytest.raises(KDAutoMLError):
        check_method("ctkd", {"kd_scale": -1.0})


def _at(f_s, f_t):
    def a(f):
        v = f.double().pow(2).mean(1).flatten(1)
        return v / v.norm(dim=1, keepdim=True)
    return (a(f_s) - a(f_t)).pow(2).mean().item()


def test_moonshine_stage_pre_takes_the_third_point_before_the_final_bn_relu():
    torch.manual_seed(0)
    teacher = build_model("wrn", (3, 8, 8), 10, depth=16, width=1).eval()
    cls = get_method("moonshine")
    student = cls.build_student(build_model("wrn", (3, 8, 8), 10, depth=10, width=1), g=2, b=1)
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    d = cls(student, beta=1000.0, g=2, at_points="stage_pre").eval()
    assert d.needs_features == "blocks"
    t_out = teacher_forward(teacher, x, d.needs_features, CPU)
    loss, parts = d.loss((x, y), t_out)
    # the authors' points: the last block of each stage, on both networks
    logits, s_blocks = block_features(student, x)
    _, t_blocks = block_features(teacher, x)
    assert len(s_blocks) == 3 and len(t_blocks) == 6
    s_pts, t_pts = [s_blocks[0], s_blocks[1], s_blocks[2]], [t_blocks[1], t_blocks[3], t_blocks[5]]
    assert all(a is b for a, b in zip(stage_ends(t_out.features), t_out.features[1::2],
                                      strict=True))
    at = sum(_at(s, t) for s, t in zip(s_pts, t_pts, strict=True))
    ce_ = torch.nn.functional.cross_entropy(logits.double(), y).item()
    assert parts["at"].item() == pytest.approx(at, rel=1e-4)
    assert loss.item() == pytest.approx(ce_ + 1000.0 * at, rel=1e-4)
    # the first two points are the stage outputs; the third differs from the default's
    _, s_stages = student.forward_features(x)
    assert torch.allclose(s_pts[0], s_stages[0]) and torch.allclose(s_pts[1], s_stages[1])
    stage = cls(student, beta=1000.0, g=2).eval()
    _, parts_s = stage.loss((x, y), teacher_forward(teacher, x, True, CPU))
    assert parts_s["at"].item() != pytest.approx(at, rel=1e-3)


def test_moonshine_stage_pre_is_stage_on_a_post_activation_resnet():
    torch.manual_seed(0)
    teacher = build_model("resnet", (3, 8, 8), 10, depth=14).eval()
    cls = get_method("moonshine")
    student = cls.build_student(build_model("resnet", (3, 8, 8), 10, depth=8), g=4, b=1)
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    pre = cls(student, at_points="stage_pre").eval()
    a = pre.loss((x, y), teacher_forward(teacher, x, pre.needs_features, CPU))[1]["at"]
    b = cls(student).eval().loss((x, y), teacher_forward(teacher, x, True, CPU))[1]["at"]
    assert a.item() == pytest.approx(b.item(), rel=1e-5)
