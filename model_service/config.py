"""The service's settings: defaults, overridden by environment variables of the same name, then by overrides.

Environment values are parsed by the type of their default (``MAX_PIXELS=1000000``,
``MODEL_CHANNELS_LAST=false``), so a typo fails at start-up with the variable's name, not at the
first request.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

from colorize import SHIPPED_CHECKPOINTS, engine
from colorize.engine import usable_cores

RENDER_SIZE_MIN = 64
RENDER_SIZE_MAX = 1024

DEFAULTS: dict[str, Any] = {
    # Comma-separated checkpoints, each loaded at start-up. Empty: MODEL_CHECKPOINT, else the shipped models
    # (colorize.SHIPPED_CHECKPOINTS). load_config turns it into a list of paths.
    "MODEL_CHECKPOINTS": "",
    "MODEL_CHECKPOINT": "",  # the one-model setting of earlier releases, still honoured (see checkpoint_paths)
    "MODEL_DEFAULT": "",  # the model a request that names none gets; empty: the first checkpoint's
    "MODEL_DEVICE": "auto",  # auto | cpu | cuda | cuda:N
    "MODEL_PRECISION": "auto",  # auto | fp32 | bf16
    # auto: OpenVINO on a CPU where it is installed (faster there than PyTorch's fastest path: benchmarks/RESULTS.md),
    # else PyTorch; always PyTorch on CUDA.
    "MODEL_RUNTIME": "auto",  # auto | torch | openvino
    "MODEL_CHANNELS_LAST": True,  # measured faster on CPU in fp32 and bf16 (model_service/README.md)
    "MODEL_THREADS": 0,  # torch threads per worker; 0 = $OMP_NUM_THREADS, else cores / WEB_CONCURRENCY
    "MAX_UPLOAD_BYTES": 160 * 1024 * 1024,  # a 60 MP 16-bit grey scan, uncompressed (docs/limits.md)
    # Request bodies one worker holds at once, running and queued (colorize/bodies.py); past it a
    # request is answered 503 busy. One scan at MAX_UPLOAD_BYTES and smaller photos beside it; two workers
    # of the shipped models with it fit a 4 GiB container (docs/limits.md).
    "MAX_BODY_BYTES": 256 * 1024 * 1024,
    "MAX_PIXELS": 60_000_000,  # a 50 MP scan with room to spare; never decoded above it
    "DEFAULT_RENDER_SIZE": 0,  # 0: the checkpoint's own (metadata render_size), else 256
    "MAX_CONCURRENT_INFERENCES": 1,  # per worker
    # 8 waiting per worker: 8 clients that wait for their answers never see a 503 even if all reach one
    # worker, and with two workers the service admits fewer requests than the web app sends at once, so
    # past saturation it sheds (503 at once) instead of queueing behind the web app (docs/limits.md).
    "MAX_QUEUE": 8,  # requests per worker allowed to wait for an inference slot
    # Under the web app's 60 s read timeout, so a queued request is shed (503) before the web app gives up.
    "QUEUE_TIMEOUT": 45.0,  # seconds one request may wait for a slot
    "RETRY_AFTER": 2,  # seconds, sent with every 503
    "WARMUP": True,  # False: no automatic warm-up inference, so /readyz stays 503 (tests)
    # Video jobs (model_service/videos): one folder per job, shared by every worker (a volume in compose and
    # GKE); empty: colorize-videos under the system's temporary folder.
    "VIDEO_JOBS_DIR": "",
    "VIDEO_RUNNER": True,  # False: this process takes no video job (tests drive the runner themselves)
    # 2 GiB: a two-hour SD film at 2 Mbit/s, or ten minutes of a 1080p phone at 17 Mbit/s; streamed to disk,
    # never held in memory.
    "VIDEO_MAX_BYTES": 2 * 1024 ** 3,
    "VIDEO_MAX_DURATION_S": 7200.0,  # a feature film
    "VIDEO_MAX_PIXELS": 4096 * 2304,  # a frame: 4K DCI and UHD, as colorize.video's own default
    "VIDEO_MAX_FRAMES": 216_000,  # two hours at 30 fps, so the duration, not the count, bounds a normal film
    # Jobs waiting across all workers (the folder is shared); past it 503 busy. Two workers each run one, so
    # the eighth in the queue waits for about four videos.
    "VIDEO_MAX_QUEUED": 8,
    "VIDEO_STALE_S": 30.0,  # a running job not heard from for this long lost its worker (it beats 6 times as often)
    "VIDEO_MAX_ATTEMPTS": 3,  # starts of one job before it is failed (its worker died each time)
    "VIDEO_RESULT_TTL_S": 86400.0,  # finished jobs (results and failures) are deleted this long after
    "VIDEO_POLL_S": 1.0,  # how often an idle runner looks for a queued job
}

_CHOICES = {"MODEL_PRECISION": engine.PRECISIONS, "MODEL_RUNTIME": engine.RUNTIMES}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A setting has a value the service cannot use."""


