"""The model zoo's names, options and size rules, without torch.

Each family (``resnet``, ``wrn``, ...) states its options with their defaults and one rule,
``sizes(input_shape, num_classes, options) -> options``, that checks them against the data
and returns them as the builder takes them (``16.0`` -> ``16``). An alias (``resnet8x4``) is a
family with other defaults. ``kd-automl check`` and the spec checks read this; the torch
builders (one module per family, registered by :func:`kd_automl.models.registry.register_model`)
take the checked options, so a size's rule has this one home. Only ``torchvision`` is also
checked by building it (:func:`kd_automl.models.registry.check_model`, on the meta device):
its names and weights are torchvision's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kd_automl.errors import KDAutoMLError
from kd_automl.models._size import as_float, as_int, check_spatial

PROBE_SHAPE = (3, 32, 32)  # the shape checked when the data set's is not known

Shape = tuple[int, ...]
Rule = Callable[[Shape, int, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ModelEntry:
    """A name a spec can write: its family, its options' defaults and one line about it."""

    name: str
    family: str
    defaults: dict[str, Any]
    doc: str


_FAMILIES: dict[str, tuple[Rule, bool]] = {}  # family -> (its sizes rule, built to check)
_ENTRIES: dict[str, ModelEntry] = {}


def _family(family: str, doc: str, /, *, built_to_check: bool = False, **defaults: Any):
    def deco(rule: Rule) -> Rule:
        _FAMILIES[family] = (rule, built_to_check)
        _ENTRIES[family] = ModelEntry(family, family, defaults, doc)
        return rule

    return deco


def _alias(name: str, family: str, /, **defaults: Any) -> None:
    base = _ENTRIES[family]
    sizes = ", ".join(f"{k}={v}" for k, v in defaults.items())
    _ENTRIES[name] = ModelEntry(name, family, {**base.defaults, **defaults},
                                f"{base.doc} ({sizes})")


def _probability(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise KDAutoMLError(f"{name} must be a probability in [0, 1), got {value!r}")
    return float(value)


def _one_of(name: str, value: int, allowed: Any) -> int:
    if value not in allowed:
        raise KDAutoMLError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value}")
    return value


# -- the families ---------------------------------------------------------------------------

LENET_INPUT_SIZES = (28, 32)


@_family("lenet5", "LeNet-5 (two 5x5 conv layers, 120-84 head; ReLU and max-pooling)",
         conv1=6, conv2=16, fc1=120, fc2=84, input_size=28)
def _lenet5(shape: Shape, num_classes: int, o: dict[str, Any]) -> dict[str, Any]:
    sizes = {k: as_int(k, o[k], 1) for k in ("conv1", "conv2", "fc1", "fc2")}
    input_size = as_int("input_size", o["input_size"], 1)
    if input_size not in LENET_INPUT_SIZES:
        raise KDAutoMLError(f"input_size must be 28 (MNIST's layout: first conv padded by 2) or "
                            f"32 (LeCun's), got {input_size}")
    if len(shape) != 3 or tuple(shape[1:]) != (input_size, input_size):
        got = "x".join(map(str, shape[1:])) if len(shape) == 3 else shape
        raise KDAutoMLError(f"input_size: lenet5 is set for {input_size}x{input_size} images but "
                            f"the data set's are {got}; set input_size to match the data")
    return {**sizes, "input_size": input_size}


@_family("mobilenetv2", "MobileNetV2 (CIFAR): channels ``* width``, block repeats ``* depth``, "
         "expansion T", width=1.0, depth=1.0, expansion=6)
def _mobilenetv2(shape: Shape, num_classes: int, o: dict[str, Any]) -> dict[str, Any]:
    sizes = {"width": as_float("width", o["width"]), "depth": as_float("depth", o["depth"]),
             "expansion": as_int("expansion", o["expansion"], 1)}
    check_spatial(shape, 2, "mobilenetv2")
    return sizes


# depth -> (conv widths per group, hidden linear width or 0); a 2x2 pooling after each group
PLAIN_CNN_LAYOUTS: dict[int, tuple[tuple[tuple[int, ...], ...], int]] = {
    2: (((16,), (16,)), 0),
    4: (((16, 16), (32, 32)), 0),
    6: (((16, 16), (32, 32), (64, 64)), 0),
    8: (((16, 16), (32, 32), (64, 64), (128, 128)), 64),
    10: (((32, 32), (64, 64), (128, 128), (256, 256, 256, 256)), 128),
}


