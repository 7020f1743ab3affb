#!/usr/bin/env bash
# The wheel, installed outside any checkout: the ready specs and NNI's trial entry ship inside
# it. Builds it, installs it with the lock's versions into a fresh venv in a temporary folder
# (uv's cache links the packages in, so torch costs seconds), and runs the demo and the NNI
# command from a folder that is not the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
uv build --wheel --quiet --out-dir "$tmp/dist"
# with the nni extra (NNI's trial entry runs below); .ci/other-pythons.sh checks it without
uv export --frozen --no-dev --extra nni --no-emit-project --no-hashes --quiet \
    -o "$tmp/requirements.txt"
uv venv --quiet --python 3.11 "$tmp/venv"
uv pip install --quiet --python "$tmp/venv/bin/python" -r "$tmp/requirements.txt" \
    "$tmp"/dist/kd_automl-*.whl
echo "wheel built and installed in $((SECONDS - start)) s"
# every ready spec of the checkout, subfolders included, is in the wheel
(cd kd_automl/specs && find . -name '*.yaml' -o -name '*.yml' -o -name '*.json') \
    | sed -e 's|^\./||' -e 's|\.[a-z]*$||' | sort > "$tmp/specs.checkout"
mkdir "$tmp/elsewhere"
cd "$tmp/elsewhere"
export PATH="$tmp/venv/bin:$PATH" KD_AUTOML_WORKSPACE="$tmp/elsewhere/runs"
python -c 'import kd_automl, sys; sys.exit("kd_automl imported from the checkout"
           if "site-packages" not in kd_automl.__file__ else 0)'
python -c 'from kd_automl.ready_specs import ready_spec_names as n; print(*n(), sep="\n")' \
    | diff "$tmp/specs.checkout" - || { echo "the wheel's specs differ from the checkout's"; exit 1; }
kd-automl check digits_kd
kd-automl demo --trials 1  # one trial: the demo, its leaderboard and its report run from the wheel
test -s runs/reports/report.html
kd-automl nni start --help > /dev/null
python -m kd_automl.trials.nni --help > /dev/null
echo "wheel test passed in $((SECONDS - start)) s"
