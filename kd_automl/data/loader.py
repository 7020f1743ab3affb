"""Batches drawn by index from tensors that already live on the trial's device."""

from __future__ import annotations

from collections.abc import Iterator

import torch


class DeviceLoader:
    """Iterate batches of aligned tensors held on one device, shuffled by a seeded permutation.

    Like ``TensorDataset`` + ``DataLoader``, but nothing leaves the device: a
    batch is one ``index_select`` per tensor.

    >>> x, y = torch.zeros(10, 1, 8, 8), torch.zeros(10, dtype=torch.long)
    >>> [len(b[1]) for b in DeviceLoader(x, y, batch_size=4)]
    [4, 4, 2]
    """

    def __init__(self, *tensors: torch.Tensor, batch_size: int, shuffle: bool = False,
                 seed: int = 0, device: torch.device | str | None = None):
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("DeviceLoader needs tensors of equal length")
        device = torch.device(device) if device is not None else tensors[0].device
        self.tensors = tuple(t.to(device, non_blocking=True) for t in tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._generator = torch.Generator().manual_seed(seed)

    def generator_state(self) -> torch.Tensor:
        """The shuffling generator's state (a checkpoint saves it)."""
        return self._generator.get_state()

    def set_generator_state(self, state: torch.Tensor) -> None:
        self._generator.set_state(state)

    def __len__(self) -> int:
        return (len(self.tensors[0]) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        device = self.tensors[0].device
        if self.shuffle:
            order = torch.randperm(n, generator=self._generator).to(device)
        else:
            order = torch.arange(n, device=device)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield tuple(t[idx] for t in self.tensors)
