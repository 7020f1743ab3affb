"""The model zoo: every model builds, has the feature contract, is sized by numbers; profiling."""

import inspect

import pytest
import torch
from torch import nn

from kd_automl.errors import KDAutoMLError
from kd_automl.models import (
    ZooModel,
    build_model,
    check_model,
    count_params,
    model_names,
    model_options,
    profile,
)
from kd_automl.models.catalog import family_names
from kd_automl.models.registry import builders

CIFAR = (3, 32, 32)
ZOO = [n for n in model_names() if n != "torchvision"]
MLPS = {"mlp", "hinton_teacher", "hinton_student"}
INPUT = {"lenet5": (1, 28, 28), "lenet5_half": (1, 28, 28)}  # set for 28x28 by default


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("arch", ZOO)
def test_every_model_builds_and_keeps_the_feature_contract(arch):
    torch.manual_seed(0)
    shape = INPUT.get(arch, CIFAR)
    model = build_model(arch, shape, 7).eval()
    assert isinstance(model, ZooModel)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        logits, feats = model.forward_features(x)
        assert torch.allclose(model(x), logits)
    assert logits.shape == (2, 7)
    assert feats and all(f.shape[0] == 2 for f in feats)
    if arch not in MLPS:  # CNNs: one 4-D map per stage, shallow to deep
        assert all(f.dim() == 4 for f in feats)
        sides = [f.shape[-1] for f in feats]
        assert sides == sorted(sides, reverse=True)
    head = getattr(model, "fc", None)
    if head is not None:  # the last feature is exactly what the head pools into the classifier
        assert torch.allclose(head(feats[-1].mean((2, 3)) if feats[-1].dim() == 4
                                   else feats[-1]), logits, atol=1e-5)


@pytest.mark.parametrize(("arch", "params_m"), [
    ("resnet8x4", 1.23), ("resnet32x4", 7.43), ("resnet56", 0.86), ("resnet110", 1.74),
    ("wrn_40_2", 2.26), ("wrn_16_2", 0.70), ("vgg13", 9.46), ("vgg8", 3.96),
    ("mobilenetv2_half", 0.81), ("shufflenetv2", 1.36)])
def test_literature_sizes_on_cifar100(arch, params_m):
    with torch.device("meta"):
        model = build_model(arch, CIFAR, 100)
    assert count_params(model) / 1e6 == pytest.approx(params_m, abs=0.006)


@pytest.mark.parametrize(("arch", "small", "large"), [
    ("resnet", {"depth": 8}, {"depth": 14}), ("resnet8", {"width": 1.0}, {"width": 1.5}),
    ("wrn", {"depth": 16, "width": 1}, {"depth": 16, "width": 2.5}),
    ("vgg", {"depth": 8, "width": 0.5}, {"depth": 8, "width": 0.75}),
    ("plain_cnn", {"depth": 2}, {"depth": 6}), ("plain_cnn4", {"width": 1}, {"width": 3.5}),
    ("mobilenetv2", {"depth": 0.5}, {"depth": 1.5}), ("shufflenetv2", {"width": 0.5}, {}),
    ("shufflenetv2", {"depth": 0.4}, {"depth": 1}), ("mlp", {"width": 8}, {"width": 16.0}),
    ("cnn", {"depth": 1}, {"depth": 3})])
def test_sizes_are_numbers(arch, small, large):
    with torch.device("meta"):
        n_small = count_params(build_model(arch, CIFAR, 10, **small))
        n_large = count_params(build_model(arch, CIFAR, 10, **large))
    assert n_small < n_large


def test_aliases_are_the_family_with_other_defaults():
    assert model_options("resnet8x4") == {"depth": 8, "width": 4.0, "stem": 32}
    assert model_options("wrn_40_2") == {"depth": 40, "width": 2.0, "dropout": 0.0}
    check_model("resnet32x4", {"depth": 8})  # every alias option stays searchable


@pytest.mark.parametrize(("arch", "options", "words"), [
    ("resnet", {"depth": 9}, "6n+2"), ("wrn", {"depth": 11}, "6n+4"), ("vgg", {"depth": 12}, "8"),
    ("plain_cnn", {"depth": 3}, "2, 4"), ("resnet8", {"width": -1}, "width"),
    ("mobilenetv2", {"depth": 0}, "depth"), ("resnet8", {"size": 3}, "unknown option"),
    ("torchvision", {"name": "nope"}, "resnet18"), ("mlp", {"width": 2.5}, "integer")])
def test_bad_sizes_fail_at_validation(arch, options, words):
    with pytest.raises(KDAutoMLError, match="student") as err:
        check_model(arch, options, where="student")
    assert words in str(err.value)


def test_every_family_has_a_builder_that_takes_its_catalog_options():
    """The catalog holds the options and their rules; each torch builder takes them all, by
    name, so the two cannot drift."""
    built = builders()
    assert set(built) == set(family_names())
    for family, fn in built.items():
        params = list(inspect.signature(fn).parameters.values())[2:]
        assert all(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in params), family
        assert [p.name for p in params] == list(model_options(family)), family


def test_the_size_rules_name_the_field_for_any_bad_value():
    with pytest.raises(KDAutoMLError, match=r"^student: dropout must be a probability"):
        check_model("wrn", {"dropout": "high"}, where="student")
    with pytest.raises(KDAutoMLError, match=r"^teacher: stem must be an integer"):
        check_model("resnet8x4", {"stem": 0}, where="teacher")
    with pytest.raises(KDAutoMLError, match="16x16"):
        check_model("vgg8", {}, where="student", input_shape=(1, 8, 8))


def test_digit_sized_inputs():
    x = torch.randn(3, 1, 8, 8)
    for arch, opts in [("mlp", {}), ("cnn", {}), ("plain_cnn", {"depth": 6}), ("resnet8", {})]:
        assert build_model(arch, (1, 8, 8), 10, **opts)(x).shape == (3, 10)
    with pytest.raises(KDAutoMLError, match="16x16"):
        build_model("vgg8", (1, 8, 8), 10)


def test_torchvision_models_by_name():
    model = build_model("torchvision", CIFAR, 5, name="resnet18").eval()
    with torch.no_grad():
        logits, feats = model.forward_features(torch.randn(1, *CIFAR))
    assert logits.shape == (1, 5)
    assert [f.shape[1] for f in feats][-4:] == [64, 128, 256, 512]
    assert torch.allclose(model.net.fc(feats[-1].mean((2, 3))), logits, atol=1e-5)


def test_profile_counts_flops_by_hand_and_measures_latency():
    lin = profile(nn.Linear(8, 4), (8,))
    assert (lin.params, lin.flops) == (36, 2 * 8 * 4)
    assert lin.latency_ms is not None and lin.latency_ms > 0 and lin.device == "cpu"
    conv = profile(nn.Conv2d(3, 16, 3, padding=1, bias=False), (3, 8, 8), latency=False)
    assert conv.flops == 2 * (16 * 8 * 8) * (3 * 3 * 3) and conv.latency_ms is None
    batch = profile(build_model("resnet8", CIFAR, 10), CIFAR, batch_size=4)
    assert batch.batch_size == 4 and batch.flops == profile(
        build_model("resnet8", CIFAR, 10), CIFAR, latency=False).flops
