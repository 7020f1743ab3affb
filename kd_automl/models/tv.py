"""Any torchvision classification model by name, for ImageNet-sized inputs.

``torchvision`` with ``name: resnet18`` (``efficientnet_b0``, ``vit_b_16``, ...)
builds ``torchvision.models.get_model(name, num_classes=...)``. Features are read
with forward hooks on the network's top-level blocks (the children of
``features``/``layers`` containers): the last 4-D map at each spatial
resolution, so ``feats[-1]`` is the pre-pooling map. Models whose last block is
not convolutional (vision transformers) expose the penultimate vector instead.
``weights`` names torchvision weights (e.g. ``IMAGENET1K_V1``; needs
``num_classes: 1000`` and a network or torch's download cache).
"""

from __future__ import annotations

import torch
from torch import nn

from kd_automl.errors import KDAutoMLError
from kd_automl.models.base import ZooModel
from kd_automl.models.registry import register_model

_CONTAINERS = ("features", "layers", "trunk_output", "blocks")
_SKIP = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d, nn.Flatten, nn.Dropout,
         nn.Linear)


def _taps(net: nn.Module) -> list[nn.Module]:
    taps = []
    for name, child in net.named_children():
        if name in _CONTAINERS and isinstance(child, nn.Sequential):
            taps.extend(child.children())
        elif not isinstance(child, _SKIP) and any(True for _ in child.parameters()):
            taps.append(child)
    return taps


class TorchvisionModel(ZooModel):
    """A torchvision classifier with the zoo's ``forward_features`` contract."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self._taps = _taps(net)
        linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
        self._classifier = linears[-1] if linears else None
        # Swin keeps its maps channels-last (N, H, W, C) until a final Permute
        self._nhwc = type(getattr(net, "permute", None)).__name__ == "Permute"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        outs: list[torch.Tensor] = []
        penultimate: list[torch.Tensor] = []
        hooks = [m.register_forward_hook(lambda _m, _i, o: outs.append(o)) for m in self._taps]
        if self._classifier is not None:
            hooks.append(self._classifier.register_forward_pre_hook(
                lambda _m, i: penultimate.append(i[0])))
        try:
            logits = self.net(x)
        finally:
            for h in hooks:
                h.remove()
        outs = [o for o in outs if isinstance(o, torch.Tensor)]
        if self._nhwc:
            outs = [o.permute(0, 3, 1, 2) if o.dim() == 4 else o for o in outs]
        last4 = max((i for i, o in enumerate(outs) if o.dim() == 4), default=None)
        if last4 is None or any(o.dim() == 3 for o in outs[last4:]):
            return logits, penultimate[-1:] or [logits]
        feats: list[torch.Tensor] = []
        for o in outs:
            if o.dim() != 4:
                continue
            if feats and feats[-1].shape[-2:] == o.shape[-2:]:
                feats[-1] = o
            else:
                feats.append(o)
        return logits, feats


@register_model("torchvision")
def torchvision_model(input_shape: tuple[int, ...], num_classes: int, *, name: str,
                      weights: str | None) -> TorchvisionModel:
    """A torchvision classification model by ``name`` (ImageNet-sized inputs)."""
    import torchvision  # on first use: its import costs seconds

    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise KDAutoMLError(f"unknown torchvision model {name!r}; classification models: "
                            f"{', '.join(sorted(known))}")
    on_meta = torch.get_default_device().type == "meta"
    try:
        net = torchvision.models.get_model(name, weights=None if on_meta else weights,
                                           num_classes=num_classes)
    except (ValueError, KeyError) as err:
        raise KDAutoMLError(f"torchvision model {name!r}: {err}") from None
    except RuntimeError:
        if not on_meta:
            raise
        net = nn.Identity()  # validation only: a few models' init cannot run on the meta device
    except OSError as err:  # weights download without a network
        raise KDAutoMLError(f"torchvision model {name!r}: could not load weights {weights!r} "
                            f"({err}); put them in torch's cache ($TORCH_HOME) or drop "
                            f"'weights'") from None
    return TorchvisionModel(net)
