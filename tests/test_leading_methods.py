"""Logit standardization, CTKD, DIST and WTTM against their papers' formulas, worked by hand
in float64 (plain math) on tiny inputs."""

import math

import pytest
import torch
from conftest import ce, kl, softmax
from torch import nn

from kd_automl.distill import TeacherOutput, check_method, get_method, method_names
from kd_automl.distill.ctkd import cosine_curriculum
from kd_automl.distill.logit_std import standardize
from kd_automl.errors import KDAutoMLError


def zscore(z):
    """(z - mean) / (1e-7 + unbiased std), the LS authors' normalize()."""
    m = sum(z) / len(z)
    sd = math.sqrt(sum((v - m) ** 2 for v in z) / (len(z) - 1))
    return [(v - m) / (1e-7 + sd) for v in z]


def kd_term(zs, zt, T):
    rows = [kl(softmax([v / T for v in t]), softmax([v / T for v in s]))
            for s, t in zip(zs, zt, strict=True)]
    return T * T * sum(rows) / len(rows)


def pearson(a, b):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    da, db = [v - ma for v in a], [v - mb for v in b]
    num = sum(x * y for x, y in zip(da, db, strict=True))
    return num / (math.sqrt(sum(x * x for x in da)) * math.sqrt(sum(y * y for y in db)))


class Fixed(nn.Module):
    """A student whose logits are a trainable table (one row per sample), whatever the input."""

    def __init__(self, logits):
        super().__init__()
        self.z = nn.Parameter(torch.tensor(logits))

    def forward(self, x):
        return self.z


ZS = [[1.0, 0.0, -1.0, 2.0], [-0.25, -2.0, -0.5, 0.5]]
ZT = [[2.0, 0.0, 1.0, -1.0], [0.0, 1.0, 3.0, 0.5]]
Y = [0, 2]
X = torch.zeros(2, 1)


def _loss(method, **hp):
    d = get_method(method)(Fixed(ZS), **hp)
    return d, *d.loss((X, torch.tensor(Y)), TeacherOutput(torch.tensor(ZT)))


def _ce():
    return sum(ce(z, y) for z, y in zip(ZS, Y, strict=True)) / len(Y)


# ---- logit standardization ----------------------------------------------------------------

def test_standardize_is_the_row_z_score_with_unbiased_std():
    # [1, 2, 3, 6]: mean 3, unbiased variance (4 + 1 + 0 + 9) / 3
    sd = math.sqrt(14 / 3)
    got = standardize(torch.tensor([[1.0, 2.0, 3.0, 6.0]], dtype=torch.float64))
    assert got[0].tolist() == pytest.approx([-2 / sd, -1 / sd, 0.0, 3 / sd], rel=1e-6)


def test_kd_with_logit_std_is_kd_of_the_z_scores_with_the_published_weights():
    # the published KD+LS setting: base temperature 2, CE 0.1, KD 9 (alpha 0.9 x kd_scale 10)
    T = 2.0
    kd = kd_term([zscore(z) for z in ZS], [zscore(z) for z in ZT], T)
    _, loss, parts = _loss("kd", temperature=T, alpha=0.9, kd_scale=10.0, logit_std=True)
    assert parts["kd"].item() == pytest.approx(kd, rel=1e-5)
    assert loss.item() == pytest.approx(0.1 * _ce() + 9.0 * kd, rel=1e-5)
    # off, it is plain KD on the raw logits
    _, _, plain = _loss("kd", temperature=T, logit_std=False)
    assert plain["kd"].item() == pytest.approx(kd_term(ZS, ZT, T), rel=1e-5)
    assert kd != pytest.approx(kd_term(ZS, ZT, T), rel=1e-3)


def test_kd_with_logit_std_ignores_a_shift_and_scale_of_the_student_logits():
    shifted = [[3.0 * v + 5.0 for v in z] for z in ZS]
    a = get_method("kd")(Fixed(ZS), logit_std=True).loss((X, torch.tensor(Y)),
                                                       TeacherOutput(torch.tensor(ZT)))[1]
    b = get_method("kd")(Fixed(shifted), logit_std=True).loss((X, torch.tensor(Y)),
                                                            TeacherOutput(torch.tensor(ZT)))[1]
    assert a["kd"].item() == pytest.approx(b["kd"].item(), rel=1e-4)


def test_dkd_with_logit_std_decouples_the_z_scored_logits():
    T, alpha, beta = 2.0, 1.5, 8.0
    tckd = nckd = 0.0
    for s, t, y in zip(ZS, ZT, Y, strict=True):
        s, t = zscore(s), zscore(t)
        ps, pt = softmax([v / T for v in s]), softmax([v / T for v in t])
        tckd += T * T * kl([pt[y], 1 - pt[y]], [ps[y], 1 - ps[y]]) / len(Y)
        rest = [c for c in range(len(s)) if c != y]
        nckd += T * T * kl(softmax([t[c] / T for c in rest]),
                           softmax([s[c] / T for c in rest])) / len(Y)
    _, loss, parts = _loss("dkd", temperature=T, alpha=alpha, beta=beta, warmup=0,
                           logit_std=True)
    assert parts["tckd"].item() == pytest.approx(alpha * tckd, rel=1e-5)
    assert parts["nckd"].item() == pytest.approx(beta * nckd, rel=1e-5)
    assert loss.item() == pytest.approx(_ce() + alpha * tckd + beta * nckd, rel=1e-5)


