"""Launching from the browser, end to end in headless Chromium: a token-guarded dashboard with
--allow-launch; a pasted spec with an error shown beside its field, then fixed; a 4-trial
Optuna study and a 2-trial NNI experiment launched, watched to the end, a trial opened; a
third launch stopped midway with no trial left running. Real processes, store and NNI."""

from __future__ import annotations

import copy
import time

import pytest
import requests
import yaml
from conftest import TINY
from helpers.browser import ARTIFACTS
from helpers.browser import rows as _rows
from helpers.browser import wait as _wait

from kd_automl.dashboard import DashboardServer
from kd_automl.orchestrate import launches
from kd_automl.store import Store
from kd_automl.workspace import Workspace

PASTE_JS = """
const el = document.getElementById('spec-text');
const set = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value').set;
set.call(el, arguments[0]);
el.dispatchEvent(new Event('input', {bubbles: true}));
"""
RUNS_JS = """
return [...document.querySelectorAll('#runs-table tr.run-row')].map(r => Object.fromEntries(
    [...r.querySelectorAll('td[data-col]')].map(c => [c.dataset.col, c.innerText.trim()])));
"""


def _spec(name: str, epochs: int) -> dict:
    d = copy.deepcopy(TINY)
    d["name"] = name
    d["train"]["epochs"] = epochs
    d["teacher_train"]["epochs"] = 2
    return d


def _runs(drv) -> dict[str, dict[str, str]]:
    return {r["launch"]: r for r in drv.execute_script(RUNS_JS)}


