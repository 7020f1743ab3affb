"""Spec loading, validation errors that name the field, and writing sampled values in."""

import pytest
import yaml

from kd_automl.errors import KDAutoMLError
from kd_automl.spec import apply_params, load_spec, parse_spec


def _write(tmp_path, data, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_shipped_spec_is_valid():
    spec = load_spec("search_spaces/digits_kd.yaml")
    assert spec.method.name == "kd"
    assert set(spec.search) == {"method.temperature", "method.alpha", "train.lr"}


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d["train"].update(lrr=0.1), "train.lrr: unknown field"),
    (lambda d: d["train"].update(epochs=0), "train.epochs"),
    (lambda d: d["student"].update(arch="resnet9000"), "student.arch: unknown model 'resnet9000'"),
    (lambda d: d["student"].update(widht=4), "student.widht: unknown option"),
    (lambda d: d["method"].update(name="magic"), "unknown method 'magic'"),
    (lambda d: d["method"].update(alpha=1.5), "method.alpha: must be <= 1"),
    (lambda d: d["method"].update(gamma=1.0), "has no hyperparameter 'gamma'"),
    (lambda d: d["dataset"].update(name="imagenet22k"), "unknown dataset"),
    (lambda d: d.pop("teacher"), "needs a 'teacher'"),
    (lambda d: d["search"].update({"trian.lr": {"_type": "uniform", "_value": [0, 1]}}),
     "trian"),
    (lambda d: d["search"].update({"method.alpha": {"_type": "uniform", "_value": [1, 0]}}),
     "low < high"),
    (lambda d: d.update(name="has spaces"), "name"),
])
def test_bad_specs_name_the_file_and_field(tmp_path, tiny_spec_dict, mutate, fragment):
    mutate(tiny_spec_dict)
    path = _write(tmp_path, tiny_spec_dict)
    with pytest.raises(KDAutoMLError) as err:
        load_spec(path)
    assert fragment in str(err.value)
    assert str(path) in str(err.value)


def test_search_range_outside_the_methods_bounds_is_caught(tmp_path, tiny_spec_dict):
    tiny_spec_dict["search"]["method.alpha"] = {"_type": "uniform", "_value": [2, 3]}
    with pytest.raises(KDAutoMLError, match="method.alpha: must be <= 1"):
        load_spec(_write(tmp_path, tiny_spec_dict))


@pytest.mark.parametrize("key, entry, shown", [
    ("student.width", {"_type": "choice", "_value": [8, 0]}, "0"),
    ("student.width", {"_type": "randint", "_value": [4, 64]}, None),  # both ends valid
    ("method.alpha", {"_type": "uniform", "_value": [0.5, 1.5]}, "1.5"),  # the upper end
    ("student", {"_type": "choice", "_value": [
        {"_name": "mlp", "width": {"_type": "choice", "_value": [4]}},
        {"_name": "nosuchnet"}]}, "'nosuchnet'"),
])
def test_every_choice_and_range_end_of_the_search_is_checked(tmp_path, tiny_spec_dict, key,
                                                               entry, shown):
    tiny_spec_dict["search"][key] = entry
    path = _write(tmp_path, tiny_spec_dict)
    if shown is None:
        assert load_spec(path).search[key] == entry
        return
    with pytest.raises(KDAutoMLError) as err:
        load_spec(path)
    assert f"search.{key} can sample {shown}" in str(err.value)


def test_malformed_yaml_and_missing_file(tmp_path):
    with pytest.raises(KDAutoMLError, match="not valid YAML"):
        load_spec(_write(tmp_path, "name: [unclosed"))
    with pytest.raises(KDAutoMLError, match="not found"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(KDAutoMLError, match="must be a mapping"):
        load_spec(_write(tmp_path, "- a\n- b\n"))


def test_apply_params_writes_dotted_paths_and_nested_choices(tiny_spec_dict):
    spec = parse_spec(tiny_spec_dict)
    out = apply_params(spec, {"method.temperature": 7.5, "train.lr": 0.01, "student.width": 32})
    assert out.method.options["temperature"] == 7.5
    assert out.train.lr == 0.01 and out.student.options["width"] == 32
    assert spec.method.options["temperature"] == 4.0  # the original is untouched
    ce = apply_params(spec, {"method": {"_name": "ce"}})
    assert ce.method.name == "ce" and ce.method.options == {}
    kd = apply_params(spec, {"method": {"_name": "kd", "temperature": 2.0}})
    assert kd.method.options == {"temperature": 2.0}
    assert apply_params(spec, {"alpha": 0.1}).method.options["alpha"] == 0.1  # bare key shorthand


def test_apply_params_revalidates(tiny_spec_dict):
    spec = parse_spec(tiny_spec_dict)
    with pytest.raises(KDAutoMLError, match="student"):
        apply_params(spec, {"student.width": 0})
    with pytest.raises(KDAutoMLError, match="train.epochs"):
        apply_params(spec, {"train.epochs": -1})


def test_ready_specs_load_by_name_from_the_package_folder(monkeypatch, tmp_path):
    from kd_automl.ready_specs import ready_spec, ready_spec_names, specs_folder

    monkeypatch.chdir(tmp_path)  # no search_spaces/ here: the packaged copy is found
    assert "digits_kd" in ready_spec_names()
    assert load_spec("digits_kd").name == load_spec(specs_folder() / "digits_kd.yaml").name
    assert ready_spec("digits_kd.yaml") == specs_folder() / "digits_kd.yaml"
    assert ready_spec("../spec.py") is None
    with pytest.raises(KDAutoMLError, match="nor a ready spec of that name: .*digits_kd"):
        load_spec("no_such_spec")


def test_search_spaces_is_the_package_folder():
    from pathlib import Path

    from kd_automl.ready_specs import specs_folder

    root = Path(__file__).resolve().parents[1]
    assert (root / "search_spaces").resolve() == specs_folder().resolve()
