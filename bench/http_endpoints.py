"""Figure 2: the endpoints that do not hash a password, next to a bare view with the same session.

Four endpoints, each with the session a person has when they use it:

- SafeCode verify: the code page of the unlock journey (``POST /unlock/code/``) of a locked
  account, with the right code from the message the portal sent (read from the outbox). A
  person types the code they were sent, and a right code is consumed, so each request is its
  own journey, prepared before the measurement (``GET /unlock/``, the name and the CAPTCHA's
  answer, ``POST /unlock/send/``). A success is the redirect onward.
- Second-factor passcode verify: ``POST /twofactor/verify/`` with the right passcode of the
  account's authenticator app, in a pending sign-in (the password proven just before, over
  HTTP). Also consumed (a passcode signs in once), so one pending sign-in per request.
- The push-status poll: ``GET /twofactor/push/<id>/status/`` from a session whose page waits
  for a push (the verify page's "Send Me a Push"); not consumed, polled again and again.
- A whitepages search: ``GET /whitepages/?q=<a last-name prefix>`` signed in (password and
  passcode), over a directory of people.

Baseline: ``GET /bench/bare/`` (bench/stack_urls.py: every middleware, reads the session and the
account) with the same sessions. For each endpoint and repetition: the saturation throughput
of the endpoint and of the bare view (closed loop, ``THREADS`` threads, against 2 sync
workers), one after the other, the order alternating; then both open-loop at half the
endpoint's own saturation rate, for the latency (p99; counted from the moment each request was
due). Ratios are per repetition; the figures are medians.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections import Counter
from urllib.parse import urlencode, urlsplit

from bench._harness import BENCH_PASSWORD, median, percentile, stack_call, wait_for_delivery
from bench.http_client import Client, loopback_addresses, page_kind, totp_passcode
from bench.signin_throughput import LOGIN, signed_in_onward
from bench.signin_under_attack import open_loop, second_factor

GOAL_RATIO = 0.6
GOAL_P99_MS = 50.0
THREADS = 8
BARE = "/bench/bare/"
UNLOCK = "/unlock/"
STATUS_URL = re.compile(r'data-status-url="([^"]+)"')
CAPTCHA_KEY = re.compile(
    r'name="captcha_0"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="captcha_0"'
)
SEARCHES = ("sm", "gar", "nguy", "pat", "wil", "kim", "mar", "chen", "ta", "rod", "li", "ok")
# Journeys are prepared from addresses of their own, so no per-address limit of the portal's
# sees more of them than one person would make.
PREPARE_FIRST = "127.3.0.0"


class Endpoint:
    """One endpoint: how to call it with a session, and whether a call consumes it."""

    name = ""
    consumed = True
    expected = "302 onward"

    def sessions(self, stack, count: int) -> list[Client]:
        raise NotImplementedError

    def call(self, client: Client, i: int):
        raise NotImplementedError

    def ok(self, response) -> bool:
        return signed_in_onward(response)


def unlock_journeys(stack, count: int, *, prefix: str, skip: int) -> list[Client]:
    """``count`` locked accounts, each with a browser (its own address) in the unlock journey,
    on the page that sends the code: the name and the CAPTCHA's answer given (the answer read
    from the CAPTCHA store, as a person reads the picture). ``client.recipient`` is where the
    code will go."""
    accounts = stack_call(
        stack, "make_accounts", prefix=prefix, count=count, device=False, locked=True
    )
    addresses = loopback_addresses(PREPARE_FIRST, count, skip=skip)
    clients, keys = [], []
    for address in addresses:
        client = Client(stack.url, source=address)
        page = client.get(UNLOCK)
        found = CAPTCHA_KEY.search(page.text)
        if page.status != 200 or found is None:
            raise RuntimeError(f"GET {UNLOCK} answered {page_kind(page)} without a CAPTCHA")
        keys.append(found.group(1) or found.group(2))
        clients.append(client)
    answers = stack_call(stack, "captcha_answers", keys=keys)
    for client, account, key in zip(clients, accounts, keys, strict=True):
        fields = {"username": account["username"], "captcha_0": key, "captcha_1": answers[key]}
        start = client.post(UNLOCK, fields)
        if start.status != 302:
            raise RuntimeError(f"the unlock journey did not start: {page_kind(start)}")
        client.send_page = urlsplit(start.location).path
        client.get(client.send_page)
        client.close()
        client.recipient = f"{account['username']}@bench.example.org"
    return clients


def unlock_send(client: Client):
    """Ask for the code by email (the accounts have a SafeCode email only)."""
    sent = client.post(client.send_page, {"kind": "email"})
    client.close()
    return sent


class SafeCodeVerify(Endpoint):
    name = "SafeCode verify (POST /unlock/code/, right code)"

    def __init__(self) -> None:
        self.made = 0

    def sessions(self, stack, count: int) -> list[Client]:
        clients = unlock_journeys(
            stack, count, prefix=f"unlock{self.made // 1000}x", skip=self.made
        )
        self.made += 1000
        for client in clients:
            sent = unlock_send(client)
            if sent.status != 302:
                raise RuntimeError(f"no code was sent: {page_kind(sent)}")
            client.code_page = urlsplit(sent.location).path
            client.get(client.code_page)
            client.close()
        wait_for_delivery(stack)
        recipients = [client.recipient for client in clients]
        codes = stack_call(stack, "outbox_codes", recipients=recipients)
        for client in clients:
            if client.recipient not in codes:
                raise RuntimeError(f"no code in the outbox for {client.recipient}")
            client.code = codes[client.recipient]
        return clients

    def call(self, client: Client, i: int):
        return client.post(client.code_page, {"code": client.code})


class PasscodeVerify(Endpoint):
    name = "Second-factor passcode verify (POST /twofactor/verify/, right passcode)"

    def __init__(self) -> None:
        self.made = 0

    def sessions(self, stack, count: int) -> list[Client]:
        accounts = stack_call(
            stack, "make_accounts", prefix=f"second{self.made // 1000}x", count=count
        )
        self.made += 1000
        wait_for_delivery(stack)
        clients = []
        for account in accounts:
            client = Client(stack.url)
            client.get(LOGIN)
            response = client.post(
                LOGIN, {"username": account["username"], "password": BENCH_PASSWORD}
            )
            if "/twofactor/verify/" not in response.location:
                raise RuntimeError(f"no pending sign-in: {page_kind(response)}")
            client.get("/twofactor/verify/")
            client.close()
            client.account = account
            clients.append(client)
        return clients

    def call(self, client: Client, i: int):
        # second_factor() reads the page first; here the page was read when prepared.
        account = client.account
        fields = {
            "device": str(account["device_id"]),
            "method": "passcode",
            "code": totp_passcode(str(account["totp_key"])),
        }
        return client.post("/twofactor/verify/", fields)


class PushStatus(Endpoint):
    """A push waits 60 s (TWOFACTOR_PUSH_SECONDS) and an account may have 3 unanswered in 10
    minutes, so each repetition has new accounts and new pushes."""

    name = "Push-status poll (GET /twofactor/push/<id>/status/)"
    consumed = False
    fresh_each_rep = True
    expected = "200 JSON"

    def __init__(self) -> None:
        self.made = 0

    def sessions(self, stack, count: int) -> list[Client]:
        accounts = stack_call(
            stack, "make_push_accounts", base=stack.url, count=count, first=self.made
        )
        self.made += count
        clients = []
        for account in accounts:
            client = Client(stack.url)
            client.get(LOGIN)
            client.post(LOGIN, {"username": account["username"], "password": account["password"]})
            page = client.get("/twofactor/verify/")
            device = re.search(r'name="device" value="(\d+)"', page.text)
            sent = client.post(
                "/twofactor/verify/",
                {"action": "send", "device": device.group(1) if device else "", "method": "push"},
            )
            found = STATUS_URL.search(sent.text)
            if found is None:
                raise RuntimeError(f"no push waits: {page_kind(sent)}")
            client.status_url = found.group(1)
            client.close()
            clients.append(client)
        return clients

    def call(self, client: Client, i: int):
        return client.get(client.status_url)

    def ok(self, response) -> bool:
        return response.status == 200 and b'"state"' in response.body


class WhitepagesSearch(Endpoint):
    name = "Whitepages search (GET /whitepages/?q=..., signed in)"
    consumed = False
    expected = "200 page"

    def __init__(self, people: int = 20_000) -> None:
        self.people = people

    def sessions(self, stack, count: int) -> list[Client]:
        stack_call(stack, "make_people", count=self.people)
        accounts = stack_call(stack, "make_accounts", prefix="reader", count=count)
        wait_for_delivery(stack)
        clients = []
        for account in accounts:
            client = Client(stack.url)
            client.get(LOGIN)
            client.post(LOGIN, {"username": account["username"], "password": BENCH_PASSWORD})
            home = second_factor(client, account)
            if home.status != 302 or "/twofactor/" in home.location:
                raise RuntimeError(f"the reader did not sign in: {page_kind(home)}")
            page = client.get("/whitepages/?" + urlencode({"q": "smith"}))
            if page.status != 200:
                raise RuntimeError(f"GET /whitepages/ answered {page_kind(page)}")
            client.close()
            clients.append(client)
        return clients

    def call(self, client: Client, i: int):
        return client.get("/whitepages/?" + urlencode({"q": SEARCHES[i % len(SEARCHES)]}))

    def ok(self, response) -> bool:
        return response.status == 200


def _bare(client: Client, i: int):
    return client.get(BARE)


# Closed and open loops over a set of sessions ---------------------------------------------------


def closed_loop(clients: list[Client], call, ok, *, consumed: bool, window: float) -> dict:
    """``THREADS`` threads calling back to back: each session once when ``consumed`` (until
    they run out or ``window`` ends), or round and round for ``window`` seconds."""
    pool: queue.Queue = queue.Queue()
    for client in clients:
        pool.put(client)
    latencies: list[float] = []
    refused: Counter = Counter()
    lock = threading.Lock()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + window

    def loop() -> None:
        while time.perf_counter() < deadline:
            try:
                client = pool.get_nowait()
            except queue.Empty:
                return
            response = call(client, next(counter))
            client.close()
            with lock:
                if ok(response):
                    latencies.append(response.elapsed)
                else:
                    refused[page_kind(response)] += 1
            if not consumed:
                pool.put(client)

    threads = [threading.Thread(target=loop) for _ in range(THREADS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {"rps": len(latencies) / elapsed, "latencies": latencies, "refused": refused}


def at_rate(clients: list[Client], call, ok, *, rate: float, count: int) -> dict:
    """``count`` calls open-loop at ``rate``, each with the next session (each once when there
    are enough of them); latencies from the moment each call was due."""
    results: list = []
    lock = threading.Lock()
    locks = [threading.Lock() for _ in clients]

    def action(i: int, due: float) -> None:
        k = i % len(clients)
        with locks[k]:
            response = call(clients[k], i)
            clients[k].close()
        with lock:
            results.append((ok(response), time.perf_counter() - due, page_kind(response)))

    duration = count / rate
    open_loop(rate, duration, THREADS * 4, action, time.perf_counter() + 0.1)
    latencies = [latency for good, latency, _ in results if good]
    return {
        "latencies": latencies,
        "refused": Counter(kind for good, _, kind in results if not good),
    }


def run(
    stack, *, window: float = 4.0, repeat: int = 5, batch: int = 120, people: int = 20_000
) -> dict[str, object]:
    print(
        f"\n== http_endpoints: {THREADS} threads closed-loop ({window:g} s, or {batch} journeys "
        f"for the endpoints that consume them), then half of each saturation rate open-loop; "
        f"{repeat} repetitions =="
    )
    endpoints = (SafeCodeVerify(), PasscodeVerify(), PushStatus(), WhitepagesSearch(people))
    figures: dict[str, dict[str, object]] = {}
    for endpoint in endpoints:
        fresh = getattr(endpoint, "fresh_each_rep", False)
        reusable = None if endpoint.consumed or fresh else endpoint.sessions(stack, THREADS)
        ratios, rates, bare_rates, half_p99, half_p50, bare_p99 = [], [], [], [], [], []
        refused: Counter = Counter()
        half_rate = 0.0
        for rep in range(repeat):
            if endpoint.consumed:
                sessions = endpoint.sessions(stack, batch + batch // 2)
                saturation, half = sessions[:batch], sessions[batch:]
            elif fresh:
                saturation = half = endpoint.sessions(stack, THREADS)
            else:
                saturation = half = reusable
            measured: dict[str, dict] = {}
            order = ("endpoint", "bare") if rep % 2 == 0 else ("bare", "endpoint")
            for which in order:
                if which == "endpoint":
                    measured[which] = closed_loop(
                        saturation, endpoint.call, endpoint.ok,
                        consumed=endpoint.consumed, window=window,
                    )  # fmt: skip
                else:
                    measured[which] = closed_loop(
                        saturation if not endpoint.consumed else half,
                        _bare, lambda r: r.status == 200, consumed=False, window=window / 2,
                    )  # fmt: skip
            rate, bare = measured["endpoint"]["rps"], measured["bare"]["rps"]
            refused.update(measured["endpoint"]["refused"])
            rates.append(rate)
            bare_rates.append(bare)
            ratios.append(rate / bare if bare else 0.0)
            half_rate = rate / 2
            count = len(half) if endpoint.consumed else max(20, int(half_rate * window))
            loaded = at_rate(half, endpoint.call, endpoint.ok, rate=half_rate, count=count)
            bare_loaded = at_rate(
                half, _bare, lambda r: r.status == 200, rate=half_rate, count=count
            )
            refused.update(loaded["refused"])
            half_p99.append(_ms(loaded["latencies"], 99))
            half_p50.append(_ms(loaded["latencies"], 50))
            bare_p99.append(_ms(bare_loaded["latencies"], 99))
            print(
                f"  {endpoint.name}, rep {rep + 1}: {rate:.0f}/s vs bare {bare:.0f}/s = "
                f"{ratios[-1]:.2f}; at {half_rate:.0f}/s p99 {half_p99[-1]:.1f} ms "
                f"(bare {bare_p99[-1]:.1f} ms)"
            )
        figures[endpoint.name] = {
            "rps": median(rates),
            "bare_rps": median(bare_rates),
            "ratio": median(ratios),
            "reps_ratio": ratios,
            "reps_rps": rates,
            "reps_bare_rps": bare_rates,
            "half_rate": half_rate,
            "half_p99_ms": median(half_p99),
            "half_p50_ms": median(half_p50),
            "bare_half_p99_ms": median(bare_p99),
            "reps_half_p99_ms": half_p99,
            "refused": dict(refused),
            "expected": endpoint.expected,
        }
        if refused:
            print(f"      answers that were not {endpoint.expected}: {dict(refused)}")
    worst_ratio = min(figures, key=lambda name: figures[name]["ratio"])
    worst_p99 = max(figures, key=lambda name: figures[name]["half_p99_ms"])
    notes = [
        f"Saturation: {THREADS} client threads back to back against the 2 sync workers; the "
        f"endpoints that consume their session (SafeCode, passcode) run through {batch} "
        "prepared journeys per repetition (or the window, whichever ends first), the others "
        f"for {window:g} s; the bare view for {window / 2:g} s with the same sessions.",
        "Half load: open loop at half the endpoint's own saturation rate of that repetition, "
        f"{batch // 2} requests for the consumed endpoints; p99 of so few is close to their "
        "maximum.",
        "Right codes and passcodes: what a person types; a right code is consumed, so each "
        "request has its own journey. A wrong code would cost a failure row and count toward "
        "the code's and the account's limits instead.",
    ]
    for name, figure in figures.items():
        if figure["refused"]:
            notes.append(f"{name}: answers other than {figure['expected']}: {figure['refused']}")
    print(
        f"worst     ratio {figures[worst_ratio]['ratio']:.2f} ({worst_ratio}); worst p99 at half "
        f"load {figures[worst_p99]['half_p99_ms']:.1f} ms ({worst_p99})"
    )
    return {
        "endpoints": figures,
        "worst_ratio": figures[worst_ratio]["ratio"],
        "worst_ratio_endpoint": worst_ratio,
        "worst_p99_ms": figures[worst_p99]["half_p99_ms"],
        "worst_p99_endpoint": worst_p99,
        "bare_rps": median([f["bare_rps"] for f in figures.values()]),
        "description": __doc__.split("\n\n", 1)[1].strip(),
        "notes": notes,
        "goal_ratio": GOAL_RATIO,
        "goal_p99_ms": GOAL_P99_MS,
    }


def _ms(samples: list[float], p: float) -> float:
    return percentile(samples, p) * 1000 if samples else float("nan")
