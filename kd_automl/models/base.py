"""The shape every zoo model shares: logits from ``forward``, features on request.

Feature contract (what hint, attention and projector methods read):

``logits, feats = model.forward_features(x)`` where ``feats`` is a non-empty
list ordered shallow to deep.

- CNNs: one 4-D map ``(N, C, H, W)`` per stage (the output of each resolution
  stage, after its last activation; the stem is not included), plus the output
  of a head convolution where the architecture has one (MobileNetV2's 1x1 conv,
  ShuffleNetV2's conv5). ``feats[-1]`` is the **pre-pooling map**: the exact
  tensor the head turns into logits (global average pooling + linear; a flatten
  + MLP for the plain CNNs).
- MLPs: one ``(N, width)`` vector per hidden layer; ``feats[-1]`` is the
  **penultimate vector** that the final linear layer maps to logits (the
  flattened input when there are no hidden layers).
- torchvision models: the last 4-D map at each spatial resolution; ``feats[-1]``
  is the pre-pooling map (or, for models without 4-D maps, the penultimate
  vector fed to the classifier).
"""

from __future__ import annotations

import torch
from torch import nn


class ZooModel(nn.Module):
    """A classifier whose intermediate features can be read (see the module docstring)."""

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


class StagedCNN(ZooModel):
    """``stem -> stages -> [head_conv] -> global average pool -> linear``.

    Every stage's output is a feature; so is ``head_conv``'s when given.
    """

    def __init__(self, stem: nn.Module, stages: list[nn.Module], out_channels: int,
                 num_classes: int, head_conv: nn.Module | None = None):
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.head_conv = head_conv
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(out_channels, num_classes)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        if self.head_conv is not None:
            x = self.head_conv(x)
            feats.append(x)
        return self.fc(self.pool(x).flatten(1)), feats


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3, stride: int = 1,
                 groups: int = 1, act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """Conv (no bias, 'same' padding) + BatchNorm (+ activation)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups,
                                         bias=False), nn.BatchNorm2d(c_out)]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


_NOT_BLOCKS = (nn.BatchNorm2d, nn.ReLU, nn.Identity, nn.Dropout)


def block_features(model: nn.Module, x: torch.Tensor
                   ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(logits, [output of every block, shallow to deep])`` of a :class:`StagedCNN`: each
    residual block's own output (so a pre-activation network's last one comes before its final
    BN-ReLU), then the head convolution's. Other models: their ``forward_features``."""
    if not isinstance(model, StagedCNN):
        return model.forward_features(x)
    x, feats = model.stem(x), []
    for stage in model.stages:
        for block in (stage if isinstance(stage, nn.Sequential) else [stage]):
            x = block(x)
            if not isinstance(block, _NOT_BLOCKS):
                feats.append(x)
    if model.head_conv is not None:
        x = model.head_conv(x)
        feats.append(x)
    return model.fc(model.pool(x).flatten(1)), feats


def class_map(model: nn.Module, feature: torch.Tensor) -> torch.Tensor:
    """The model's linear classifier applied at every position of its last (pre-pooling) map:
    ``(N, classes, H, W)``. Average-pooling it over any region gives the logits of that region's
    pooled feature exactly (the classifier is affine), so its global mean is the model's logits.

    Needs a head that is a global average pool then one linear layer, ``model.fc``
    (:class:`StagedCNN`, the ``cnn``)."""
    fc = getattr(model, "fc", None)
    if not isinstance(fc, nn.Linear) or feature.dim() != 4 or feature.shape[1] != fc.in_features:
        from kd_automl.errors import KDAutoMLError

        raise KDAutoMLError(f"{type(model).__name__}: this method needs a convolutional model "
                            "whose head is a global average pool and one linear layer (fc), "
                            "such as resnet, wrn, vgg, mobilenetv2, shufflenetv2 or cnn")
    weight = fc.weight.to(feature.dtype)[:, :, None, None]
    bias = None if fc.bias is None else fc.bias.to(feature.dtype)
    return torch.nn.functional.conv2d(feature, weight, bias)


def model_features(model: nn.Module, x: torch.Tensor, mode: bool | str = True
                   ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(logits, features)`` as a method asks for them (its ``needs_features``): ``True`` the
    model's ``forward_features``; ``"blocks"`` every block's output (:func:`block_features`);
    ``"class_map"`` ``forward_features`` with :func:`class_map` of the last map appended."""
    if mode == "blocks":
        return block_features(model, x)
    logits, feats = model.forward_features(x)
    if mode == "class_map":
        feats = [*feats, class_map(model, feats[-1])]
    return logits, feats
