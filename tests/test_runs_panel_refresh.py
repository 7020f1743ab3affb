"""The runs panel in headless Chromium: a Stop button found on the page stays the same element
while other launches change state and progress moves, and it takes the click (a panel that
re-rendered its rows replaced buttons under the pointer; only a new launch rebuilds them).
The launches are real processes (``sleep``) with their records in the workspace, as a launch
leaves them."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
from helpers.browser import wait as _wait

from kd_automl.dashboard import DashboardServer
from kd_automl.orchestrate.launches import state as st
from kd_automl.workspace import Workspace

ROW_STATE = 'tr[data-launch="{}"] td[data-col="state"]'
STOP = 'tr[data-launch="{}"] td[data-col="stop"] button'


def _fake_launch(ws: Workspace, name: str, created: str) -> tuple[str, subprocess.Popen]:
    """A launch record whose process is a ``sleep`` (state: running until it ends)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    path = st.launches_root(ws) / name
    path.mkdir(mode=0o700)
    st.save(path, st.LaunchRecord(
        id=name, backend="optuna", spec_name=name, study=name,
        argv=["optuna", "spec.yaml", "--db", ws.db_url], request={}, created_at=created,
        trials=4, pid=proc.pid, pid_started=psutil.Process(proc.pid).create_time()))
    return name, proc


def test_a_stop_button_survives_other_rows_changing(driver, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    ws = Workspace.resolve(tmp_path / "ws")
    procs = []
    a, pa = _fake_launch(ws, "launch-a", "2026-01-01T00:00:01")
    b, pb = _fake_launch(ws, "launch-b", "2026-01-01T00:00:02")
    procs += [pa, pb]
    server = DashboardServer(ws.db_url, port=0, refresh_s=0.5, token="t", allow_launch=True,
                             workspace=ws.root).start()
    try:
        driver.get(server.login_url)

        def state(launch: str) -> str:
            return driver.find_element(By.CSS_SELECTOR, ROW_STATE.format(launch)).text

        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, STOP.format(a))
              and driver.find_elements(By.CSS_SELECTOR, STOP.format(b)), what="both rows")
        button = driver.find_element(By.CSS_SELECTOR, STOP.format(a))
        pb.kill()  # another launch changes state: its row loses its Stop button
        pb.wait()
        _wait(lambda: state(b) == "lost", what="launch b lost")
        assert not driver.find_element(By.CSS_SELECTOR, STOP.format(b)).is_displayed()
        time.sleep(1.5)  # a few more refreshes
        assert button.is_displayed()  # the same element: a replaced one raises "stale"
        button.click()
        _wait(lambda: state(a) == "stopped", what="launch a stopped")
        assert pa.poll() is not None  # the SIGINT ended it (the server reaped it: no code)
        # a new launch rebuilds the rows (the one change that does): it is listed on top
        c, pc = _fake_launch(ws, "launch-c", "2026-01-01T00:00:03")
        procs.append(pc)
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, STOP.format(c)), what="launch c")
        rows = driver.find_elements(By.CSS_SELECTOR, "#runs-table tr.run-row")
        assert [r.get_attribute("data-launch") for r in rows] == [c, b, a]
        assert state(c) == "running"
    finally:
        server.shutdown()
        for p in procs:
            p.kill()
