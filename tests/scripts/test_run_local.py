"""``make run`` (scripts/run_local.py): both services on gunicorn with the settings their images use, never
Flask's development server, and Ctrl-C stops both without leaving a process behind."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from scripts import run_local
from tests.conftest import natural_image
from tests.middleware.fakes import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("model_service", "middleware")


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_starts_with_the_gunicorn_settings_of_its_image(name, monkeypatch):
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / name / "Dockerfile").read_text(), re.M)
    image_command = json.loads(cmd.group(1))
    started = {}

    def popen(command, **kwargs):
        started.update(command=command, **kwargs)
        return "process"

    monkeypatch.setattr(run_local.subprocess, "Popen", popen)
    service = run_local.start(name, 18123, {})
    assert service.proc == "process"
    assert started["command"][:3] == [sys.executable, "-m", "gunicorn"]
    assert started["command"][3:] == image_command[1:3] == ["-c", f"{name}/gunicorn.conf.py"]
    assert started["env"]["HOST"] == "127.0.0.1" and started["env"]["PORT"] == "18123"  # never every address
    assert started["start_new_session"]  # stopped as a group: no worker outlives make run


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(log: Path, text: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"make run never said {text!r}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


def test_make_run_serves_a_photo_then_ctrl_c_stops_everything(tiny_checkpoint, tmp_path):
    model_port, web_port = free_port(), free_port()
    env = {**os.environ, "MODEL_CHECKPOINTS": tiny_checkpoint, "MODEL_DEFAULT": "", "SECRET_KEY": "test",
           "MODEL_SERVICE_PORT": str(model_port), "MIDDLEWARE_PORT": str(web_port)}
    log = tmp_path / "run_local.log"
    with open(log, "wb") as out:
        # SIGINT as a terminal's Ctrl-C would find it, even if this test runs where it is ignored.
        proc = subprocess.Popen([sys.executable, "-m", "scripts.run_local"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    masters: list[int] = []
    try:
        _wait_for(log, "[run_local] ready: open", proc)
        masters = [int(pid) for pid in re.findall(r"\[INFO\] Listening at: \S+ \((\d+)\)", log.read_text())]
        assert len(masters) == 2  # one gunicorn master per service
        page = requests.get(f"http://127.0.0.1:{web_port}/", timeout=60)
        assert page.status_code == 200 and 'id="upload-form"' in page.text
        photo = io.BytesIO()
        natural_image(48, 64).convert("L").save(photo, "JPEG")
        answer = requests.post(f"http://127.0.0.1:{web_port}/api/colorize", timeout=60,
                               files={"image": ("photo.jpg", photo.getvalue(), "image/jpeg")})
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/jpeg"

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pgid in [proc.pid, *masters]:
            if _group_alive(pgid):
                os.killpg(pgid, signal.SIGKILL)
    output = log.read_text(errors="replace")
    assert "[run_local] stopping" in output
    assert output.count("Starting gunicorn") == 2
    assert "development server" not in output
    assert not [pgid for pgid in masters if _group_alive(pgid)], output[-3000:]  # no worker left either
    for port in (model_port, web_port):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