@pytest.fixture
def launch_env(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_AUTOML_THREADS", "1")  # the launched processes inherit it
    ws = Workspace.resolve(tmp_path / "ws")
    yield ws
    for s in launches.statuses(ws):  # nothing of ours left running, whatever happened
        if s.active or s.serving:
            try:
                launches.stop(ws, s.id)
                launches.wait(ws, s.id, timeout=120)
            except Exception:
                pass


def test_launch_watch_and_stop_from_the_browser(driver, launch_env):  # noqa: F811
    pytest.importorskip("nni", reason='NNI is not installed (the "nni" extra)')  # NNI launches too
    from selenium.webdriver.common.by import By

    ws = launch_env
    server = DashboardServer(ws.db_url, port=0, refresh_s=1, token="launch-token",
                             allow_launch=True, workspace=ws.root).start()
    ARTIFACTS.mkdir(exist_ok=True)
    t0 = time.monotonic()

    def find(css):
        return driver.find_element(By.CSS_SELECTOR, css)

    def paste(text):
        driver.execute_script(PASTE_JS, text)

    def set_number(id, value):
        el = driver.find_element(By.ID, id)
        el.clear()
        el.send_keys(str(value))

    def launch(expect: int) -> str:
        find("#launch-button").click()
        _wait(lambda: len(_runs(driver)) == expect, 60, what=f"launch {expect} in the panel")
        return find("#launch-ok").text.split()[1]

    try:
        driver.get(server.login_url)  # the token once, then its cookie
        _wait(lambda: driver.find_elements(By.ID, "spec-text"), what="launch form")

        # a pasted spec with an error: the check's message beside the line of its field
        bad = _spec("dash-nni", 2)
        bad["train"]["epochs"] = 0
        paste(yaml.safe_dump(bad, sort_keys=False))
        problem = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".spec-problem"),
                        what="the spec's error")[0]
        assert problem.get_attribute("data-field") == "train.epochs"
        assert "train.epochs: Input should be greater than or equal to 1" in problem.text
        row = problem.find_element(By.XPATH, "./ancestor::tr")
        assert "epochs: 0" in row.text
        assert find("#launch-button").get_attribute("disabled")
        # fixed: the spec checks, its searched fields are listed with their ranges
        paste(yaml.safe_dump(_spec("dash-nni", 2), sort_keys=False))
        _wait(lambda: "ok pasted spec" in find("#spec-verdict").text, what="spec ok")
        assert not driver.find_elements(By.CSS_SELECTOR, ".spec-problem")
        search = find("#spec-search-table").text
        assert "method.temperature loguniform 1, 20" in search
        assert "method.alpha uniform 0.0, 1.0" in search

        # a 2-trial NNI experiment, two trials at a time; its manager started before the
        # others load the machine (NNI gives its manager 3 s to answer)
        find("#launch-backend input[value='nni']").click()
        set_number("launch-trials", 2)
        set_number("launch-concurrency", 2)
        nni_id = launch(1)
        _wait(lambda: _runs(driver)[nni_id]["state"] not in ("starting", "–"), 240,
              what="nni launched")
        assert _runs(driver)[nni_id]["state"] in ("running", "done"), _runs(driver)[nni_id]
        # a 4-trial Optuna study
        paste(yaml.safe_dump(_spec("dash-optuna", 3), sort_keys=False))
        _wait(lambda: "experiment 'dash-optuna'" in find("#spec-verdict").text, what="spec")
        find("#launch-backend input[value='optuna']").click()
        set_number("launch-trials", 4)
        optuna_id = launch(2)
        # a third launch, long enough to stop midway
        paste(yaml.safe_dump(_spec("dash-stop", 60), sort_keys=False))
        _wait(lambda: "experiment 'dash-stop'" in find("#spec-verdict").text, what="3rd spec")
        set_number("launch-trials", 30)
        stop_id = launch(3)

        # stop the third once it has finished a trial and is training the next
        def midway() -> bool:
            run = _runs(driver)[stop_id]
            done = int(run["done"].split("/")[0]) if "/" in run["done"] else 0
            return 1 <= done < 30 and run["running"] == "1" and run["state"] == "running"

        _wait(midway, 240, what="third launch midway")
        # progress changes only the text of its cells: the Stop button found now is the one
        # still on the page a few refreshes later (elapsed has moved), and it takes the click
        button = find(f'tr[data-launch="{stop_id}"] td[data-col="stop"] button')
        elapsed = _runs(driver)[stop_id]["elapsed"]
        _wait(lambda: _runs(driver)[stop_id]["elapsed"] != elapsed, 30, what="elapsed moving")
        button.click()
        _wait(lambda: _runs(driver)[stop_id]["state"].startswith("stopped"), 120,
              what="third launch stopped")
        assert "0 failed, 1 interrupted)" in _wait(
            lambda: "interrupted" in _runs(driver)[stop_id]["done"]
            and _runs(driver)[stop_id]["done"], 10, what="the interrupted trial counted")

        # both others run to the end
        runs = _wait(lambda: _runs(driver)[optuna_id]["state"] == "done" and _runs(driver),
                     240, what="optuna done")
        assert runs[optuna_id]["done"].startswith("4/4 (4 ok")
        assert runs[optuna_id]["best %"] != "–" and runs[optuna_id]["ETA"] == "–"
        runs = _wait(lambda: _runs(driver)[nni_id]["state"] == "done" and _runs(driver),
                     300, what="nni done")
        assert runs[nni_id]["done"].startswith("2/2")
        web_ui = _wait(lambda: find(f'tr[data-launch="{nni_id}"] a.nni-web-ui')
                       .get_attribute("href"), what="the NNI web UI link")
        assert requests.get(web_ui, timeout=10).status_code == 200  # the secret prefix in it
        assert requests.get(web_ui.rsplit("/", 2)[0] + "/", timeout=10).status_code == 404

        # open the Optuna launch's leaderboard, then one of its trials
        link = f'tr[data-launch="{optuna_id}"] a[id*="leaderboard"]'

        def only_its_trials():
            r = _rows(driver)
            return r and {x["experiment"] for x in r} == {"dash-optuna"} and r

        rows = None
        for _ in range(4):  # a refresh of the experiments grid may drop the first selection
            _wait(lambda: find(link).click() or True, what="leaderboard link clicked")
            try:
                rows = _wait(only_its_trials, 15, what="the launch's leaderboard")
                break
            except AssertionError:
                continue
        assert rows, "the leaderboard link did not select the launch's experiment"
        assert len(rows) == 4
        find('#leaderboard .ag-center-cols-container .ag-row[row-index="0"] '
             '[col-id="trial"]').click()
        _wait(lambda: "dash-optuna" in driver.find_element(By.ID, "trial-title").text,
              what="trial panel")
        assert "method.temperature" in driver.find_element(By.ID, "trial-params").text
        report = requests.get(server.url + f"launches/{optuna_id}/report", timeout=120,
                              headers={"Authorization": "Bearer launch-token"})
        assert report.status_code == 200 and "dash-optuna" in report.text
        driver.set_window_size(1600, 2400)
        driver.execute_script("window.scrollTo(0, 0)")  # the form and the runs panel
        time.sleep(1)
        driver.save_screenshot(str(ARTIFACTS / "dashboard-launch.png"))
    except BaseException:
        driver.save_screenshot(str(ARTIFACTS / "dashboard-launch-failure.png"))
        raise
    finally:
        server.shutdown()

    # the store agrees: 4 + 2 completed, and nothing of the stopped study left running
    store = Store(ws.db_url)
    by_name = {e.name: e for e in store.experiments()}
    trials = {n: store.trials([e.id], role="search") for n, e in by_name.items()}
    assert [t.state for t in trials["dash-optuna"]] == ["complete"] * 4
    nni_name = next(n for n in by_name if n.startswith("dash-nni-"))
    assert [t.state for t in trials[nni_name]] == ["complete"] * 2
    stopped = trials["dash-stop"]
    assert stopped and not [t for t in stopped if t.state == "running"]
    assert any(t.error == "interrupted" for t in stopped)
    assert launches.status(ws, stop_id).exit_code == 130
    print(f"browser launch test body: {time.monotonic() - t0:.0f} s")
