"""``mimecast-collector health``: is the running collector ready?

It asks ``/readyz`` when ``[metrics]`` is set, else reads the ``health.json`` the
daemon writes after every cycle (the rule is in :mod:`collector.health`).

A module of its own, importing only the config, httpx and the readiness rule: it
runs every 30 s as the container's HEALTHCHECK, so it must not load the daemon, the
metrics server, or the simulator (a test checks the last).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson

from collector.config import load_config
from collector.health import HEALTH_FILE, read_health_file, readiness_problems
from collector.result import CommandResult


async def health(path: Path, result: CommandResult) -> CommandResult:
    """``health``: ok when every source completed a cycle within 3 intervals."""
    config = load_config(path)
    if config.metrics is not None:
        host = config.metrics.host
        if host in ("0.0.0.0", "::", ""):  # the wildcard address: ask ourselves on loopback
            host = "127.0.0.1"
        url = f"http://{host if ':' not in host else f'[{host}]'}:{config.metrics.port}/readyz"
        try:
            async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
                response = await http.get(url)
            problems = list(orjson.loads(response.content).get("problems", []))
            ready = response.status_code == 200
        except (httpx.HTTPError, orjson.JSONDecodeError, AttributeError) as exc:
            result.fail(f"not ready: cannot ask {url}: {type(exc).__name__}: {exc}", "stdout")
            return result
    else:
        try:
            facts = read_health_file(config.state_dir)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            result.fail(
                f"not ready: no readable {config.state_dir / HEALTH_FILE} ({exc}); "
                "is `run` running?",
                "stdout",
            )
            return result
        facts = {name: facts[name] for name in config.sources if name in facts}
        missing = [name for name in config.sources if name not in facts]
        problems = [f"source {name}: not running" for name in missing]
        problems += readiness_problems(facts, time.time())
        ready = not problems
    for problem in problems:
        result.say(f"not ready: {problem}")
    if ready:
        result.say("ready: every source completed a cycle within 3 x interval_secs")
    result.failed = not ready
    return result
