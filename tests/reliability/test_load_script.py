"""benchmarks/load.py, the load test, on a small budget: its mechanics, not the machine's speed."""

from __future__ import annotations

import json

import pytest

from benchmarks.load import get_args_parser, main


def test_load_script_reports_latency_statuses_and_memory(middleware, model_service, tmp_path):
    args = get_args_parser().parse_args([
        "--url", f"{middleware.url}/api/colorize", "--clients", "2", "--requests", "12", "--render-size", "64",
        "--pid", str(model_service.process.pid), "--pid", str(middleware.process.pid), "--rss-interval", "0.2",
        "--out", str(tmp_path), "--name", "small"])
    assert main(args) == 0
    report = json.loads((tmp_path / "small.json").read_text())
    results = report["results"]
    assert results["answers"] == 12 and results["outcomes"] == {"200": 12}
    assert 0 < results["latency_ms_of_200"]["p50"] <= results["latency_ms_of_200"]["p99"]
    rss = report["rss_kib"]
    assert {model_service.process.pid, middleware.process.pid} <= set(map(int, rss["by_pid"]))
    assert rss["total_before"] > 10_000 and rss["samples"][-1]["answers"] == 12
    assert "| 12 |" in (tmp_path / "small.md").read_text()


@pytest.mark.parametrize("url", ["http://example.com/api/colorize", "http://10.0.0.1:8000/api/colorize"])
def test_load_script_loads_only_this_machine(url, tmp_path):
    with pytest.raises(SystemExit, match="127.0.0.1"):
        main(get_args_parser().parse_args(["--url", url, "--out", str(tmp_path)]))