@_family("plain_cnn", "TAKD plain CNN with ``depth`` (2, 4, 6, 8, 10) conv layers, widths "
         "scaled by ``width``", depth=4, width=1.0)
def _plain_cnn(shape: Shape, num_classes: int, o: dict[str, Any]) -> dict[str, Any]:
    depth = _one_of("depth", as_int("depth", o["depth"], 1), PLAIN_CNN_LAYOUTS)
    width = as_float("width", o["width"])
    check_spatial(shape, 2 ** len(PLAIN_CNN_LAYOUTS[depth][0]), "plain_cnn")
    return {"depth": depth, "width": width}


@_family("resnet", "CIFAR ResNet: ``depth`` = 6n+2, stage widths ``16/32/64 * width``, "
         "``stem`` channels", depth=20, width=1.0, stem=None)
def _resnet(shape: Shape, num_classes: int, o: dict[str, Any]) -> dict[str, Any]:
    depth = as_int("depth", o["depth"], 8)
    if (depth - 2) % 6:
        raise KDAutoMLError(f"depth must be 6n+2 (8, 14, 20, 26, 32, 44, 56, 110), got {depth}")
    width = as_float("width", o["width"])
    check_spatial(shape, 4, "resnet")
    stem = as_int("stem", o["stem"], 1) if o["stem"] is not None else None
    return {"depth": depth, "width": width, "stem": stem}


@_family("shufflenetv2", "ShuffleNetV2 (CIFAR): stage widths ``116/232/464 * width``, "
         "repeats ``* depth``", width=1.0, depth=1.0)
def _shufflenetv2(shape: Shape, num_classes: int, o: dict[str, Any]) -> dict[str, Any]:
    sizes = {"width": as_float("width", o["width"]), "depth": as_float("depth", o["depth"])}
    check_spatial(shape, 8, "shufflenetv2")
    return sizes


@_family("mlp", "Multilayer perceptron on the flattened input", width=64, depth=1,
         batchnorm=True, dropout=0.0, input_dropout=0.0)
def _mlp(shape: Shape, num_classes: int, o: dict[str, Any]) -> dict[str, Any]:
    sizes = {"width": as_int("width", o["width"], 1), "depth": as_int("depth", o["depth"], 0)}
    for name in ("dropout", "input_dropout"):
        sizes[name] = _probability(name, o[name])
    if not isinstance(o["batchnorm"], bool):
        raise KDAutoMLError(f"batchnorm must be true or false, got {o['batchnorm']!r}")
    return {**sizes, "batchnorm": o["batchnorm"]}


@_family("cnn", "Plain CNN (3x3 conv-BN-ReLU stack, global average pool)", width=16, depth=2)
def _cnn(shape: Shape, num_classes: int, o: dict[str, Any]) -> dict[str, Any]:
    check_spatial(shape, 1, "cnn")
    return {"width": as_int("width", o["width"], 1), "depth": as_int("depth", o["depth"], 1)}


# depth -> convs per block (depth = convs + the original VGG's 3 linear layers)
VGG_BLOCKS = {8: (1, 1, 1, 1, 1), 11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3),
              19: (2, 2, 4, 4, 4)}


@_family("vgg", "VGG-``depth`` (8, 11, 13, 16, 19) with BatchNorm, block widths "
         "``64..512 * width``", depth=13, width=1.0)
def _vgg(shape: Shape, num_classes: int, o: dict[str, Any]) -> dict[str, Any]:
    depth = _one_of("depth", as_int("depth", o["depth"], 1), VGG_BLOCKS)
    width = as_float("width", o["width"])
    check_spatial(shape, 16, "vgg")
    return {"depth": depth, "width": width}


@_family("wrn", "Wide ResNet WRN-``depth``-``width``: depth = 6n+4, stage widths "
         "``16/32/64 * width``", depth=16, width=2.0, dropout=0.0)
def _wrn(shape: Shape, num_classes: int, o: dict[str, Any]) -> dict[str, Any]:
    depth = as_int("depth", o["depth"], 10)
    if (depth - 4) % 6:
        raise KDAutoMLError(f"depth must be 6n+4 (10, 16, 22, 28, 40), got {depth}")
    sizes = {"depth": depth, "width": as_float("width", o["width"]),
             "dropout": _probability("dropout", o["dropout"])}
    check_spatial(shape, 4, "wrn")
    return sizes