def _parse(name: str, raw: str, default: Any) -> Any:
    raw = raw.strip()
    if isinstance(default, bool):
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise ConfigError(f"{name}={raw!r}: expected true or false")
    if isinstance(default, (int, float)):
        try:
            return type(default)(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: expected a {type(default).__name__}") from None
    return raw


def openmp_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """colorize.engine.openmp_environment for this service's MODEL_RUNTIME and MODEL_DEVICE (from ``env``,
    default the environment): to be set before torch is imported."""
    env = os.environ if env is None else env
    return engine.openmp_environment(env.get("MODEL_RUNTIME", DEFAULTS["MODEL_RUNTIME"]),
                                     env.get("MODEL_DEVICE", DEFAULTS["MODEL_DEVICE"]), env)


def checkpoint_paths(config: Mapping[str, Any]) -> list[str]:
    """MODEL_CHECKPOINTS (a comma-separated string or a list), else MODEL_CHECKPOINT alone, else the shipped
    models. Paths are not checked here: the model registry names any that is missing."""
    raw = config["MODEL_CHECKPOINTS"]
    paths = raw.split(",") if isinstance(raw, str) else [str(p) for p in raw]
    paths = [p.strip() for p in paths if p.strip()]
    if paths:
        return paths
    if str(config["MODEL_CHECKPOINT"]).strip():
        return [str(config["MODEL_CHECKPOINT"]).strip()]
    return [str(p) for p in SHIPPED_CHECKPOINTS]


def load_config(env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
                ) -> dict[str, Any]:
    """DEFAULTS, then the environment, then ``overrides``; validated. MODEL_CHECKPOINTS comes out as a list."""
    env = os.environ if env is None else env
    config = dict(DEFAULTS)
    for name, default in DEFAULTS.items():
        if name in env:
            config[name] = _parse(name, env[name], default)
    overrides = dict(overrides or {})
    if "MODEL_CHECKPOINT" in overrides and "MODEL_CHECKPOINTS" not in overrides:
        # A later layer's single checkpoint replaces an earlier layer's list (a test's override, say).
        overrides["MODEL_CHECKPOINTS"] = ""
    config.update(overrides)
    config["MODEL_CHECKPOINTS"] = checkpoint_paths(config)
    config["MODEL_DEFAULT"] = str(config["MODEL_DEFAULT"]).strip()
    config["VIDEO_JOBS_DIR"] = str(config["VIDEO_JOBS_DIR"]).strip() or os.path.join(tempfile.gettempdir(),
                                                                                      "colorize-videos")
    for name, choices in _CHOICES.items():
        if config[name] not in choices:
            raise ConfigError(f"{name}={config[name]!r}: choose one of {', '.join(choices)}")
    positive = ("MAX_UPLOAD_BYTES", "MAX_BODY_BYTES", "MAX_PIXELS", "MAX_CONCURRENT_INFERENCES", "QUEUE_TIMEOUT",
                "VIDEO_MAX_BYTES", "VIDEO_MAX_DURATION_S", "VIDEO_MAX_PIXELS", "VIDEO_MAX_FRAMES", "VIDEO_MAX_QUEUED",
                "VIDEO_STALE_S", "VIDEO_MAX_ATTEMPTS", "VIDEO_RESULT_TTL_S", "VIDEO_POLL_S")
    for name in positive:
        if not config[name] > 0:
            raise ConfigError(f"{name}={config[name]!r}: must be positive")
    for name in ("MAX_QUEUE", "MODEL_THREADS", "RETRY_AFTER"):
        if config[name] < 0:
            raise ConfigError(f"{name}={config[name]!r}: must not be negative")
    if config["MAX_BODY_BYTES"] < config["MAX_UPLOAD_BYTES"]:
        raise ConfigError(f"MAX_BODY_BYTES={config['MAX_BODY_BYTES']} is below MAX_UPLOAD_BYTES="
                          f"{config['MAX_UPLOAD_BYTES']}: an upload of the largest size would never be admitted")
    if config["DEFAULT_RENDER_SIZE"] and not RENDER_SIZE_MIN <= config["DEFAULT_RENDER_SIZE"] <= RENDER_SIZE_MAX:
        raise ConfigError(f"DEFAULT_RENDER_SIZE must be 0 (the model's own) or between {RENDER_SIZE_MIN} "
                          f"and {RENDER_SIZE_MAX}")
    if config["MODEL_THREADS"] == 0 and "OMP_NUM_THREADS" in env:
        config["MODEL_THREADS"] = max(1, _parse("OMP_NUM_THREADS", env["OMP_NUM_THREADS"], 1))
    elif config["MODEL_THREADS"] == 0:
        workers = _parse("WEB_CONCURRENCY", env.get("WEB_CONCURRENCY", "1"), 1)
        config["MODEL_THREADS"] = max(1, usable_cores() // max(1, workers))
    return config
