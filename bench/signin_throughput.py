"""Figure 1: password sign-ins per second over HTTP next to the hasher's own rate.

Numerator: 4 client threads, each a browser with a CSRF cookie and token and no session,
POST a right password to /login/ of the stack (2 gunicorn sync workers) back to back for
``duration`` seconds. A sign-in succeeds when the portal answers what follows a right
password: a redirect onward (to the second factor), not the sign-in page again. The accounts
have no failures and the sign-ins go round many of them.

Baseline: ``django.contrib.auth.hashers.check_password`` of a right password on a hash made by
``make_password`` with the portal's hasher (portal.hashers.PortalArgon2PasswordHasher), looped
in 2 processes for the same duration: the rate the two cores allow the hash alone.

Each repetition measures both, one after the other, the order alternating; the figure is the
median of the per-repetition ratios (and of each rate).
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from urllib.parse import urlsplit

from bench._harness import BENCH_PASSWORD, median, percentile
from bench.http_client import Client, page_kind

LOGIN = "/login/"
HASHER = "portal.hashers.PortalArgon2PasswordHasher"
GOAL = 0.8


def signed_in_onward(response) -> bool:
    """What follows a right password: a redirect that does not lead back to the sign-in page."""
    return response.status == 302 and urlsplit(response.location).path != LOGIN


# The baseline: the hash alone, in processes --------------------------------------------------


def _hash_loop(duration: float, ready, go, counts) -> None:
    """One process: check_password of a right password, back to back, for ``duration``."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(PASSWORD_HASHERS=[HASHER], USE_TZ=True)
        django.setup()
    from django.contrib.auth.hashers import check_password, make_password

    encoded = make_password(BENCH_PASSWORD, hasher="default")
    if not encoded.startswith("argon2"):
        raise RuntimeError(f"the baseline hash is not the portal's Argon2: {encoded[:20]}")
    check_password(BENCH_PASSWORD, encoded)  # warm up
    ready.set()
    go.wait()
    done = 0
    deadline = time.perf_counter() + duration
    while time.perf_counter() < deadline:
        if not check_password(BENCH_PASSWORD, encoded):
            raise RuntimeError("check_password refused the right password")
        done += 1
    counts.put(done)


def hash_rate(duration: float, processes: int = 2) -> float:
    """check_password per second, summed over ``processes`` processes running at once."""
    context = multiprocessing.get_context("spawn")
    counts = context.Queue()
    go = context.Event()
    workers = []
    readies = []
    for _ in range(processes):
        ready = context.Event()
        worker = context.Process(target=_hash_loop, args=(duration, ready, go, counts))
        worker.start()
        workers.append(worker)
        readies.append(ready)
    for ready in readies:
        if not ready.wait(60):
            raise RuntimeError("a check_password process did not start")
    go.set()
    total = sum(counts.get(timeout=duration + 60) for _ in workers)
    for worker in workers:
        worker.join()
    return total / duration


# Sign-ins over HTTP ---------------------------------------------------------------------------


class SignInLoad:
    """``threads`` browsers signing in back to back for ``duration`` seconds."""

    def __init__(self, base: str, usernames: list[str], *, threads: int = 4) -> None:
        self.base = base
        self.usernames = usernames
        self.threads = threads
        self.clients = [Client(base) for _ in range(threads)]
        self.turn = itertools.count()

    def prepare(self) -> None:
        for client in self.clients:
            self._fetch_token(client)

    def _fetch_token(self, client: Client) -> None:
        response = client.get(LOGIN)
        if response.status != 200 or not client.csrf:
            raise RuntimeError(f"GET {LOGIN} answered {response.status} without a CSRF token")
        client.csrf_cookie = client.cookies.get("csrftoken", "")

    def run(self, duration: float) -> dict[str, object]:
        latencies: list[float] = []
        refused: dict[str, int] = {}
        lock = threading.Lock()
        deadline = time.perf_counter() + duration

        def sign_in(client: Client) -> None:
            while time.perf_counter() < deadline:
                if client.cookies.get("csrftoken", "") != getattr(client, "csrf_cookie", ""):
                    self._fetch_token(client)  # the cookie changed: a token that goes with it
                client.drop_cookie("sessionid")
                username = self.usernames[next(self.turn) % len(self.usernames)]
                response = client.post(LOGIN, {"username": username, "password": BENCH_PASSWORD})
                with lock:
                    if signed_in_onward(response):
                        latencies.append(response.elapsed)
                    else:
                        kind = page_kind(response)
                        refused[kind] = refused.get(kind, 0) + 1

        workers = [threading.Thread(target=sign_in, args=(c,)) for c in self.clients]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = max(time.perf_counter() - start, duration)
        return {
            "rate": len(latencies) / elapsed,
            "signins": len(latencies),
            "latencies": latencies,
            "refused": refused,
        }


def run(
    stack, usernames: list[str], *, duration: float = 20.0, repeat: int = 5, threads: int = 4
) -> dict[str, object]:
    print(
        f"\n== signin_throughput: {threads} threads x {duration:g} s against 2 sync workers, "
        f"{len(usernames)} accounts, {repeat} repetitions =="
    )
    load = SignInLoad(stack.url, usernames, threads=threads)
    load.prepare()
    load.run(min(3.0, duration))  # warm up: the workers' connections, templates, caches
    signins, hashes, ratios, latencies = [], [], [], []
    refused: dict[str, int] = {}
    for rep in range(repeat):
        measured: dict[str, object] = {}
        order = ("http", "hash") if rep % 2 == 0 else ("hash", "http")
        for which in order:
            if which == "http":
                measured = load.run(duration)
            else:
                rate = hash_rate(duration)
        signins.append(measured["rate"])
        hashes.append(rate)
        ratios.append(measured["rate"] / rate)
        latencies.extend(measured["latencies"])
        for kind, count in measured["refused"].items():
            refused[kind] = refused.get(kind, 0) + count
        print(
            f"  rep {rep + 1}: {measured['rate']:6.1f} sign-ins/s   {rate:6.1f} check_password/s"
            f"   ratio {ratios[-1]:.2f}   p50 {percentile(measured['latencies'], 50) * 1000:.0f} ms"
            if measured["latencies"]
            else f"  rep {rep + 1}: no sign-in succeeded ({measured['refused']})"
        )
    result = {
        "signins_per_s": median(signins),
        "hash_per_s": median(hashes),
        "ratio": median(ratios),
        "reps_signins": signins,
        "reps_hash": hashes,
        "reps_ratio": ratios,
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else None,
        "p95_ms": percentile(latencies, 95) * 1000 if latencies else None,
        "p99_ms": percentile(latencies, 99) * 1000 if latencies else None,
        "refused": refused,
        "duration": duration,
        "threads": threads,
        "accounts": len(usernames),
        "goal": GOAL,
    }
    print(
        f"median    {result['signins_per_s']:.1f} sign-ins/s over {result['hash_per_s']:.1f} "
        f"check_password/s = {result['ratio']:.2f} (goal >= {GOAL}); "
        f"p50 {result['p50_ms'] or 0:.0f} ms, p95 {result['p95_ms'] or 0:.0f} ms"
    )
    if refused:
        print(f"refused   {refused}")
    return result
