"""Figure 3: legitimate sign-ins while wrong passwords are sprayed at the portal.

The attacker sprays wrong passwords open-loop (each attempt sent at its time, whether or not
the earlier ones were answered) at 2x and 5x the hash capacity (figure 1's baseline: the
check_password rate of 2 processes), once from a few addresses (127.0.0.2-127.0.0.5) and
once from many (4096 addresses per window, from 127.1.0.0 on, a fresh block each window, so
no address sends more than a couple of attempts: more addresses than a per-IP limit of 30 in
5 minutes can see). Each attacker address fetches the CSRF cookie and token once (its first
request is ``GET /login/``) and reuses them. Targets are half real accounts that are not the
legitimate people's (a fresh slice of them each window) and half names of no account.

Meanwhile legitimate people sign in open-loop at a steady rate (25% of figure 1's sign-ins
per second), each from their own browser on 127.0.0.1 that signed in before: a warm-up
sign-in per person before the measurement, after which the browser keeps every cookie the
portal set except the session; between sign-ins only the session cookie is dropped.

Each repetition runs one window with the attack and one without (the order alternating);
the figure is the median of the ratios of legitimate sign-ins that succeeded per second.
A sign-in's latency counts from the moment it was due, so a client held up by a slow server
is counted as waiting, not left out.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench._harness import BENCH_PASSWORD, median, percentile, process_cpu_seconds
from bench.http_client import Client, loopback_addresses, page_kind, totp_passcode
from bench.signin_throughput import LOGIN, signed_in_onward

GOAL = 0.8
FEW_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
MANY = 4096
MANY_FIRST = "127.1.0.0"
LEGIT_ADDRESS = "127.0.0.1"
LEGIT_TIMEOUT = 15.0
# A legitimate sign-in counts as a success when the redirect onward comes within this long of
# the moment it was due: a person kept waiting longer has given up, or pressed again.
PATIENCE = 5.0
ATTACK_TIMEOUT = 15.0
ATTACK_THREADS = 512
LEGIT_THREADS = 48


def open_loop(rate: float, duration: float, threads: int, action, start: float) -> int:
    """Call ``action(i, due)`` for i in 0..rate*duration-1 at ``start + i / rate``, from
    ``threads`` threads; an action whose thread is still busy starts late (its latency counts
    from ``due``). Returns the number of actions."""
    total = int(rate * duration)
    counter = itertools.count()

    def loop() -> None:
        while True:
            i = next(counter)
            if i >= total:
                return
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            action(i, due)

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(min(threads, total))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return total


# The legitimate people ---------------------------------------------------------------------


class Browsers:
    """One browser per legitimate account, each signed in once before (the warm-up)."""

    def __init__(self, base: str, accounts: list[dict[str, object]]) -> None:
        self.accounts = {str(account["username"]): account for account in accounts}
        self.usernames = list(self.accounts)
        self.clients = {
            name: Client(base, source=LEGIT_ADDRESS, timeout=LEGIT_TIMEOUT)
            for name in self.usernames
        }
        self.turn = itertools.count()
        self.locks = {name: threading.Lock() for name in self.usernames}

    def warm_up(self) -> Counter:
        """A complete sign-in in each browser, the second factor included (the app's
        passcode), as the person's last visit was; then only the session cookie is dropped."""
        answers: Counter = Counter()
        for name, client in self.clients.items():
            response = self._sign_in(name, client, keep_session=True)
            if signed_in_onward(response) and "/twofactor/verify/" in response.location:
                response = second_factor(client, self.accounts[name])
            answers[page_kind(response)] += 1
            client.drop_cookie("sessionid")
            client.close()
        return answers

    def _sign_in(self, name: str, client: Client, *, keep_session: bool = False):
        if not client.csrf or client.cookies.get("csrftoken") != getattr(client, "csrf_for", ""):
            client.get(LOGIN)
            client.csrf_for = client.cookies.get("csrftoken", "")
        client.drop_cookie("sessionid")
        response = client.post(LOGIN, {"username": name, "password": BENCH_PASSWORD})
        if not keep_session:
            client.drop_cookie("sessionid")
            client.close()
        return response

    def sign_in(self, results: list, lock: threading.Lock):
        def action(i: int, due: float) -> None:
            name = self.usernames[next(self.turn) % len(self.usernames)]
            with self.locks[name]:
                try:
                    response = self._sign_in(name, self.clients[name])
                    ok, kind = signed_in_onward(response), page_kind(response)
                except OSError as error:
                    ok, kind = False, f"no answer ({type(error).__name__})"
            with lock:
                results.append((ok, time.perf_counter() - due, kind))

        return action


def second_factor(client: Client, account: dict[str, object]):
    """The second step of a sign-in: the authenticator app's passcode on /twofactor/verify/.
    The code is the app's for the next 30-second step (within the device's tolerance), since
    the one of this step may have confirmed the device already."""
    verify = "/twofactor/verify/"
    client.get(verify)
    fields = {
        "device": str(account["device_id"]),
        "method": "passcode",
        "code": totp_passcode(str(account["totp_key"])),
    }
    return client.post(verify, fields)


