"""The methods' metadata, without torch: one :class:`MethodInfo` per method.

``kd-automl methods``, ``kd-automl check`` and the spec checks read this; each torch class in
``distill/`` declares only its ``name`` and takes the rest from its entry when it registers, so
the metadata has this one home (``tests/test_catalog.py`` holds classes and entries together).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kd_automl.distill.method_info import HyperParameter, MethodInfo
from kd_automl.errors import KDAutoMLError

_CATALOG: dict[str, MethodInfo] = {}


def _add(info: MethodInfo) -> MethodInfo:
    _CATALOG[info.name] = info
    return info


def method_names() -> list[str]:
    return sorted(_CATALOG)


def method_info(name: str) -> MethodInfo:
    if name not in _CATALOG:
        raise KDAutoMLError(f"method.name: unknown method {name!r}; known: "
                            f"{', '.join(method_names())}")
    return _CATALOG[name]


def check_method(name: str, options: dict[str, Any]) -> None:
    info = method_info(name)
    for key, value in options.items():
        if key not in info.hyperparameters:
            known = ", ".join(info.hyperparameters) or "none"
            raise KDAutoMLError(f"method.{key}: {name!r} has no hyperparameter {key!r} "
                                f"(it has: {known})")
        info.hyperparameters[key].check(key, value)


# logit standardization (Sun et al., CVPR 2024): an option of the logit methods (logit_std.py)
LOGIT_STD = {
    "logit_std": HyperParameter(False, flag=True, search={"_type": "choice",
                                                          "_value": [False, True]},
                                doc="z-score both logits before the softmax (Sun et al. 2024)"),
}

_add(MethodInfo(
    "abkd", fusable=True,
    paper=("Wang et al. ABKD: Pursuing a Proper Allocation of the Probability Mass in "
           "Knowledge Distillation via alpha-beta-Divergence (ICML 2025)"),
    source="Wang et al. 2025; the authors' ghwang-s/abkd, distiller_zoo/abkl.py",
    hyperparameters={
        "alpha": HyperParameter(0.8, search={"_type": "uniform", "_value": [0.0, 1.5]},
                                doc="alpha of the divergence (hardness concentration)"),
        "beta": HyperParameter(0.3, search={"_type": "uniform", "_value": [0.0, 1.0]},
                               doc="beta of the divergence (confidence concentration)"),
        "temperature": HyperParameter(4.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 8]},
                                      doc="softmax temperature T"),
        "kd_weight": HyperParameter(32.0, low=0.0, search={"_type": "loguniform",
                                                            "_value": [1, 100]},
                                    doc="weight of the divergence term"),
        "ce_weight": HyperParameter(1.0, low=0.0, doc="weight of the CE term"),
    }))

AT = _add(MethodInfo(
    "at", fusable=True, needs_features=True,
    paper=("Zagoruyko, Komodakis. Paying More Attention to Attention: Improving the "
           "Performance of CNNs via Attention Transfer (ICLR 2017)"),
    source="Zagoruyko, Komodakis 2017",
    hyperparameters={
        "beta": HyperParameter(1000.0, low=0.0, search={"_type": "loguniform",
                                                         "_value": [10, 10000]},
                               doc="weight of the attention term"),
    }))

_add(MethodInfo(
    "byot", needs_teacher=False,
    paper=("Zhang et al. Be Your Own Teacher: Improve the Performance of CNNs via "
           "Self Distillation (ICCV 2019)"),
    source=("Zhang et al. 2019; loss and defaults: "
            "the authors' code (ArchipLab)"),
    hyperparameters={
        "temperature": HyperParameter(3.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 10]},
                                      doc="softmax temperature of the deepest exit's soft labels"),
        "alpha": HyperParameter(0.3, low=0.0, high=1.0,
                                search={"_type": "uniform", "_value": [0, 1]},
                                doc="weight of the KD term of a shallow exit (1 - alpha on CE)"),
        "feat_weight": HyperParameter(0.03, low=0.0, search={"_type": "loguniform",
                                                              "_value": [1e-3, 1]},
                                      doc="weight of the feature hint of a shallow exit"),
        "kd_t2": HyperParameter(False, flag=True,
                                doc="multiply the soft-label KL by T^2 (Hinton KD); the "
                                    "authors' code does not"),
        "hint_all": HyperParameter(False, flag=True,
                                   doc="hint every shallow exit; the authors skip the one just "
                                       "below the deepest"),
    }))

_add(MethodInfo("ce", fusable=True, needs_teacher=False,
                paper="(baseline: cross-entropy on the labels, no teacher)"))

_add(MethodInfo(
    "crld", strong_view=True,
    fusable=False,  # its student runs on a second view the fused group does not draw
    paper=("Zhang, Liu, Cai, Ma. Cross-View Consistency Regularisation for Knowledge "
           "Distillation (ACM MM 2024)"),
    source=("Zhang et al. 2024; no official repository found: the authors' code as "
            "copied in scx-822/CRLD-main at c9d6657, mdistiller/distillers/CRLD.py"),
    hyperparameters={
        "temperature": HyperParameter(4.0, low=1e-3, search={"_type": "uniform",
                                                               "_value": [2, 8]},
                                      doc="softmax temperature T"),
        "wv_weight": HyperParameter(2.0, low=0.0, search={"_type": "uniform", "_value": [0.5, 4]},
                                    doc="weight of the within-view KD terms"),
        "cv_weight": HyperParameter(0.5, low=0.0, search={"_type": "uniform", "_value": [0, 2]},
                                    doc="weight of the cross-view KD terms"),
        "tau_w": HyperParameter(0.9, low=0.0, high=1.0,
                                search={"_type": "uniform", "_value": [0.5, 0.95]},
                                doc="teacher confidence on the weak view a sample needs"),
        "tau_s": HyperParameter(0.2, low=0.0, high=1.0,
                                search={"_type": "uniform", "_value": [0.05, 0.5]},
                                doc="teacher confidence on the strong view a sample needs"),
        "ce_weight": HyperParameter(1.0, low=0.0, doc="weight of the CE of each view"),
    }))

_add(MethodInfo(
    "ctkd",
    fusable=True,  # the temperature is a member's own parameter, stepped by its own optimizer
    paper="Li et al. Curriculum Temperature for Knowledge Distillation (AAAI 2023)",
    source="Li et al. 2023",
    hyperparameters={
        "alpha": HyperParameter(0.9, low=0.0, high=1.0,
                                search={"_type": "uniform", "_value": [0, 1]},
                                doc="weight of the KD term (1 - alpha on CE)"),
        "kd_scale": HyperParameter(1.0, low=0.0, doc="extra factor on the KD term only"),
        "t_min": HyperParameter(1.0, low=1e-3, doc="lowest temperature (authors' t_start)"),
        "t_range": HyperParameter(20.0, low=0.0,
                                  search={"_type": "uniform", "_value": [5, 30]},
                                  doc="T = t_min + t_range * sigmoid(theta) (authors' t_end)"),
        "lambda_max": HyperParameter(1.0, low=0.0, search={"_type": "uniform", "_value": [0, 2]},
                                     doc="final strength of the gradient reversal"),
        "lambda_epochs": HyperParameter(10, low=0, integer=True,
                                        search={"_type": "choice", "_value": [5, 10, 20]},
                                        doc="epochs of the cosine curriculum of lambda"),
        **LOGIT_STD,
    }))

_add(MethodInfo(
    "dist", fusable=True,
    paper="Huang et al. Knowledge Distillation from A Stronger Teacher (NeurIPS 2022)",
    source="Huang et al. 2022",
    hyperparameters={
        "beta": HyperParameter(2.0, low=0.0, search={"_type": "uniform", "_value": [0, 4]},
                               doc="weight of the inter-class relation term"),
        "gamma": HyperParameter(2.0, low=0.0, search={"_type": "uniform", "_value": [0, 4]},
                                doc="weight of the intra-class relation term"),
        "temperature": HyperParameter(1.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 8]},
                                      doc="softmax temperature tau"),
    }))

DKD = _add(MethodInfo(
    "dkd", fusable=True,
    paper="Zhao et al. Decoupled Knowledge Distillation (CVPR 2022)",
    source="Zhao et al. 2022",
    hyperparameters={
        "alpha": HyperParameter(1.0, low=0.0, search={"_type": "uniform", "_value": [0, 2]},
                                doc="weight of TCKD"),
        "beta": HyperParameter(8.0, low=0.0, search={"_type": "uniform", "_value": [1, 16]},
                               doc="weight of NCKD"),
        "temperature": HyperParameter(4.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 10]},
                                      doc="softmax temperature T"),
        "warmup": HyperParameter(20, low=0, integer=True,
                                 search={"_type": "choice", "_value": [0, 5, 20]},
                                 doc="epochs over which the DKD terms ramp up linearly"),
        "ce_weight": HyperParameter(1.0, low=0.0, doc="weight of the CE term"),
        **LOGIT_STD,
    }))

_add(MethodInfo(
    "dml", needs_teacher=False,
    paper="Zhang, Xiang, Hospedales, Lu. Deep Mutual Learning (CVPR 2018)",
    source="Zhang et al. 2018",
    hyperparameters={
        "cohort_size": HyperParameter(2, low=2, high=8, integer=True,
                                      search={"_type": "choice", "_value": [2, 3, 4]},
                                      doc="K, the number of students trained together"),
        "kl_weight": HyperParameter(1.0, low=0.0, search={"_type": "uniform", "_value": [0, 2]},
                                    doc="weight of the mean KL to the peers"),
    }))

_add(MethodInfo(
    "fitnet", fusable=True, needs_features=True,
    paper="Romero et al. FitNets: Hints for Thin Deep Nets (ICLR 2015)",
    source="Romero et al. 2015; loss and weights: mdistiller",
    hyperparameters={
        "feat_weight": HyperParameter(100.0, low=0.0, search={"_type": "loguniform",
                                                               "_value": [1, 1000]},
                                      doc="weight of the hint (MSE) term"),
        "ce_weight": HyperParameter(1.0, low=0.0, search={"_type": "uniform", "_value": [0, 1]},
                                    doc="weight of the CE term"),
        "hint_layer": HyperParameter(-1, integer=True, search={"_type": "choice",
                                                               "_value": [-1, -2]},
                                     doc="feature index (student and teacher; -1 = deepest)"),
        "regressor_relu": HyperParameter(True, flag=True, doc=(
            "end the convolutional regressor in a ReLU, as mdistiller's ConvReg")),
    }))

KD = _add(MethodInfo(
    "kd", fusable=True,
    paper="Hinton, Vinyals, Dean. Distilling the Knowledge in a Neural Network (2015)",
    source="Hinton, Vinyals, Dean 2015",
    hyperparameters={
        "temperature": HyperParameter(4.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 20]},
                                      doc="softmax temperature T"),
        "alpha": HyperParameter(0.9, low=0.0, high=1.0,
                                search={"_type": "uniform", "_value": [0, 1]},
                                doc="weight of the KD term (1 - alpha on CE)"),
        "kd_scale": HyperParameter(1.0, low=0.0, doc="extra factor on the KD term only"),
        **LOGIT_STD,
    }))

_add(MethodInfo(
    "mlkd", strong_view=True,
    fusable=False,  # its student runs on a second view the fused group does not draw
    paper="Jin, Wang, Lin. Multi-Level Logit Distillation (CVPR 2023)",
    source=("Jin et al. 2023; the authors' Jin-Ying/Multi-Level-Logit-Distillation "
            "at 5ee473f, mdistiller/distillers/KD_ours.py and dataset/cifar100.py"),
    hyperparameters={
        "temperature": HyperParameter(4.0, low=1e-3, search={"_type": "uniform",
                                                               "_value": [2, 8]},
                                      doc="T, beside the fixed 2, 3, 5, 6"),
        "kd_weight": HyperParameter(0.9, low=0.0, search={"_type": "uniform",
                                                           "_value": [0.3, 2.0]},
                                    doc="weight of every distillation term"),
        "ce_weight": HyperParameter(0.1, low=0.0, search={"_type": "uniform",
                                                           "_value": [0.05, 1.0]},
                                    doc="weight of the CE of each view"),
    }))

_add(dataclasses.replace(
    AT, name="moonshine",
    fusable=False,  # reshapes the student: members with other g, b differ in architecture
    paper=("Crowley, Gray, Storkey. Moonshine: Distilling with Cheap Convolutions "
           "(NeurIPS 2018)"),
    source=("Crowley, Gray, Storkey 2018; "
            "convolutions and AT: the authors' code"),
    hyperparameters={
        **AT.hyperparameters,
        "g": HyperParameter(4, low=1, integer=True, search={"_type": "choice",
                                                            "_value": [1, 2, 4, 8]},
                            doc="cheap k x k convolution: channels per group (conv: code, "
                                "1 = depthwise) or groups (conv: paper)"),
        "b": HyperParameter(1, low=1, integer=True, search={"_type": "choice",
                                                            "_value": [1, 2, 4]},
                            doc="bottleneck factor (B(b)); 1 = no bottleneck"),
        "conv": HyperParameter("code", choices=("code", "paper"),
                               doc="cheap convolution: the authors' DConvG/GB (code) or the "
                                   "paper's G(g)/B(b) (paper)"),
        "at_points": HyperParameter("stage", choices=("stage", "stage_pre", "block"),
                                    doc="attention transfer on the stage outputs (weight beta; "
                                        "stage_pre: the last before the final BN-ReLU, as the "
                                        "authors) or after every block (beta * 3 / blocks)"),
    }))

_add(MethodInfo(
    "nkd", fusable=True,
    paper=("Yang et al. From Knowledge Distillation to Self-Knowledge Distillation: "
           "a Unified Approach with Normalized Loss and Customized Soft Labels (ICCV 2023)"),
    source=("Yang et al. 2023; the authors' yzd-v/cls_KD at 9466b3f, "
            "mmcls/models/dis_losses/nkd.py"),
    hyperparameters={
        "temperature": HyperParameter(1.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 8]},
                                      doc="T of the non-target term"),
        "gamma": HyperParameter(1.5, low=0.0, search={"_type": "uniform", "_value": [0.5, 4]},
                                doc="weight of the non-target term"),
        "ce_weight": HyperParameter(1.0, low=0.0, doc="weight of the CE term"),
    }))

_add(MethodInfo(
    "noisy_kd", fusable=True, stochastic=True,
    paper=("Sau, Balasubramanian. Deep Model Compression: Distilling Knowledge from Noisy "
           "Teachers (2016)"),
    source="Sau, Balasubramanian 2016",
    hyperparameters={
        "temperature": HyperParameter(4.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 20]},
                                      doc="softmax temperature T"),
        "alpha": HyperParameter(0.9, low=0.0, high=1.0,
                                search={"_type": "uniform", "_value": [0, 1]},
                                doc="weight of the KD term (1 - alpha on CE)"),
        "sigma": HyperParameter(0.1, low=0.0, search={"_type": "uniform", "_value": [0, 1]},
                                doc="std of the multiplicative noise z(1 + N(0, sigma^2))"),
        "p": HyperParameter(0.5, low=0.0, high=1.0, search={"_type": "uniform", "_value": [0, 1]},
                            doc="fraction of each batch whose teacher logits are perturbed"),
        **LOGIT_STD,
    }))

_add(MethodInfo(
    "rocket", needs_teacher=False,
    paper=("Zhou et al. Rocket Launching: A Universal and Efficient Framework for Training "
           "Well-performing Light Net (AAAI 2018)"),
    source="Zhou et al. 2018; loss and λ: the authors' code",
    hyperparameters={
        "hint_weight": HyperParameter(0.03, low=0.0, search={"_type": "loguniform",
                                                              "_value": [0.001, 1]},
                                      doc="lambda, weight of the logit hint ||l - z||^2 "
                                          "(authors' code: 0.03)"),
        "shared_layers": HyperParameter(1, low=1, integer=True,
                                        search={"_type": "choice", "_value": [1, 2]},
                                        doc="student layers (feature stages) the booster shares"),
        "booster_width": HyperParameter(64, low=1, integer=True,
                                        search={"_type": "choice", "_value": [32, 64, 128]},
                                        doc="width of the booster's own layers"),
    }))

# Scale Decoupled Distillation (sdd.py) wraps KD, DKD and NKD
SDD_SCALES = ("1,2,4", "1,2", "1")
_SDD = MethodInfo(
    "", paper="Wei et al. Scale Decoupled Distillation (CVPR 2024)",
    needs_features="class_map",  # the teacher's classifier at every position of its last map
    fusable=False)  # reads the student's classifier, which a fused group's batched model hides
_SDD_COMMON = {
    "scales": HyperParameter("1,2,4", choices=SDD_SCALES,
                             search={"_type": "choice", "_value": list(SDD_SCALES[:2])},
                             doc="pooling scales M of the last map (1 = global cell only)"),
    "complementary_weight": HyperParameter(2.0, low=0.0,
                                           search={"_type": "uniform", "_value": [1, 4]},
                                           doc="beta: weight of the complementary cells' terms"),
}

_add(dataclasses.replace(
    _SDD, name="sdd_kd",
    source="Wei et al. 2024; the authors' SDD-CVPR2024, mdistiller/distillers/KD.py (SDD_KD)",
    hyperparameters={
        "temperature": HyperParameter(4.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 10]},
                                      doc="softmax temperature T"),
        "alpha": HyperParameter(0.9, low=0.0, high=1.0,
                                search={"_type": "uniform", "_value": [0, 1]},
                                doc="weight of the SDD term (1 - alpha on CE)"),
        **_SDD_COMMON,
    }))

_add(dataclasses.replace(
    _SDD, name="sdd_dkd",
    source=("Wei et al. 2024; the authors' SDD-CVPR2024, "
            "mdistiller/distillers/SDD_DKD.py"),
    hyperparameters={  # DKD's own (defaults and ranges), its warmup ramping the SDD term
        **{k: DKD.hyperparameters[k] for k in ("alpha", "beta", "temperature")},
        "warmup": dataclasses.replace(DKD.hyperparameters["warmup"],
                                      doc="epochs over which the SDD-DKD term ramps up "
                                          "linearly"),
        "ce_weight": DKD.hyperparameters["ce_weight"],
        **_SDD_COMMON,
    }))

_add(dataclasses.replace(
    _SDD, name="sdd_nkd",
    source=("Wei et al. 2024; the authors' SDD-CVPR2024 at e412036, "
            "mdistiller/distillers/SDD_nkd.py (NKD: cls_KD's nkd.py)"),
    hyperparameters={  # their cfg.DKD: T, BETA as gamma, CE_WEIGHT, WARMUP (mdistiller's)
        "temperature": HyperParameter(4.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 8]},
                                      doc="T of the non-target term"),
        "gamma": HyperParameter(8.0, low=0.0, search={"_type": "uniform", "_value": [1, 10]},
                                doc="weight of the non-target term"),
        "warmup": dataclasses.replace(DKD.hyperparameters["warmup"],
                                      doc="epochs over which the SDD-NKD term ramps up "
                                          "linearly"),
        "ce_weight": DKD.hyperparameters["ce_weight"],
        "keep_target": HyperParameter(False, flag=True,
                                      doc="the non-target softmax keeps the target class, as "
                                          "SDD's SDD_nkd.py does (off: NKD's own loss)"),
        **_SDD_COMMON,
    }))

_add(MethodInfo(
    "srd", fusable=True, needs_features=True,
    paper=("Miles, Mikolajczyk. Understanding the Role of the Projector in Knowledge "
           "Distillation (AAAI 2024)"),
    source="Miles, Mikolajczyk 2024",
    hyperparameters={
        "p": HyperParameter(4.0, low=0.5, search={"_type": "uniform", "_value": [1, 6]},
                            doc="exponent of the LogSum distance log(sum |f_s - f_t|^p)"),
        "feat_weight": HyperParameter(2.0, low=0.0, search={"_type": "loguniform",
                                                             "_value": [0.1, 10]},
                                      doc="weight of the feature (LogSum) term"),
        "kd_weight": HyperParameter(1.0, low=0.0, search={"_type": "uniform", "_value": [0, 2]},
                                    doc="weight of the KD term on the logits"),
        "temperature": HyperParameter(1.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 8]},
                                      doc="softmax temperature of the KD term"),
    }))

_add(dataclasses.replace(
    KD, name="takd", needs_assistant=True,
    paper=("Mirzadeh et al. Improved Knowledge Distillation via Teacher Assistant "
           "(AAAI 2020)"),
    source="Mirzadeh et al. 2020; KL as the paper (Hinton)",
    hyperparameters={
        **KD.hyperparameters,
        "assistant_temperature": HyperParameter(4.0, low=1e-3, search={
            "_type": "loguniform", "_value": [1, 20]}, doc="T of the hops into assistants"),
        "assistant_alpha": HyperParameter(0.9, low=0.0, high=1.0, search={
            "_type": "uniform", "_value": [0, 1]}, doc="alpha of the hops into assistants"),
        "kd_reduction": HyperParameter("batchmean", choices=("batchmean", "mean"), doc=(
            "KL over the classes: batchmean = summed (paper, Hinton); mean = averaged, as "
            "the authors' nn.KLDivLoss()")),
    }))

_add(MethodInfo(
    "wttm", fusable=True,
    paper=("Zheng, Yang. Knowledge Distillation Based on Transformed Teacher Matching "
           "(ICLR 2024)"),
    source="Zheng, Yang 2024",
    hyperparameters={
        "temperature": HyperParameter(4.0, low=1e-3, search={"_type": "loguniform",
                                                               "_value": [1, 10]},
                                      doc="T of the teacher's power transform p_t^(1/T)"),
        "beta": HyperParameter(1.0, low=0.0, search={"_type": "loguniform", "_value": [0.1, 10]},
                               doc="weight of the WTTM term (CE weight 1)"),
    }))
