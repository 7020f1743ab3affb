"""Datasets by name and the on-device batch loader."""

from kd_automl.data.loader import DeviceLoader
from kd_automl.data.registry import (
    Dataset,
    check_dataset,
    dataset_names,
    load_dataset,
    register_dataset,
)

__all__ = ["Dataset", "DeviceLoader", "check_dataset", "dataset_names", "load_dataset",
           "register_dataset"]
