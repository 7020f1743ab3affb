#!/usr/bin/env bash
# kd-automl on the Pythons besides the checkout's 3.11 (pyenv's, found by path, not through its
# shims), with the lock's versions:
#   3.13 without NNI: the wheel in a fresh venv runs the demo, and the NNI commands say in one
#        line how to install NNI; then the quick tier (the tests needing NNI skip);
#   3.12 with NNI (the `nni` extra, as `uv sync` installs it): NNI imports, and the quick tests
#        that use it pass (a named subset: the whole quick tier there too would cost about
#        2.5 minutes more, which CI's 30 minutes do not leave).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
python_of() {  # the newest pyenv CPython of a minor version
    ls -d "$root"/versions/"$1".*/bin/python3 2>/dev/null | sort -V | tail -1 | grep . \
        || { echo "no Python $1 under $root/versions" >&2; exit 1; }
}
PY313="$(python_of 3.13)"
PY312="$(python_of 3.12)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

# 3.13, the wheel without NNI, outside the checkout
uv build --wheel --quiet --out-dir "$tmp/dist"
uv export --frozen --no-dev --no-emit-project --no-hashes --quiet -o "$tmp/core.txt"  # no extras
uv venv --quiet --python "$PY313" "$tmp/wheel313"
uv pip install --quiet --python "$tmp/wheel313/bin/python" -r "$tmp/core.txt" \
    "$tmp"/dist/kd_automl-*.whl
mkdir "$tmp/elsewhere"
(
    cd "$tmp/elsewhere"
    export PATH="$tmp/wheel313/bin:$PATH" KD_AUTOML_WORKSPACE="$tmp/elsewhere/runs"
    python -c 'import importlib.util as u, sys; sys.exit("NNI is installed"
               if u.find_spec("nni") else 0)'
    kd-automl demo --trials 2
    test -s runs/reports/report.html
    for cmd in "kd-automl nni list" "python -m kd_automl.trials.nni"; do
        if $cmd > out.txt 2>&1; then echo "$cmd ran without NNI"; exit 1; fi
        [ "$(wc -l < out.txt)" -eq 1 ] && grep -q 'pip install "kd-automl\[nni\]"' out.txt \
            || { echo "$cmd without NNI said:"; cat out.txt; exit 1; }
    done
)
echo "3.13: the wheel without NNI ran the demo in $((SECONDS - start)) s"

# 3.13, the quick tier without NNI (the project and the tests' tools, no dev group)
t=$SECONDS
UV_PROJECT_ENVIRONMENT="$tmp/venv313" uv run --quiet --frozen --python "$PY313" \
    --no-default-groups --group test pytest -m "not slow" -x -q -p no:cacheprovider
echo "3.13: the quick tier without NNI passed in $((SECONDS - t)) s"

# 3.12, with NNI: NNI imports, and the quick tests that use it
t=$SECONDS
UV_PROJECT_ENVIRONMENT="$tmp/venv312" uv run --quiet --frozen --python "$PY312" \
    python -c 'import nni; from nni.experiment import Experiment, RunMode'
UV_PROJECT_ENVIRONMENT="$tmp/venv312" uv run --quiet --frozen --python "$PY312" \
    nnictl --help > /dev/null  # its pkg_resources: the extra's setuptools<82
UV_PROJECT_ENVIRONMENT="$tmp/venv312" uv run --quiet --frozen --python "$PY312" \
    pytest -m "not slow" -x -q -p no:cacheprovider tests/test_nni_output.py tests/test_reskd.py
echo "3.12: NNI imports; its quick tests passed in $((SECONDS - t)) s"
echo "other Pythons passed in $((SECONDS - start)) s"
