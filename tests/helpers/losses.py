"""Fixed tensors and a stub model for the loss tests, with values worked out by hand."""

import torch
from conftest import kl, softmax
from torch import nn


def kd_term(zs, zt, T):
    """T^2 * mean over rows of KL(softmax(zt/T) || softmax(zs/T))."""
    rows = [kl(softmax([v / T for v in t]), softmax([v / T for v in s]))
            for s, t in zip(zs, zt, strict=True)]
    return T * T * sum(rows) / len(rows)


class Stub(nn.Module):
    """A 'zoo model' whose features are its input and whose logits are a fixed linear map."""

    def __init__(self, w, feats=None):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))
        self.feats = feats  # callable x -> list of features

    def forward_features(self, x):
        return x.flatten(1) @ self.w, (self.feats(x) if self.feats else [x])

    def forward(self, x):
        return self.forward_features(x)[0]


X = torch.tensor([[1.0, 0.0], [0.5, -1.0]])
Y = torch.tensor([0, 2])
W = [[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]
T_LOGITS = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 3.0]])
S_LOGITS = (X @ torch.tensor(W)).tolist()  # [[1, 0, -1], [-0.25, -2, -0.5]]
