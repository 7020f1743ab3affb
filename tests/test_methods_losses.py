"""Every method's loss on fixed tensors against values computed by hand (plain math)."""

import math

import pytest
import torch
from conftest import ce, kl, softmax
from helpers.losses import S_LOGITS, T_LOGITS, Stub, W, X, Y, kd_term

from kd_automl.distill import TeacherOutput, get_method
from kd_automl.distill.losses import dkd_loss, noisy_logits
from kd_automl.models import build_model
from kd_automl.models.moonshine import cheapen


def test_kd_and_takd_are_hinton_loss_with_t_squared():
    T, alpha = 2.0, 0.7
    expected_kd = kd_term(S_LOGITS, T_LOGITS.tolist(), T)
    expected_ce = (ce(S_LOGITS[0], 0) + ce(S_LOGITS[1], 2)) / 2
    for name in ("kd", "takd"):
        loss, parts = get_method(name)(Stub(W), temperature=T, alpha=alpha).loss(
            (X, Y), TeacherOutput(T_LOGITS))
        assert parts["kd"].item() == pytest.approx(expected_kd, rel=1e-5)
        assert loss.item() == pytest.approx(0.3 * expected_ce + 0.7 * expected_kd, rel=1e-5)
    # T^2 scaling: at T = 2 the KD term is 4x the plain KL
    plain = sum(kl(softmax([v / 2 for v in t]), softmax([v / 2 for v in s]))
                for s, t in zip(S_LOGITS, T_LOGITS.tolist(), strict=True)) / 2
    assert expected_kd == pytest.approx(4 * plain)


def test_noisy_teacher_perturbs_only_masked_rows_multiplicatively():
    z = torch.tensor([[1.0, -2.0], [3.0, 4.0]])
    noise = torch.tensor([[0.5, -0.5], [1.0, 1.0]])
    out = noisy_logits(z, noise, torch.tensor([True, False]))
    assert out.tolist() == [[1.5, -1.0], [3.0, 4.0]]


def test_noisy_kd_with_p_zero_is_kd_and_with_noise_differs():
    T = 3.0
    expected = kd_term(S_LOGITS, T_LOGITS.tolist(), T)
    _, parts = get_method("noisy_kd")(Stub(W), temperature=T, sigma=5.0, p=0.0).loss(
        (X, Y), TeacherOutput(T_LOGITS))
    assert parts["kd"].item() == pytest.approx(expected, rel=1e-5)
    torch.manual_seed(0)
    _, parts = get_method("noisy_kd")(Stub(W), temperature=T, sigma=0.5, p=1.0).loss(
        (X, Y), TeacherOutput(T_LOGITS))
    assert parts["kd"].item() != pytest.approx(expected, rel=1e-3)


def test_fitnet_hint_is_mse_of_the_regressed_feature():
    d = get_method("fitnet")(Stub(W), feat_weight=10.0, ce_weight=0.5)
    f_t = torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0]])
    d.setup(X, TeacherOutput(T_LOGITS, [f_t]))
    with torch.no_grad():
        d.regressor.net.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        d.regressor.net.bias.fill_(0.5)
    loss, parts = d.loss((X, Y), TeacherOutput(T_LOGITS, [f_t]))
    # regressed: row0 [1.5, 0.5, 1.5], row1 [1.0, -0.5, 0.0]
    sq = [(1.5 - 1) ** 2, (0.5 - 2) ** 2, 1.5**2, 1.0**2, (-0.5 + 1) ** 2, (0.0 - 1) ** 2]
    hint = sum(sq) / 6
    expected_ce = (ce(S_LOGITS[0], 0) + ce(S_LOGITS[1], 2)) / 2
    assert parts["hint"].item() == pytest.approx(hint, rel=1e-5)
    assert loss.item() == pytest.approx(0.5 * expected_ce + 10 * hint, rel=1e-5)


