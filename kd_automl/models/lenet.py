"""LeNet-5 and LeNet-5-Half: the pair that ZSKD (Nayak et al., ICML 2019) distils on MNIST
and Fashion-MNIST.

Two 5x5 conv layers (ReLU, 2x2 max-pooling), then 120-84-classes linear layers, as in the
PyTorch LeNet-5 of the data-free KD papers (DAFL, ZSKD). 61,706 parameters for 10 classes;
LeNet-5-Half halves each conv layer's filters (6, 16 -> 3, 8): 35,820. ``input_size: 28``
pads the first conv by 2 (the 28x28 MNIST layout), ``input_size: 32`` does not (LeCun's
32x32 layout); either way the second conv's output is 5x5. Every size is a number, so a
search can name it (``student.conv2``).
"""

from __future__ import annotations

import torch
from torch import nn

from kd_automl.models.base import ZooModel
from kd_automl.models.registry import register_model


class LeNet5(ZooModel):
    """conv-ReLU-pool x2 (the features), then flatten and an MLP head."""

    def __init__(self, in_channels: int, num_classes: int, conv1: int, conv2: int, fc1: int,
                 fc2: int, padding: int):
        super().__init__()
        self.stages = nn.ModuleList([
            nn.Sequential(nn.Conv2d(in_channels, conv1, 5, padding=padding), nn.ReLU(),
                          nn.MaxPool2d(2)),
            nn.Sequential(nn.Conv2d(conv1, conv2, 5), nn.ReLU(), nn.MaxPool2d(2)),
        ])
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(conv2 * 25, fc1), nn.ReLU(),
                                  nn.Linear(fc1, fc2), nn.ReLU(), nn.Linear(fc2, num_classes))

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return self.head(x), feats


@register_model("lenet5")
def lenet5(input_shape: tuple[int, ...], num_classes: int, *, conv1: int, conv2: int, fc1: int,
           fc2: int, input_size: int) -> LeNet5:
    """LeNet-5 (two 5x5 conv layers, 120-84 head; ReLU and max-pooling)."""
    return LeNet5(input_shape[0], num_classes, conv1, conv2, fc1, fc2,
                  padding=(32 - input_size) // 2)
