"""Model zoo by name and size, and profiling (params, FLOPs, latency).

>>> from kd_automl.models import build_model, profile
>>> model = build_model("resnet8x4", (3, 32, 32), num_classes=100)
>>> logits, feats = model.forward_features(torch.zeros(2, 3, 32, 32))  # doctest: +SKIP
>>> profile(model, (3, 32, 32)).flops  # doctest: +SKIP
"""

# importing a family registers its models
from kd_automl.models import lenet as _lenet  # noqa: F401
from kd_automl.models import mobilenet as _mobilenet  # noqa: F401
from kd_automl.models import plain_cnn as _plain_cnn  # noqa: F401
from kd_automl.models import resnet_cifar as _resnet_cifar  # noqa: F401
from kd_automl.models import shufflenet as _shufflenet  # noqa: F401
from kd_automl.models import small as _small  # noqa: F401
from kd_automl.models import tv as _tv  # noqa: F401
from kd_automl.models import vgg as _vgg  # noqa: F401
from kd_automl.models import wrn as _wrn  # noqa: F401
from kd_automl.models.base import ZooModel
from kd_automl.models.profile import Profile, count_params, measure_latency, profile
from kd_automl.models.registry import (
    build_model,
    check_model,
    model_doc,
    model_names,
    model_options,
    register_alias,
    register_model,
)

__all__ = ["Profile", "ZooModel", "build_model", "check_model", "count_params",
           "measure_latency", "model_doc", "model_names", "model_options", "profile",
           "register_alias", "register_model"]