def test_srd_whitens_both_features_and_takes_the_logsum_distance():
    x = torch.tensor([[1.0, 0.0], [0.5, -1.0], [0.0, 1.0]])
    y = torch.tensor([0, 2, 1])
    t_logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 3.0], [1.0, 1.0, 0.0]])
    f_t = torch.tensor([[3.0], [1.0], [0.0]])
    d = get_method("srd")(Stub(W), p=4.0, feat_weight=2.0, kd_weight=0.5, temperature=2.0)
    d.setup(x, TeacherOutput(t_logits, [f_t]))
    with torch.no_grad():
        d.projector.weight.copy_(torch.tensor([[1.0, 2.0]]))
        d.projector.bias.zero_()
    d.train()
    loss, parts = d.loss((x, y), TeacherOutput(t_logits, [f_t]))

    def bn(v):  # batch statistics, biased variance, eps 1e-4, no affine
        m = sum(v) / len(v)
        var = sum((a - m) ** 2 for a in v) / len(v)
        return [(a - m) / math.sqrt(var + 1e-4) for a in v]

    zs, zt = bn([1.0, -1.5, 2.0]), bn([3.0, 1.0, 0.0])  # projected student: x0 + 2 x1
    feat = math.log(sum(abs(a - b) ** 4 for a, b in zip(zs, zt, strict=True)))
    s_logits = (x @ torch.tensor(W)).tolist()
    kd = kd_term(s_logits, t_logits.tolist(), 2.0)
    expected_ce = sum(ce(z, int(t)) for z, t in zip(s_logits, y, strict=True)) / 3
    assert parts["feat"].item() == pytest.approx(feat, rel=1e-4)
    assert parts["kd"].item() == pytest.approx(kd, rel=1e-5)
    assert loss.item() == pytest.approx(expected_ce + 2 * feat + 0.5 * kd, rel=1e-4)


def test_attention_transfer_by_hand():
    # one sample, maps of shape (C=2, H=1, W=2)
    f_s = torch.tensor([[[[1.0, 2.0]], [[3.0, 0.0]]]])
    f_t = torch.tensor([[[[2.0, 2.0]], [[0.0, 2.0]]]])
    x = torch.tensor([[1.0, 0.0]])
    d = get_method("at")(Stub(W, feats=lambda _: [f_s]), beta=100.0)
    loss, parts = d.loss((x, torch.tensor([1])), TeacherOutput(T_LOGITS[:1], [f_t]))
    # attention = channel mean of f^2, L2-normalised: student [5, 2] -> /sqrt(29); teacher [2, 4]
    a_s = [5 / math.sqrt(29), 2 / math.sqrt(29)]
    a_t = [2 / math.sqrt(20), 4 / math.sqrt(20)]
    at = sum((p - q) ** 2 for p, q in zip(a_s, a_t, strict=True)) / 2
    assert parts["at"].item() == pytest.approx(at, rel=1e-5)
    assert loss.item() == pytest.approx(ce(S_LOGITS[0], 1) + 100 * at, rel=1e-5)


def test_dkd_terms_by_hand_with_t_squared_and_warmup():
    zs, zt, y, T = [1.0, 2.0, 0.5], [3.0, 0.0, 1.0], 0, 2.0
    ps, pt = softmax([v / T for v in zs]), softmax([v / T for v in zt])
    tckd = T * T * kl([pt[0], 1 - pt[0]], [ps[0], 1 - ps[0]])
    nckd = T * T * kl(softmax([zt[1] / T, zt[2] / T]), softmax([zs[1] / T, zs[2] / T]))
    got_t, got_n = dkd_loss(torch.tensor([zs]), torch.tensor([zt]), torch.tensor([y]),
                            alpha=1.5, beta=8.0, temperature=T)
    assert got_t.item() == pytest.approx(1.5 * tckd, rel=1e-5)
    assert got_n.item() == pytest.approx(8.0 * nckd, rel=1e-5)
    d = get_method("dkd")(Stub([[1.0, 2.0, 0.5]]), alpha=1.5, beta=8.0, temperature=T, warmup=4)
    d.epoch = 1
    loss, _ = d.loss((torch.tensor([[1.0]]), torch.tensor([y])), TeacherOutput(torch.tensor([zt])))
    assert loss.item() == pytest.approx(ce(zs, y) + 0.25 * (1.5 * tckd + 8 * nckd), rel=1e-5)


