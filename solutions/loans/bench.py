"""Latency of real-time loan scoring: the full HTTP stack against the model called directly.

    python -m solutions.loans.bench [--requests 200] [--concurrency 1 4]

Full stack: gunicorn on loopback (a fresh SQLite database in a temporary folder, one tenant,
one API key), `POST /api/v1/loans/score` with API-key auth, validation, scoring with reasons,
the inline audit job and its result row. Floor: the same LoanScorer.score() call in this
process, with no HTTP, no database. Prints a table with p50/p99 and the ratios and writes
docs/benchmarks/loans.json and loans.md.
"""

import argparse
import http.client
import json
import os
import platform as host_platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "docs" / "benchmarks"
MODEL = "german"
APPLICATION = {
    "checking_account_status": "A11", "duration_months": 36, "credit_history": "A32", "purpose": "A43",
    "credit_amount": 6500, "savings_account": "A61", "employment_since": "A73", "installment_rate_pct_income": 4,
    "personal_status_sex": "A93", "other_debtors_guarantors": "A101", "residence_since": 2, "property": "A123",
    "age_years": 29, "other_installment_plans": "A143", "housing": "A151", "existing_credits_count": 1,
    "job": "A173", "people_liable_count": 1, "telephone": "A191", "foreign_worker": "A201",
}
SETUP_SCRIPT = """
from django.contrib.auth import get_user_model
from quorum.tenancy import services
tenant = services.create_tenant(name="Bench Bank", slug="bench")
user = get_user_model().objects.create(username="bench@example.com")
services.add_member(tenant=tenant, user=user, role="admin")
print(services.create_api_key(tenant, user, "bench")[1])
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(latencies: list[float], wall: float) -> dict[str, float]:
    ms = [v * 1000 for v in latencies]
    return {"requests": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
            "mean_ms": statistics.fmean(ms), "throughput_per_s": len(ms) / wall}


def direct_floor(requests: int) -> dict[str, float]:
    """The model called directly: validate + score (PD, points, grade, decision, reasons)."""
    import torch

    from solutions.loans.scoring import LoanScorer, PolicySettings

    torch.set_num_threads(1)
    scorer = LoanScorer.load(ROOT / "models" / "loans" / MODEL)
    policy = PolicySettings()
    for _ in range(10):  # warm-up
        scorer.score([scorer.schema.validate(APPLICATION)[0]], policy)
    latencies = []
    started = time.perf_counter()
    for _ in range(requests):
        t = time.perf_counter()
        scorer.score([scorer.schema.validate(APPLICATION)[0]], policy)
        latencies.append(time.perf_counter() - t)
    return summary(latencies, time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_load(port: int, raw_key: str, requests: int, concurrency: int) -> dict[str, float]:
    """`requests` POSTs split over `concurrency` client threads, one keep-alive connection each."""
    body = json.dumps(APPLICATION).encode()
    headers = {"Authorization": f"Api-Key {raw_key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(count: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(count):
            t = time.perf_counter()
            connection.request("POST", f"/api/v1/loans/score?model={MODEL}", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - t
            with lock:
                if response.status == 200:
                    latencies.append(elapsed)
                else:
                    failures.append(f"{response.status}: {payload[:200]!r}")
        connection.close()

    threads = [threading.Thread(target=client, args=(requests // concurrency,)) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, first: {failures[0]}")
    return summary(latencies, wall)


def start_server(workdir: Path, workers: int) -> tuple[subprocess.Popen, int, str]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
        "DJANGO_SETTINGS_MODULE": "quorum.settings",
        "QUORUM_VAR_DIR": str(workdir),
        "QUORUM_SOLUTIONS": "loans",
        "QUORUM_API_RATE": "1000000/min",
        "OMP_NUM_THREADS": "1",  # one torch thread per worker: workers, not threads, give parallelism
        "DEBUG": "0",
    }
    python = sys.executable
    subprocess.run([python, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
    raw_key = subprocess.run([python, str(ROOT / "manage.py"), "shell", "-c", SETUP_SCRIPT], env=env, check=True,
                             cwd=ROOT, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    port = free_port()
    gunicorn = Path(python).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "quorum.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", str(workers),
         "--preload", "--log-level", "warning"],
        env=env, cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, port, raw_key
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("gunicorn did not start within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    floor = direct_floor(args.requests)
    rows: list[dict[str, Any]] = [{"setup": "model called directly (floor)", "concurrency": 1, **floor}]
    with tempfile.TemporaryDirectory(prefix="loans-bench-") as tmp:
        server, port, raw_key = start_server(Path(tmp), args.workers)
        try:
            http_load(port, raw_key, 20, 1)  # warm-up: every worker loads the model
            for concurrency in args.concurrency:
                result = http_load(port, raw_key, args.requests, concurrency)
                rows.append({"setup": f"HTTP: gunicorn {args.workers} workers, POST /api/v1/loans/score",
                             "concurrency": concurrency, **result})
        finally:
            server.terminate()
            server.wait(timeout=30)
    for row in rows:
        row["p50_ratio_to_floor"] = row["p50_ms"] / floor["p50_ms"]
        row["p99_ratio_to_floor"] = row["p99_ms"] / floor["p99_ms"]
    record = {
        "benchmark": "loans real-time scoring latency",
        "model": MODEL,
        "host": f"{host_platform.machine()}, {os.cpu_count()} CPU cores (shared), torch on CPU",
        "command": "python -m solutions.loans.bench " + " ".join(sys.argv[1:]),
        "rows": rows,
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "loans.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# Loans: real-time scoring latency",
        "",
        f"Host: {record['host']}. Command: `{record['command']}`. Model: {MODEL} base checkpoint; each",
        "request validates one application, scores PD, points, grade, decision and four integrated-gradient",
        "reasons (16 steps), records an inline audit job and its result row (SQLite).",
        "",
        "| setup | clients | requests | p50 ms | p99 ms | p50 / floor | p99 / floor | req/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(f"| {row['setup']} | {row['concurrency']} | {row['requests']} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
                     f"| {row['p50_ratio_to_floor']:.2f} | {row['p99_ratio_to_floor']:.2f} | {row['throughput_per_s']:.1f} |")
    (OUT_DIR / "loans.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
