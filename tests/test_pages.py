"""The report page and the dashboard, opened in headless Chromium as a user would."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import headless_chromium

from conftest import REPO, report_payload

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def _local(url: str, host: str | None = None) -> bool:
    """Whether a request stays on this machine: the page's own file, inline data, or ``host``."""
    return url.startswith(("file://", "data:", "blob:")) or (host is not None and url.startswith(f"http://{host}/"))


def _report(sweep: Path, target: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "sweepkit.cli", "--json", "report", str(sweep), "-o", str(target)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    return report_payload(target.read_text())


@pytest.mark.parametrize("which", ["optuna_sweep", "grid_sweep"])
def test_the_report_renders_every_plot_with_hover_labels_offline(request, which, tmp_path):
    sweep = request.getfixturevalue(which)
    data = _report(sweep, tmp_path / "report.html")
    runs = {json.loads(p.read_text())["run_name"] for p in sweep.glob("*/run.json")}
    with headless_chromium(width=1280) as page:
        page.open((tmp_path / "report.html").as_uri())
        drawn = page.wait_for(
            "const d = [...document.querySelectorAll('.js-plotly-plot')];"
            "return d.length && d.every(p => p.querySelector('.main-svg .cartesianlayer .trace')) && d.map(p => p.id)"
        )
        assert drawn == [f"plot-{name}" for name in data["plots"]] and len(drawn) >= 5
        # each plot drew its marks: points, lines or bars in plotly's SVG layers
        for plot_id in drawn:
            marks = page.js(f"return document.querySelectorAll('#{plot_id} .cartesianlayer .trace path').length")
            assert marks > 0, plot_id
        # a point of the history plot hovers with its run: name, job number, value, parameters
        label = page.hover("#plot-optimization_history .scatterlayer .points path")
        assert re.search(r'"run_name": "([^"]+)"', label).group(1) in runs
        assert '"job":' in label and '"values":' in label and '"params":' in label
        # the table fits the page at 1280 px (it scrolls inside its own box when it must)
        assert page.js("return document.documentElement.scrollWidth <= window.innerWidth")
        text = page.text()
        assert "reclaimed" in text
        for entry in data["top"]:
            assert entry["checkpoint_in_sweep"] in text
        assert page.console_errors() == []
        requests = page.requests()
        assert requests and all(_local(url) for url in requests), requests


def test_the_dashboard_serves_the_sweep_on_localhost(optuna_sweep):
    server = subprocess.Popen(
        [sys.executable, "-m", "sweepkit.cli", "dashboard", str(optuna_sweep), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        line = server.stderr.readline()
        match = re.search(r"at (http://(127\.0\.0\.1:\d+)/dashboard/studies/\d+) ", line)
        assert match, line
        url, host = match.groups()
        with headless_chromium(width=1280) as page:
            page.open(url)
            text = page.wait_for(
                "const t = document.body.innerText; return t.includes('Best Trial') && t.includes('rank_01') && t"
            )
            assert "val_loss" in text  # the app's metric name, not "Objective 0"
            ranked = json.loads((optuna_sweep / "sweep_results.json").read_text())["top"]
            assert ranked[0]["checkpoint"] in text  # the kept checkpoints, one readable line each
            assert page.js("return document.querySelectorAll('.js-plotly-plot .main-svg').length") > 0
            assert page.console_errors() == []
            requests = page.requests()
            assert requests and all(_local(url, host) for url in requests), requests
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert server.returncode is not None