def test_dml_each_member_gets_ce_plus_mean_kl_to_the_others():
    d = get_method("dml")(Stub(W), cohort_size=3, kl_weight=0.5)
    w1, w2 = [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]], [[-1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    with torch.no_grad():
        d.peers[0].w.copy_(torch.tensor(w1))
        d.peers[1].w.copy_(torch.tensor(w2))
    loss, parts = d.loss((X, Y), None)
    logits = [S_LOGITS, (X @ torch.tensor(w1)).tolist(), (X @ torch.tensor(w2)).tolist()]
    total = 0.0
    for i, zi in enumerate(logits):
        ce_i = sum(ce(z, int(t)) for z, t in zip(zi, Y, strict=True)) / 2
        kl_i = sum(kd_term(zi, zj, 1.0) for j, zj in enumerate(logits) if j != i) / 2
        assert parts[f"ce_{i}"].item() == pytest.approx(ce_i, rel=1e-5)
        assert parts[f"kl_{i}"].item() == pytest.approx(kl_i, rel=1e-5)
        total += ce_i + 0.5 * kl_i
    assert loss.item() == pytest.approx(total, rel=1e-5)
    assert d.headline({"student_0": 0.5, "student_1": 0.9, "student_2": 0.7}) == "student_1"


def test_byot_exit_learns_from_labels_deepest_soft_labels_and_feature():
    feats = lambda x: [x * 2, x.flatten(1) @ torch.tensor([[1.0, 0.0], [1.0, 1.0]])]  # noqa: E731
    d = get_method("byot")(Stub(W, feats=feats), temperature=2.0, alpha=0.4, feat_weight=0.1,
                           kd_t2=True, hint_all=True)  # Hinton's T^2; the only exit hinted
    d.setup(X, None)
    d.train()
    loss, parts = d.loss((X, Y), None)
    z, h = (t.tolist() for t in d.exits[0](X * 2))  # the exit's own output (not the loss code)
    deep = (X @ torch.tensor([[1.0, 0.0], [1.0, 1.0]])).tolist()
    ce_deep = (ce(S_LOGITS[0], 0) + ce(S_LOGITS[1], 2)) / 2
    ce1 = (ce(z[0], 0) + ce(z[1], 2)) / 2
    kd1 = kd_term(z, S_LOGITS, 2.0)
    hint1 = sum((a - b) ** 2 for ra, rb in zip(h, deep, strict=True)
                for a, b in zip(ra, rb, strict=True)) / 4
    assert parts["kd_exit1"].item() == pytest.approx(kd1 / 4, rel=1e-4)  # logged: the KL
    assert parts["hint_exit1"].item() == pytest.approx(hint1, rel=1e-4)
    assert loss.item() == pytest.approx(ce_deep + 0.6 * ce1 + 0.4 * kd1 + 0.1 * hint1, rel=1e-4)
    assert set(d.members()) == {"exit1", "deepest"} and d.headline({}) == "deepest"


def test_rocket_hint_is_squared_logit_distance_and_blocks_the_booster_gradient():
    d = get_method("rocket")(Stub(W), hint_weight=0.3, shared_layers=1, booster_width=4)
    d.setup(X, None)
    d.train()
    loss, parts = d.loss((X, Y), None)
    z = d.booster(X).tolist()
    hint = sum(sum((a - b) ** 2 for a, b in zip(r, q, strict=True))
               for r, q in zip(S_LOGITS, z, strict=True)) / 2
    ce_l = (ce(S_LOGITS[0], 0) + ce(S_LOGITS[1], 2)) / 2
    ce_b = (ce(z[0], 0) + ce(z[1], 2)) / 2
    assert parts["hint"].item() == pytest.approx(hint, rel=1e-4)
    assert loss.item() == pytest.approx(ce_l + ce_b + 0.3 * hint, rel=1e-4)
    parts["hint"].backward()
    assert all(p.grad is None for p in d.booster.parameters())
    assert d.student.w.grad is not None and d.student.w.grad.abs().sum() > 0


def test_moonshine_cheap_convolutions_keep_shapes_and_cut_parameters_by_hand():
    x = torch.randn(2, 1, 8, 8)

    def conv_params(m):
        return sum(p.numel() for n, p in m.named_parameters() if "blocks.1.0" in n)

    base = build_model("cnn", (1, 8, 8), 10, width=16, depth=2)
    assert conv_params(base) == 16 * 16 * 9
    g4 = cheapen(build_model("cnn", (1, 8, 8), 10, width=16, depth=2), g=4, b=1)
    assert conv_params(g4) == 16 * 4 * 9 + 16 * 16  # grouped 3x3 + 1x1 mixing
    b2 = cheapen(build_model("cnn", (1, 8, 8), 10, width=16, depth=2), g=1, b=2)
    assert conv_params(b2) == 16 * 8 + 8 * 8 * 9 + 8 * 16  # 1x1 down, 3x3, 1x1 up
    assert g4(x).shape == b2(x).shape == (2, 10)
    first = [n for n, _ in g4.named_parameters() if n.startswith("blocks.0.0")]
    assert first == ["blocks.0.0.weight"]  # the convolution on the image is kept
    student = get_method("moonshine").build_student(
        build_model("cnn", (1, 8, 8), 10, width=16, depth=2), g=4, b=1, conv="paper")
    assert conv_params(student) == conv_params(g4)


def test_every_method_is_documented_with_the_source_it_follows():
    """docs/methods.md has one table row per registered method, and its "follows" cell is
    the method's ``source`` (which ``kd-automl methods`` prints)."""
    from pathlib import Path

    from kd_automl.distill import get_method, method_names

    doc = Path(__file__).resolve().parents[1] / "docs" / "methods.md"
    rows = {}
    for line in doc.read_text().splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[-1]
    assert set(rows) == set(method_names())
    for name in method_names():
        assert rows[name] == (get_method(name).source or "–"), name