# The attacker ------------------------------------------------------------------------------


IDENTITIES: dict[str, tuple[dict[str, str], str]] = {}


@dataclass
class Attacker:
    """Wrong passwords from ``addresses``, each address with its own CSRF cookie and token."""

    base: str
    addresses: list[str]
    targets: list[str]
    answers: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    fetches: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        # An address's CSRF cookie and token, fetched once and kept from window to window.
        self.identities = IDENTITIES
        self.fetching = {address: threading.Lock() for address in self.addresses}

    def _identity(self, address: str) -> tuple[dict[str, str], str]:
        known = self.identities.get(address)
        if known is not None:
            return known
        with self.fetching[address]:
            known = self.identities.get(address)
            if known is None:
                client = Client(self.base, source=address, timeout=ATTACK_TIMEOUT)
                response = client.get(LOGIN)
                client.close()
                with self.lock:
                    self.fetches += 1
                    self.answers[f"GET /login/: {page_kind(response)}"] += 1
                known = (dict(client.cookies), client.csrf)
                self.identities[address] = known
        return known

    def action(self, i: int, due: float) -> None:
        address = self.addresses[i % len(self.addresses)]
        if i % 2 == 0:
            name = self.targets[(i // 2) % len(self.targets)]
        else:
            name = f"nobody.{secrets.token_hex(4)}"
        try:
            cookies, token = self._identity(address)
            client = Client(self.base, source=address, timeout=ATTACK_TIMEOUT)
            client.cookies = dict(cookies)
            client.csrf = token
            response = client.post(LOGIN, {"username": name, "password": secrets.token_hex(6)})
            client.close()
            kind, elapsed = page_kind(response), response.elapsed
        except OSError as error:
            kind, elapsed = f"no answer ({type(error).__name__})", None
        with self.lock:
            self.answers[f"POST /login/: {kind}"] += 1
            if elapsed is not None:
                self.latencies.append(elapsed)


# One window, and the figure -----------------------------------------------------------------


def window(
    stack,
    browsers: Browsers,
    *,
    legit_rate: float,
    duration: float,
    attack_rate: float = 0.0,
    addresses: list[str] | None = None,
    targets: list[str] | None = None,
) -> dict[str, object]:
    results: list = []
    lock = threading.Lock()
    attacker = None
    pids = stack.web_worker_pids()
    cpu_before = process_cpu_seconds(pids)
    client_cpu_before = time.process_time()
    start = time.perf_counter() + 0.2
    threads = []
    legit = threading.Thread(
        target=open_loop,
        args=(legit_rate, duration, LEGIT_THREADS, browsers.sign_in(results, lock), start),
    )
    threads.append(legit)
    if attack_rate:
        attacker = Attacker(stack.url, addresses or [], targets or [])
        threads.append(
            threading.Thread(
                target=open_loop,
                args=(attack_rate, duration, ATTACK_THREADS, attacker.action, start),
            )
        )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu = process_cpu_seconds(pids) - cpu_before
    client_cpu = time.process_time() - client_cpu_before
    ok = [latency for success, latency, _ in results if success and latency <= PATIENCE]
    answered = [latency for success, latency, _ in results if success]
    return {
        "succeeded_per_s": len(ok) / duration,
        "due": len(results),
        "succeeded": len(ok),
        "latencies": answered,
        "late": len(answered) - len(ok),
        "client_cpu_s": client_cpu,
        "legit_answers": Counter(kind for _, _, kind in results),
        "attacker": attacker,
        "worker_cpu_s": cpu,
        "elapsed": elapsed,
    }


def settle(stack, seconds: float = 1.5) -> None:
    """Let the workers finish what is queued before the next window."""
    deadline = time.monotonic() + 60
    while stack.healthz() != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(seconds)


def run(
    stack,
    *,
    legit: list[dict[str, object]],
    targets: list[str],
    capacity_signins: float,
    hash_per_s: float,
    duration: float = 6.0,
    repeat: int = 5,
    factors: tuple[int, ...] = (2, 5),
    modes: tuple[str, ...] = ("few", "many"),
) -> dict[str, object]:
    legit_rate = 0.25 * capacity_signins
    print(
        f"\n== signin_under_attack: legitimate {legit_rate:.1f} sign-ins/s "
        f"(25% of {capacity_signins:.1f}); attack at {', '.join(f'{f}x' for f in factors)} of "
        f"{hash_per_s:.1f} check_password/s; {duration:g} s windows, {repeat} repetitions =="
    )
    browsers = Browsers(stack.url, legit)
    warm = browsers.warm_up()
    print(f"warm-up   {len(legit)} browsers signed in once: {dict(warm)}")
    per_target = max(1, len(targets) // (len(factors) * len(modes) * repeat))
    slices = (targets[i : i + per_target] for i in itertools.count(0, per_target))
    blocks = itertools.count()
    cases: dict[str, dict[str, object]] = {}
    for mode in modes:
        for factor in factors:
            name = f"{factor}x, {mode} addresses"
            ratios, under, without = [], [], []
            lat_under, lat_without = [], []
            answers: Counter = Counter()
            cpu_under, cpu_without, attempts, fetches = [], [], 0, 0
            late, client_cpu = 0, []
            for rep in range(repeat):
                if mode == "few":
                    addresses = list(FEW_ADDRESSES)
                else:
                    addresses = loopback_addresses(MANY_FIRST, MANY, skip=MANY * next(blocks))
                window_targets = next(slices) or targets[:per_target]
                order = ("attack", "calm") if rep % 2 == 0 else ("calm", "attack")
                for which in order:
                    if which == "attack":
                        attacked = window(
                            stack,
                            browsers,
                            legit_rate=legit_rate,
                            duration=duration,
                            attack_rate=factor * hash_per_s,
                            addresses=addresses,
                            targets=window_targets,
                        )
                    else:
                        calm = window(stack, browsers, legit_rate=legit_rate, duration=duration)
                    settle(stack)
                attacker = attacked["attacker"]
                under.append(attacked["succeeded_per_s"])
                without.append(calm["succeeded_per_s"])
                ratios.append(
                    attacked["succeeded_per_s"] / calm["succeeded_per_s"]
                    if calm["succeeded_per_s"]
                    else 0.0
                )
                lat_under.extend(attacked["latencies"])
                lat_without.extend(calm["latencies"])
                answers.update(attacker.answers)
                attempts += int(factor * hash_per_s * duration)
                fetches += attacker.fetches
                cpu_under.append(attacked["worker_cpu_s"])
                cpu_without.append(calm["worker_cpu_s"])
                late += attacked["late"]
                client_cpu.append(attacked["client_cpu_s"])
                print(
                    f"  {name}, rep {rep + 1}: legit {attacked['succeeded_per_s']:.1f}/s under "
                    f"attack ({attacked['late']} more after {PATIENCE:g} s), "
                    f"{calm['succeeded_per_s']:.1f}/s without: ratio {ratios[-1]:.2f}; "
                    f"workers' CPU {attacked['worker_cpu_s']:.1f} s vs "
                    f"{calm['worker_cpu_s']:.1f} s, the benchmark's own "
                    f"{attacked['client_cpu_s']:.1f} s"
                )
                if attacked["legit_answers"] and ratios[-1] < 1:
                    print(f"      legit answers under attack: {dict(attacked['legit_answers'])}")
            extra_cpu = sum(cpu_under) - sum(cpu_without)
            cases[name] = {
                "factor": factor,
                "mode": mode,
                "attack_rate": factor * hash_per_s,
                "addresses": len(FEW_ADDRESSES) if mode == "few" else MANY,
                "ratio": median(ratios),
                "reps_ratio": ratios,
                "legit_under_per_s": median(under),
                "legit_without_per_s": median(without),
                "reps_under": under,
                "reps_without": without,
                "p50_under_ms": _ms(lat_under, 50),
                "p95_under_ms": _ms(lat_under, 95),
                "p50_without_ms": _ms(lat_without, 50),
                "p95_without_ms": _ms(lat_without, 95),
                "attempts": attempts,
                "csrf_fetches": fetches,
                "answers": dict(answers.most_common()),
                "worker_cpu_under_s": median(cpu_under),
                "worker_cpu_without_s": median(cpu_without),
                "attacker_cpu_ms_per_attempt": extra_cpu / attempts * 1000 if attempts else 0.0,
                "window_s": duration,
                "late": late,
                "client_cpu_s": median(client_cpu),
            }
            case = cases[name]
            print(
                f"  {name}: median ratio {case['ratio']:.2f} (goal >= {GOAL}); legit p50/p95 "
                f"{case['p50_under_ms']:.0f}/{case['p95_under_ms']:.0f} ms under attack, "
                f"{case['p50_without_ms']:.0f}/{case['p95_without_ms']:.0f} ms without; "
                f"attacker costs {case['attacker_cpu_ms_per_attempt']:.1f} ms of worker CPU "
                "per attempt"
            )
            for kind, count in answers.most_common(8):
                print(f"      {count:>7}  {kind}")
    # The lowest median; between equal medians, the case with the lowest repetition.
    worst = min(cases.values(), key=lambda case: (case["ratio"], min(case["reps_ratio"])))
    return {
        "ratio": worst["ratio"],
        "worst_case": next(name for name, case in cases.items() if case is worst),
        "cases": cases,
        "legit_rate": legit_rate,
        "capacity_signins": capacity_signins,
        "hash_per_s": hash_per_s,
        "legit_accounts": len(legit),
        "window_s": duration,
        "repeat": repeat,
        "goal": GOAL,
        "patience_s": PATIENCE,
    }


def _ms(samples: list[float], p: float) -> float:
    return percentile(samples, p) * 1000 if samples else float("nan")