@_family("torchvision", "A torchvision classification model by ``name`` (ImageNet-sized "
         "inputs)", built_to_check=True, name="resnet18", weights=None)
def _torchvision(shape: Shape, num_classes: int, o: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(o["name"], str):
        raise KDAutoMLError(f"name must be a torchvision model's name, got {o['name']!r}")
    if o["weights"] is not None and not isinstance(o["weights"], str):
        raise KDAutoMLError(f"weights must be a torchvision weights name, got {o['weights']!r}")
    if shape[0] != 3:
        raise KDAutoMLError(f"torchvision models take 3-channel images, got {shape[0]}")
    return {"name": o["name"], "weights": o["weights"]}


# -- the aliases: a family with the literature's sizes as defaults --------------------------

_alias("lenet5_half", "lenet5", conv1=3, conv2=8)
_alias("mobilenetv2_half", "mobilenetv2", width=0.5)
for _d in PLAIN_CNN_LAYOUTS:
    _alias(f"plain_cnn{_d}", "plain_cnn", depth=_d)
for _d in (8, 14, 20, 26, 32, 44, 56, 110):
    _alias(f"resnet{_d}", "resnet", depth=_d)
_alias("resnet8x4", "resnet", depth=8, width=4.0, stem=32)
_alias("resnet32x4", "resnet", depth=32, width=4.0, stem=32)
# Hinton, Vinyals & Dean (2015), section 3 (MNIST): a 784-1200-1200-10 teacher trained with
# dropout (20% on the input, 50% on the hidden units) and a 784-800-800-10 student, no BatchNorm
_alias("hinton_teacher", "mlp", width=1200, depth=2, batchnorm=False, dropout=0.5,
       input_dropout=0.2)
_alias("hinton_student", "mlp", width=800, depth=2, batchnorm=False)
for _d in VGG_BLOCKS:
    _alias(f"vgg{_d}", "vgg", depth=_d)
for _d, _k in ((16, 1), (16, 2), (16, 4), (16, 8), (28, 2), (28, 4), (28, 10), (40, 1), (40, 2),
               (40, 4)):
    _alias(f"wrn_{_d}_{_k}", "wrn", depth=_d, width=float(_k))


# -- the public surface ---------------------------------------------------------------------

def model_names() -> list[str]:
    return sorted(_ENTRIES)


def family_names() -> list[str]:
    return sorted(_FAMILIES)


def model_doc(arch: str) -> str:
    """One line describing ``arch``."""
    return _entry(arch, "model").doc


def model_options(arch: str) -> dict[str, Any]:
    """The size options of ``arch`` and their defaults."""
    return dict(_entry(arch, "model").defaults)


def model_sizes(arch: str, options: dict[str, Any], where: str = "model",
                input_shape: Shape | None = None,
                num_classes: int = 10) -> tuple[str, dict[str, Any]]:
    """``(family, options)``: ``arch``'s defaults under ``options``, checked against the data
    (``input_shape``; else a 3x32x32 probe) and as its builder takes them. Raises
    :class:`KDAutoMLError` naming the field (``student.depth: ...``)."""
    entry = _entry(arch, where)
    for key in options:
        if key not in entry.defaults:
            raise KDAutoMLError(f"{where}.{key}: unknown option for {arch!r} "
                                f"(options: {', '.join(entry.defaults) or 'none'})")
    rule, _ = _FAMILIES[entry.family]
    try:
        sizes = rule(tuple(input_shape or PROBE_SHAPE), num_classes,
                     {**entry.defaults, **options})
    except KDAutoMLError as err:
        raise KDAutoMLError(located(where, str(err), entry.defaults)) from None
    return entry.family, sizes


def checked_by_building(family: str) -> bool:
    """Whether ``family``'s options are checked by building it (its library knows them)."""
    return _FAMILIES[family][1]


def located(where: str, message: str, options: dict[str, Any]) -> str:
    """``student.width: ...`` when the message starts with an option's name, else
    ``student: ...``."""
    head = message.split(":", 1)[0]
    return f"{where}.{message}" if head in options else f"{where}: {message}"


def _entry(arch: str, where: str) -> ModelEntry:
    if arch not in _ENTRIES:
        raise KDAutoMLError(f"{where}.arch: unknown model {arch!r}; known: "
                            f"{', '.join(model_names())}")
    return _ENTRIES[arch]
