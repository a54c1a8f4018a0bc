"""Load run: N concurrent signed-in users over the main pages, against gunicorn on loopback.

Usage (against whatever data the database holds, e.g. after ``bench/pages.py`` filled it):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/aoai_bench \
        .venv/bin/python bench/load.py --users 20 --seconds 60

It starts gunicorn on 127.0.0.1 (a free port), signs in one user per role per virtual user by
creating real sessions, then each virtual user loops over the pages its role may open until the
time is up, pausing a random think time between pages (``--think-min``/``--think-max`` seconds,
uniform, as locust's ``between``; people read a page before opening the next). ``--think-max 0``
removes the pause: every user fires back to back, which measures saturation, not 20 people.
Prints requests, errors, p50/p95/p99 latency overall and per page. The loop is bounded in time
and targets loopback only.
"""

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aoai_portal.settings")

PAGES_BY_ROLE = {
    "finance": [
        "/chargeback/",
        "/latency/",
        "/quotas/",
        "/api/v1/chargeback?month={month}&group_by=cost_center",
    ],
    "reviewer": ["/review/", "/latency/"],
    "admin": ["/chargeback/", "/latency/", "/review/", "/ingestion/", "/quotas/"],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sessions(count: int) -> list[tuple[str, str]]:
    """Create ``count`` signed-in sessions, roles round-robin; returns (role, session key)."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group, User
    from django.contrib.sessions.backends.db import SessionStore

    roles = list(PAGES_BY_ROLE)
    out = []
    for index in range(count):
        role = roles[index % len(roles)]
        user, _ = User.objects.get_or_create(username=f"load-{role}-{index}")
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        # Any configured backend can load the user back from the session.
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        out.append((role, session.session_key))
    return out


def _user_loop(
    base: str,
    role: str,
    session_key: str,
    deadline: float,
    timings: list,
    errors: list,
    think: tuple[float, float] = (0.0, 0.0),
) -> None:
    month = time.strftime("%Y-%m", time.gmtime())
    pages = [page.format(month=month) for page in PAGES_BY_ROLE[role]]
    rng = random.Random(session_key)
    index = rng.randrange(len(pages))  # users do not all start on the same page
    while time.monotonic() < deadline:
        page = pages[index % len(pages)]
        url = base + page
        index += 1
        request = urllib.request.Request(url, headers={"Cookie": f"sessionid={session_key}"})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            errors.append(f"{url}: {exc}")
            continue
        timings.append((page.split("?")[0], (time.perf_counter() - started) * 1000))
        if status != 200:
            errors.append(f"{url}: HTTP {status}")
        if think[1] > 0:
            time.sleep(min(rng.uniform(*think), max(deadline - time.monotonic(), 0)))


def _quantiles_line(values: list[float]) -> str:
    quantiles = statistics.quantiles(sorted(values), n=100)
    return f"p50_ms={quantiles[49]:.1f} p95_ms={quantiles[94]:.1f} p99_ms={quantiles[98]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--think-min", type=float, default=1.0, help="seconds between a user's pages, at least"
    )
    parser.add_argument("--think-max", type=float, default=3.0, help="at most (0: no pause, saturation)")
    args = parser.parse_args()

    sessions = _sessions(args.users)
    port = _free_port()
    env = dict(os.environ, DJANGO_DEBUG="false")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "aoai_portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--threads",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        # Warm every worker's connections and caches before measuring.
        warm_deadline = time.monotonic() + 3
        _user_loop(base, sessions[0][0], sessions[0][1], warm_deadline, [], [])

        timings: list[float] = []
        errors: list[str] = []
        deadline = time.monotonic() + args.seconds
        threads = [
            threading.Thread(
                target=_user_loop,
                args=(base, role, key, deadline, timings, errors, (args.think_min, args.think_max)),
            )
            for role, key in sessions
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=10)

    if len(timings) < 2:
        print("fewer than two requests completed", errors[:5])
        sys.exit(1)
    load = os.getloadavg()[0]
    print(
        f"users={args.users} seconds={args.seconds} gunicorn_workers={args.workers} "
        f"think={args.think_min:g}-{args.think_max:g}s load_1min_at_end={load:.1f}"
    )
    print(f"requests={len(timings)} rps={len(timings) / args.seconds:.1f} errors={len(errors)}")
    print(_quantiles_line([ms for _, ms in timings]))
    by_page: dict[str, list[float]] = {}
    for page, ms in timings:
        by_page.setdefault(page, []).append(ms)
    for page, values in sorted(by_page.items()):
        if len(values) >= 2:
            print(f"  {page:24} n={len(values):5} {_quantiles_line(values)}")
    for line in errors[:10]:
        print("error:", line)


if __name__ == "__main__":
    main()
