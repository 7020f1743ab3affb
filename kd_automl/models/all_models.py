"""Every model family's torch module: importing this registers their builders (the
registry does on its first build; the fork servers preload it)."""

from kd_automl.models import (
           lenet,
           mobilenet,
           plain_cnn,
           resnet_cifar,
           shufflenet,
           small,
           tv,
           vgg,
           wrn,
)

__all__ = ["lenet", "mobilenet", "plain_cnn", "resnet_cifar", "shufflenet", "small", "tv", "vgg",
           "wrn"]