def test_logit_std_is_a_flag_in_the_spec():
    for method in ("kd", "dkd", "noisy_kd", "ctkd"):
        check_method(method, {"logit_std": True})
        check_method(method, {"logit_std": 0})
    for bad in (0.5, "yes", 2):
        with pytest.raises(KDAutoMLError, match="logit_std: expected true or false"):
            check_method("kd", {"logit_std": bad})
    assert get_method("kd")(Fixed(ZS), logit_std=1).hp["logit_std"] is True


# ---- CTKD --------------------------------------------------------------------------------

def test_ctkd_curriculum_is_a_half_cosine_from_zero_to_lambda_max():
    assert cosine_curriculum(0, 10, 1.0) == 0.0
    assert cosine_curriculum(1, 10, 1.0) == pytest.approx((1 - math.cos(math.pi / 10)) / 2)
    assert cosine_curriculum(5, 10, 2.0) == pytest.approx(1.0)
    assert cosine_curriculum(10, 10, 1.0) == pytest.approx(1.0)
    assert cosine_curriculum(240, 10, 1.0) == pytest.approx(1.0)


def test_ctkd_learns_its_temperature_through_a_reversed_gradient():
    # t_range 4 (not the default 20) keeps the float32 KL well conditioned: T ~ 3.9
    alpha, t_min, t_range = 0.9, 1.0, 4.0
    sig = 1 / (1 + math.exp(-1.0))  # theta starts at 1
    T = t_min + t_range * sig
    d, loss, parts = _loss("ctkd", alpha=alpha, t_min=t_min, t_range=t_range,
                           lambda_max=1.0, lambda_epochs=10)
    d.epoch = 5  # lambda = (1 - cos(pi / 2)) / 2 = 0.5
    loss = d.loss((X, torch.tensor(Y)), TeacherOutput(torch.tensor(ZT)))[0]
    assert parts["temperature"].item() == pytest.approx(T, rel=1e-6)
    assert loss.item() == pytest.approx(0.1 * _ce() + 0.9 * kd_term(ZS, ZT, T), rel=1e-5)
    loss.backward()
    # d loss / d theta = alpha * dKD/dT * t_range * sig (1 - sig); the reversal gives -0.5 x it
    h = 1e-5
    dkd_dt = (kd_term(ZS, ZT, T + h) - kd_term(ZS, ZT, T - h)) / (2 * h)
    forward_grad = alpha * dkd_dt * t_range * sig * (1 - sig)
    assert d.theta.grad.item() == pytest.approx(-0.5 * forward_grad, rel=1e-3)


def test_ctkd_student_gradient_is_not_reversed():
    d, loss, parts = _loss("ctkd", alpha=0.9)
    loss.backward()
    T = parts["temperature"].item()
    k, kd_total, _ = _loss("kd", alpha=0.9, temperature=T)
    kd_total.backward()
    assert torch.allclose(d.student.z.grad, k.student.z.grad, rtol=1e-4, atol=1e-7)


# ---- DIST --------------------------------------------------------------------------------

def test_dist_is_inter_and_intra_class_pearson_with_tau_squared():
    tau, beta, gamma = 4.0, 2.0, 3.0
    ps = [softmax([v / tau for v in z]) for z in ZS]
    pt = [softmax([v / tau for v in z]) for z in ZT]
    inter = 1 - sum(pearson(a, b) for a, b in zip(ps, pt, strict=True)) / len(ps)
    cols = range(len(ps[0]))
    intra = 1 - sum(pearson([r[c] for r in ps], [r[c] for r in pt]) for c in cols) / len(cols)
    _, loss, parts = _loss("dist", beta=beta, gamma=gamma, temperature=tau)
    assert parts["inter"].item() == pytest.approx(tau**2 * inter, rel=1e-4)
    assert parts["intra"].item() == pytest.approx(tau**2 * intra, rel=1e-4)
    assert loss.item() == pytest.approx(_ce() + beta * tau**2 * inter + gamma * tau**2 * intra,
                                        rel=1e-4)


def test_dist_is_zero_when_the_student_matches_the_teacher_up_to_a_shift():
    d = get_method("dist")(Fixed([[v + 7.0 for v in z] for z in ZT]))
    _, parts = d.loss((X, torch.tensor(Y)), TeacherOutput(torch.tensor(ZT)))
    assert parts["inter"].item() == pytest.approx(0.0, abs=1e-4)  # float32 floor
    assert parts["intra"].item() == pytest.approx(0.0, abs=1e-4)


# ---- WTTM --------------------------------------------------------------------------------

def test_wttm_matches_the_power_transformed_teacher_weighted_by_its_power_sum():
    T, beta = 4.0, 3.0
    g = 1 / T
    total = 0.0
    for s, t in zip(ZS, ZT, strict=True):
        pt = softmax(t)
        u = sum(p**g for p in pt)
        q = [p**g / u for p in pt]
        total += u * kl(q, softmax(s))  # the student's softmax has no temperature
    wttm = total / len(ZS)
    _, loss, parts = _loss("wttm", temperature=T, beta=beta)
    assert parts["wttm"].item() == pytest.approx(wttm, rel=1e-5)
    assert loss.item() == pytest.approx(_ce() + beta * wttm, rel=1e-5)


def test_wttm_at_temperature_one_is_plain_kl_to_the_teacher():
    _, _, parts = _loss("wttm", temperature=1.0)
    plain = sum(kl(softmax(t), softmax(s)) for s, t in zip(ZS, ZT, strict=True)) / len(ZS)
    assert parts["wttm"].item() == pytest.approx(plain, rel=1e-5)  # U = sum p_t = 1


def test_the_new_methods_are_registered_and_fusable():
    for name in ("ctkd", "dist", "wttm"):
        assert name in method_names()
        assert get_method(name).fusable and not get_method(name).stochastic
