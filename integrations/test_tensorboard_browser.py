"""A new user's view: the Lightning example's run in the real TensorBoard server, opened in headless Chromium.

The run has a corrupt batch (``--bad-batch``) so a spike alert fires. The test checks, on the
server the browser talks to, that the Custom Scalars layout holds the LR-and-loss chart and
that the Text tab serves the alert; the screenshots under ``test-artifacts/`` prove the pages
render (and are there to look at). Skipped when ``chromium`` is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tensorboard")
pytest.importorskip("lightning.pytorch")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
BAD_BATCH = 100
SHARED_CHART = "LR (log10) and loss, one axis; alert level marks the alerts"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium; .ci/run does it as root)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    log_dir = tmp_path_factory.mktemp("lightning_run")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "lightning_example.py"), str(log_dir), "--bad-batch", str(BAD_BATCH)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"[spike at step {BAD_BATCH}]" in done.stdout, done.stdout[-2000:]
    port = free_port()
    command = [
        sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir), "--host", "127.0.0.1",
        "--port", str(port), "--load_fast", "false", "--samples_per_plugin", "text=100",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, runs = time.monotonic() + 90, []
        while time.monotonic() < deadline and not runs:
            assert process.poll() is None, process.stderr.read().decode()[-2000:] if process.stderr else ""
            try:
                runs = get(f"{base}/data/plugin/text/tags")
            except OSError:
                time.sleep(0.5)
        assert runs, "TensorBoard did not serve the run's text tags within 90 s"
        yield base, next(run for run, tags in runs.items() if tags)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def browse(url: str, screenshot: Path | None) -> str:
    """Load ``url`` in headless Chromium: a screenshot, or the DOM."""
    profile = (
        Path(os.environ.get("TMPDIR", "/tmp")) / f"lr-callbacks-chromium-{os.getpid()}-{time.monotonic_ns()}"
    )
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1500,1100",
        "--virtual-time-budget=20000", "--hide-scrollbars",
    ]  # fmt: skip
    command += [f"--screenshot={screenshot}"] if screenshot is not None else ["--dump-dom"]
    try:
        done = subprocess.run([*command, url], capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def check_picture(path: Path) -> None:
    import numpy as np

    image = pytest.importorskip("matplotlib.image").imread(str(path))
    assert image.shape[0] >= 1000 and image.shape[1] >= 1400
    assert float(np.asarray(image)[..., :3].std()) > 0.02, f"{path} is blank"


def test_the_lr_and_loss_chart_is_in_custom_scalars(server: tuple[str, str]) -> None:
    base, run = server
    layout = get(f"{base}/data/plugin/custom_scalars/layout")
    charts = {chart["title"]: chart for category in layout["category"] for chart in category["chart"]}
    shared = charts[SHARED_CHART]["multiline"]["tag"]
    assert any("lr_log10" in tag for tag in shared) and any("loss$" in tag for tag in shared)
    assert "margin" in charts["Smoothed loss with its margin (EMA ± 2 std)"]
    query = urllib.parse.urlencode({"run": run, "tag": "lr_callbacks/lr_log10/group0"})
    points = get(f"{base}/data/plugin/scalars/scalars?{query}")
    assert [int(step) for _, step, _ in points] == list(range(120))
    ARTIFACTS.mkdir(exist_ok=True)
    picture = ARTIFACTS / "tensorboard_custom_scalars.png"
    picture.unlink(missing_ok=True)
    browse(f"{base}/#custom_scalars", picture)
    check_picture(picture)
    assert "tb-webapp" in browse(f"{base}/#custom_scalars", None)  # the app itself was served and ran


def test_the_alert_is_in_the_text_tab(server: tuple[str, str]) -> None:
    base, run = server
    [tag] = [
        tag for tag in get(f"{base}/data/plugin/text/tags")[run] if tag.startswith("lr_callbacks/alerts")
    ]
    query = urllib.parse.urlencode({"run": run, "tag": tag})
    entries = get(f"{base}/data/plugin/text/text?{query}")
    assert [entry["step"] for entry in entries] == [BAD_BATCH]
    text = entries[0]["text"]
    for part in ("spike", f"at step {BAD_BATCH}", "seen:", "cause:", "advice:", "bad batch"):
        assert part in text, text
    picture = ARTIFACTS / "tensorboard_text_alerts.png"
    picture.unlink(missing_ok=True)
    browse(f"{base}/#text", picture)
    check_picture(picture)
