"""The methods' torch-free catalog and their torch classes are one source: every registered
class has its entry and every entry its class, with the same metadata, and a class that states
its own metadata is refused."""

import dataclasses

import pytest

from kd_automl.distill import Distiller, catalog, registry
from kd_automl.distill.method_info import BOUND, MethodInfo
from kd_automl.errors import KDAutoMLError


def test_every_class_has_its_entry_and_every_entry_its_class():
    classes = registry.registered()
    assert sorted(classes) == catalog.method_names() and len(classes) > 20


@pytest.mark.parametrize("name", catalog.method_names())
def test_a_class_carries_its_entrys_metadata(name):
    cls, info = registry.get_method(name), catalog.method_info(name)
    assert cls.name == info.name == name
    assert cls.hyperparameters == info.hyperparameters
    assert list(cls.hyperparameters) == list(info.hyperparameters)  # the order shown
    assert {f: getattr(cls, f) for f in BOUND} == {f: getattr(info, f) for f in BOUND}
    instance = cls.__new__(cls)  # the defaults a trial starts from are the entry's
    assert {k: h.default for k, h in instance.hyperparameters.items()} == \
        {k: h.default for k, h in info.hyperparameters.items()}


def test_a_class_stating_its_own_metadata_is_refused():
    class Stated(Distiller):
        name = "kd"
        hyperparameters = {}

    with pytest.raises(TypeError, match="hyperparameters belong in its entry"):
        registry.register_method(Stated)
    assert registry.get_method("kd") is not Stated


def test_a_class_without_an_entry_is_refused():
    class Unknown(Distiller):
        name = "not_in_the_catalog"

    with pytest.raises(TypeError, match="no entry in kd_automl/distill/catalog.py"):
        registry.register_method(Unknown)
    with pytest.raises(KDAutoMLError, match="unknown method 'not_in_the_catalog'"):
        registry.get_method("not_in_the_catalog")


def test_the_checks_read_the_catalog():
    catalog.check_method("kd", {"temperature": 2.0, "logit_std": True})
    with pytest.raises(KDAutoMLError, match=r"method.alpha: must be <= 1.0, got 2"):
        catalog.check_method("kd", {"alpha": 2})
    with pytest.raises(KDAutoMLError, match="'ce' has no hyperparameter 'x' \\(it has: none\\)"):
        catalog.check_method("ce", {"x": 1})
    assert dataclasses.is_dataclass(MethodInfo) and catalog.method_info("takd").needs_assistant


def test_the_module_the_fork_servers_preload_registers_every_method():
    from kd_automl.distill.all_methods import METHODS
    from kd_automl.orchestrate.workers import PRELOAD

    assert sorted(METHODS) == catalog.method_names()
    assert "kd_automl.distill.all_methods" in PRELOAD
