"""Hostile input, posted to every route that takes a POST: never a 500 nor an exception, always
an answer a person can read, and nothing stored from what was refused.

The routes come from the URL resolver (``tests.security.routes``); a route that takes a POST
and is missing from the catalogue fails ``test_every_post_route_is_catalogued``. Each route is
reached as a person reaches it (signed out, signed in, or part-way through a journey) once per
test; every example then posts from a copy of that browser inside a savepoint that is rolled
back, so each example starts from the same state.

The phone app's JSON API gets hostile JSON (and bytes that are not JSON); the admin gets hostile
bodies on every route, from outside staff and from an identity administrator, and each
service-desk action's form gets hostile values.

What a refused post may leave behind: audit events, counted failures (sign-in failures, wrong
codes, failed attempts on a code, key or account) and the session with its CAPTCHA pictures.
A post the page accepted may change only the models its catalogue entry names, and the text it
stored holds no control character.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import unicodedata
from http import HTTPStatus
from urllib.parse import quote, urlencode

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.http import QueryDict
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.factories import UserFactory
from tests.security import routes

pytestmark = pytest.mark.django_db

# Values ------------------------------------------------------------------------------------------

HUGE = "A" * 100_001
HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x00" * 64,
    "\x01\x02\x07\x08\x1b[31m\x7f",
    "line\r\nSet-Cookie: x=1",
    "\u202egnp.exe",
    "\u200b\u200d\ufeff",
    "раураl",  # Cyrillic look-alikes of "paypal"
    "Ｊｏｈｎ",
    "𝟙𝟚𝟛𝟜𝟝𝟞",
    "١٢٣٤٥٦",
    "Zoë Ωmega 王 محمد",
    "' OR '1'='1' --",
    "1; DROP TABLE accounts_user; --",
    "%' UNION SELECT password FROM accounts_user --",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "{{ 7*7 }}{% debug %}",
    "${jndi:ldap://x/a}",
    "../../../../etc/passwd",
    "//evil.example/",
    "/\\evil.example",
    "%00",
    "%ff%fe",
    "+1 (617) 555-01234567890",
    "+999 123",
    "617-555-0123 ext. 42",
    "+1 900 555 0123",
    "++16175550123",
    "0" * 40,
    "a@[127.0.0.1]",
    "root@localhost",
    '"quoted local"@example.org',
    "a@b@example.org",
    "user@" + "b" * 300 + ".org",
    "user@xn--.org",
    "me@example.org\r\nBcc: x@example.org",
    "9999-99-99",
    "0000-00-00",
    "1900-02-29",
    "-1",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "true",
    "[]",
    "{}",
    HUGE,
    "é" * 60_000,
]

hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs"]), max_size=40),
    st.from_regex(r"[0-9 \-+()]{0,24}", fullmatch=True),
)

# What a field posts: a value it takes, a hostile one, nothing, several, or a file.
SHAPES = ["valid", "hostile", "hostile", "hostile", "missing", "several", "file"]
EXTRA_NAMES = ["next", "is_staff", "user_id", "id", "__proto__", "é\u202e"]


@st.composite
def submissions(draw, names: list[str], valid: dict[str, list[str]]):
    """A list of (name, value) pairs and files a hostile browser posts for ``names``."""
    pairs: list[tuple[str, str]] = []
    files: dict[str, SimpleUploadedFile] = {}
    for name in names:
        shape = draw(st.sampled_from(SHAPES), label=f"{name} shape")
        if shape == "valid" and valid.get(name):
            pairs.append((name, draw(st.sampled_from(valid[name]))))
        elif shape in ("hostile", "valid"):
            pairs.append((name, draw(hostile_text, label=name)))
        elif shape == "several":
            values = draw(st.lists(hostile_text, min_size=2, max_size=3), label=name)
            pairs.extend((name, value) for value in values)
        elif shape == "file":
            content = draw(st.binary(max_size=200), label=f"{name} file")
            files[name] = SimpleUploadedFile("x.txt", content, content_type="text/plain")
    extras = draw(st.lists(st.sampled_from(EXTRA_NAMES), max_size=2, unique=True))
    pairs.extend((name, draw(hostile_text, label=name)) for name in extras)
    # A browser always sends the form's CSRF token (the test client does not check it).
    pairs.insert(0, ("csrfmiddlewaretoken", "t" * 64))
    encoding = draw(st.sampled_from(["multipart", "urlencoded", "urlencoded", "raw"]))
    raw = b""
    if encoding == "raw":
        raw = draw(
            st.one_of(
                st.binary(max_size=400),
                st.just(b"\xff\xfe\xfd=\xc3\x28&code=\xed\xa0\x80&" + b"\x80" * 10),
                st.just("&".join(f"{n}=%ff%c3%28%ed%a0%80" for n in names).encode()),
            )
        )
    return pairs, files, encoding, raw


def post(client: Client, path: str, submission):
    pairs, files, encoding, raw = submission
    if encoding == "raw":
        content_type = "application/x-www-form-urlencoded"
        return client.post(path, data=raw, content_type=content_type)
    if encoding == "urlencoded" or not (files or pairs):
        body = urlencode(pairs)
        return client.post(path, data=body, content_type="application/x-www-form-urlencoded")
    data: dict[str, list] = {}
    for name, value in pairs:
        data.setdefault(name, []).append(value)
    for name, upload in files.items():
        data.setdefault(name, []).append(upload)
    return client.post(path, data=data)


json_scalars = st.one_of(
    hostile_text,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def json_bodies(draw, names: list[str]) -> bytes:
    """A body for the phone app's API: an object with the API's keys and hostile values, some
    other JSON, deep nesting, invalid UTF-8, or too much."""
    kind = draw(st.sampled_from(["object", "object", "object", "other", "deep", "bytes", "big"]))
    if kind == "object":
        body = {name: draw(json_values, label=name) for name in names if draw(st.booleans())}
        return json.dumps(body).encode()
    if kind == "other":
        return json.dumps(draw(json_values)).encode()
    if kind == "deep":
        depth = draw(st.integers(min_value=500, max_value=4000))
        return b"[" * depth + b"]" * depth
    if kind == "big":
        return json.dumps({names[0]: HUGE}).encode()
    return draw(st.binary(max_size=300)) + b'{"\xff": "\xed\xa0\x80"}'


# What a post may leave behind --------------------------------------------------------------------

# Rows that record an attempt rather than anything typed: they are written for refused posts too.
RECORDS = {
    "audit.AuditEvent",
    "accounts.SignInFailure",
    "accounts.SecurityAlert",
    "accounts.RegistrationAttempt",
    "safecode.WrongEntry",
    "captcha.CaptchaStore",
    "sessions.Session",
    "admin.LogEntry",
}
# Counters of failed attempts (and what a limit of them sets) on rows that are otherwise kept.
COUNTERS = {
    "failed_attempts",
    "failed_login_count",
    "locked_at",
    "failed_count",
    "throttling_failure_count",
    "throttling_failure_timestamp",
    "invalidated_at",
    "push_muted_until",
    "session_generation",
}
NOT_WATCHED = {"contenttypes.ContentType", "auth.Permission"}
# Rows of what the portal writes itself, not what was typed: messages carry the portal's words
# and secrets; the text check below reads only the rows of typed text.
OPAQUE = {"delivery.Message", "sessions.Session"}
# The one-time token of a form that issues a guest key: an opaque key against a double post,
# kept as the browser sent it and never shown.
TOKENS = frozenset({"submission"})


def watched_models():
    return [
        model
        for model in apps.get_models()
        if model._meta.label not in RECORDS | NOT_WATCHED and not model._meta.proxy
    ]


def rows(labels, *, skip=frozenset()) -> dict[str, list[tuple]]:
    """The rows of the models named ``labels``, without the failure counters (nor the fields
    named in ``skip``)."""
    state = {}
    for label in labels:
        model = apps.get_model(label)
        names = [f.attname for f in model._meta.concrete_fields if f.name not in COUNTERS | skip]
        found = model.objects.order_by("pk").values_list(*names)
        state[label] = [tuple(map(_hashable, row)) for row in found]
    return state


def _hashable(value):
    return (
        json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict | list) else value
    )


@functools.cache
def _digest_query() -> str:
    quote = connection.ops.quote_name
    parts = []
    for model in watched_models():
        columns = ", ".join(
            quote(f.column) for f in model._meta.concrete_fields if f.name not in COUNTERS
        )
        order = quote(model._meta.pk.column)
        table = quote(model._meta.db_table)
        # Names from the models' own metadata, quoted: nothing typed reaches this query.
        parts.append(
            f"SELECT '{model._meta.label}', (SELECT md5(coalesce(string_agg("  # noqa: S608
            f"row({columns})::text, ',' ORDER BY {order}), '')) FROM {table})"
        )
    return " UNION ALL ".join(parts)


def snapshot() -> dict:
    """A digest of every row of every watched model, without the failure counters: one query
    on PostgreSQL, the rows themselves elsewhere."""
    if connection.vendor != "postgresql":
        return rows(model._meta.label for model in watched_models())
    with connection.cursor() as cursor:
        cursor.execute(_digest_query())
        return dict(cursor.fetchall())


def changed(before: dict, after: dict) -> set[str]:
    return {label for label in before if before[label] != after[label]}


def control_characters(before: dict, after: dict) -> list[str]:
    """Text in new or changed rows with a control character other than a tab or a line
    break."""
    found = []
    for label in after:
        for row in set(after[label]) - set(before[label]):
            for value in row:
                if isinstance(value, str) and any(
                    unicodedata.category(c) == "Cc" and c not in "\t\r\n" for c in value
                ):
                    found.append(f"{label}: {value[:80]!r}")
    return found


# What the answer must be -------------------------------------------------------------------------

ERROR_MARKS = re.compile(
    rb'role="alert"|aria-invalid="true"|class="error-summary"|class="errornote"'
)
WORDS = re.compile(r"[A-Za-z]{2,}(?:\W+[A-Za-z]{2,}){3,}")


def visible_text(content: bytes) -> str:
    text = re.sub(rb"<(script|style)[^>]*>.*?</\1>", b" ", content, flags=re.S)
    return re.sub(rb"<[^>]+>", b" ", text).decode(errors="replace")


def refused(response) -> bool:
    if response.status_code >= HTTPStatus.BAD_REQUEST:
        return True
    return response.status_code == HTTPStatus.OK and bool(ERROR_MARKS.search(response.content))


def assert_clear_answer(response, name: str = "") -> None:
    status = response.status_code
    assert status < HTTPStatus.INTERNAL_SERVER_ERROR, status
    if name in routes.RESOURCES:
        return
    if 300 <= status < 400:
        assert response.get("Location"), "a redirect without a Location"
        return
    content_type = response.get("Content-Type", "")
    if content_type.startswith("application/json"):
        data = json.loads(response.content)
        if status >= HTTPStatus.BAD_REQUEST:
            assert isinstance(data.get("error"), str) and WORDS.search(data["error"]), data
        return
    if status == HTTPStatus.NO_CONTENT or content_type.startswith(("image/", "audio/")):
        return
    assert WORDS.search(visible_text(response.content)), (status, response.content[:300])


def assert_not_reflected(response, submission) -> None:
    """What was typed comes back escaped: no posted markup is in the page as markup."""
    if not response.get("Content-Type", "").startswith("text/html"):
        return
    for _name, value in submission[0]:
        if "<script" in value or "<img" in value:
            assert value.encode() not in response.content, value


# Running one route -------------------------------------------------------------------------------

EXAMPLES = {"form": 15, "json": 20, "nothing": 5}


def _settings(body: str):
    return settings(
        max_examples=EXAMPLES[body],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def copy_of(client: Client) -> Client:
    other = Client(**client.defaults)
    other.cookies = copy.deepcopy(client.cookies)
    return other


def user_fields(user) -> dict | None:
    if user is None:
        return None
    from accounts.models import User

    return User.objects.filter(pk=user.pk).values().first()


def posted_action(submission) -> str | None:
    pairs, _files, encoding, raw = submission
    if encoding == "raw":
        return QueryDict(raw).get("action")
    actions = [value for name, value in pairs if name == "action"]
    return actions[-1] if actions else None


def assert_not_silent(response, reached: routes.Reached, submission) -> None:
    """A post that changed nothing and came back as a page says why: an error, or a status
    message. The one exception is a button the page does not have (an ``action`` it does not
    offer), for which the page is shown again as it was."""
    if response.status_code != HTTPStatus.OK:
        return
    if not response.get("Content-Type", "").startswith("text/html"):
        return
    if ERROR_MARKS.search(response.content) or b'role="status"' in response.content:
        return
    offered = reached.valid.get("action")
    if offered and submission is not None and posted_action(submission) not in offered:
        return
    raise AssertionError(f"{reached.path} answered 200 with no message: {submission!r:.300}")


def check_one(entry: routes.PostRoute, reached: routes.Reached, send, submission=None):
    """Post once from a copy of the reached browser, inside a savepoint rolled back after."""
    with transaction.atomic():
        before = snapshot()
        before_rows = rows(entry.changes - OPAQUE, skip=TOKENS)
        account = user_fields(reached.user)
        response = send(copy_of(reached.client))
        assert_clear_answer(response, entry.name)
        after = snapshot()
        differences = changed(before, after)
        if entry.body != "nothing" and not differences:
            assert_not_silent(response, reached, submission)
        if refused(response):
            assert not differences, (
                f"{entry.name} refused the post ({response.status_code}) but changed "
                f"{sorted(differences)}"
            )
            if "accounts.User" in before:
                now = user_fields(reached.user)
                assert {k: v for k, v in (now or {}).items() if k not in COUNTERS} == {
                    k: v for k, v in (account or {}).items() if k not in COUNTERS
                }
        else:
            assert differences <= entry.changes, (
                f"{entry.name} answered {response.status_code} and changed "
                f"{sorted(differences - entry.changes)}, which it has no business changing"
            )
            stored = control_characters(before_rows, rows(entry.changes - OPAQUE, skip=TOKENS))
            assert not stored, f"{entry.name} stored {stored}"
        transaction.set_rollback(True)
    return response


FORM_ROUTES = sorted(name for name, entry in routes.CATALOGUE.items() if entry.body != "json")
JSON_ROUTES = sorted(name for name, entry in routes.CATALOGUE.items() if entry.body == "json")


@pytest.mark.parametrize("name", FORM_ROUTES)
def test_hostile_posts_get_a_clear_answer_and_store_nothing(name):
    entry = routes.CATALOGUE[name]
    reached = entry.reach()
    names = entry.fields()

    @_settings(entry.body)
    @given(submission=submissions(names, reached.valid))
    def run(submission):
        response = check_one(
            entry, reached, lambda client: post(client, reached.path, submission), submission
        )
        assert_not_reflected(response, submission)

    run()


@pytest.mark.parametrize("name", JSON_ROUTES)
def test_hostile_json_gets_a_clear_answer_and_stores_nothing(name):
    entry = routes.CATALOGUE[name]
    reached = entry.reach()

    @_settings("json")
    @given(
        body=json_bodies(entry.fields()),
        content_type=st.sampled_from(
            ["application/json", "text/plain", "application/x-www-form-urlencoded"]
        ),
    )
    def run(body, content_type):
        check_one(
            entry,
            reached,
            lambda client: client.post(reached.path, data=body, content_type=content_type),
        )

    run()


WITH_ARGUMENTS = [
    r
    for r in routes.post_routes()
    if r.name in routes.CATALOGUE and ("<" in r.route or "(?P" in r.route)
]


@pytest.mark.parametrize("route", WITH_ARGUMENTS, ids=lambda r: r.name)
@settings(max_examples=6, deadline=None, derandomize=True, database=None)
@given(token=hostile_text)
def test_hostile_url_arguments_get_a_clear_answer(route, token):
    """The same route with a hostile value in place of each of its URL arguments."""
    entry = routes.CATALOGUE[route.name]
    client = Client(REMOTE_ADDR="10.20.0.8", raise_request_exception=True)
    segment = quote(token[:300], safe="") or "x"
    path = "/" + re.sub(r"<[^>]+>|\(\?P<[a-z_]+>[^)]*\)", segment, route.route)
    path = path.replace("^", "").replace("$", "")
    with transaction.atomic():
        before = snapshot()
        response = client.post(path, {"x": token})
        assert_clear_answer(response, route.name)
        assert changed(before, snapshot()) <= entry.changes
        transaction.set_rollback(True)


# The admin ---------------------------------------------------------------------------------------

ADMIN_ROUTES = [r for r in routes.post_routes() if routes.is_admin(r.name)]


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=lambda r: r.name)
@settings(max_examples=2, deadline=None, derandomize=True, database=None)
@given(submission=submissions(["username", "password", "action", "_selected_action", "post"], {}))
def test_the_admin_takes_no_hostile_post_from_outside_staff(route, submission):
    """Signed out, or signed in without staff rights: a hostile post to any admin page is
    turned away with a redirect or a refusal, and changes nothing."""
    path = routes.admin_url(route)
    with transaction.atomic():
        person = UserFactory()
        for client in (Client(REMOTE_ADDR="10.20.0.5"), routes.signed_in(person)):
            before = snapshot()
            response = post(client, path, submission)
            assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR
            assert response.status_code in (302, 400, 403, 404, 405), response.status_code
            assert not changed(before, snapshot())
        transaction.set_rollback(True)


ADMIN_FIELDS = ["action", "_selected_action", "post", "reason", "q", "username", "password1"]


def _admin_model(route: routes.Route):
    """The model an admin route is for, from its name (``admin:<app>_<model>_<view>``)."""
    name = route.name.removeprefix(routes.ADMIN_NAMESPACE)
    for model in apps.get_models():
        if name.startswith(f"{model._meta.app_label}_{model._meta.model_name}_"):
            return model
    return None


def staff_path(route: routes.Route, account, action: str = "") -> str:
    """An admin route's path with real arguments: ``account`` for the console's pages and
    the account models, the first row of the route's model elsewhere."""
    model = _admin_model(route)
    first = model.objects.order_by("pk").first() if model is not None else None
    object_id = str(first.pk if first is not None else account.pk)
    if model is not None and model._meta.label in ("accounts.User", "servicedesk.DeskAccount"):
        object_id = str(account.pk)
    if model is not None and model._meta.label == "accounts.Person":
        object_id = str(account.person_id)
    path = "/" + route.route.replace("^", "").replace("$", "")
    path = re.sub(r"\(\?P<app_label>[^)]*\)", "accounts", path)
    path = re.sub(r"\(\?P<url>[^)]*\)", "no/such/page/", path)
    path = path.replace("<path:content_type_id>", str(_user_content_type()))
    path = path.replace("<slug:name>", action or "x")
    path = re.sub(r"<int:(pk|id)>|<id>", str(account.pk), path)
    return re.sub(r"<path:object_id>", object_id, path)


def _user_content_type() -> int:
    from django.contrib.contenttypes.models import ContentType

    from accounts.models import User

    return ContentType.objects.get_for_model(User).pk


def _staff_setup():
    """An identity administrator (a superuser) and a directory person with a SafeCode phone, a
    device and a guest, so that the admin's pages have rows to show."""
    from accounts.models import User

    agent = routes.member()
    User.objects.filter(pk=agent.pk).update(is_staff=True, is_superuser=True)
    agent.refresh_from_db()
    account = routes.member()
    routes.device_of(account, number="+16175550142")
    routes._guest(agent)
    return agent, account


def _desk_actions():
    from servicedesk.actions import REGISTRY

    return sorted(REGISTRY)


def _desk_action_fields(name: str) -> list[str]:
    from servicedesk.actions import REGISTRY
    from servicedesk.admin import ActionForm

    return routes.form_fields(REGISTRY[name].form or ActionForm, prefix=name)


STAFF_POSTS = [r for r in ADMIN_ROUTES if r.name != "admin:servicedesk_act"]
STAFF_FIELDS = ADMIN_FIELDS
STAFF_SETTINGS = settings(
    max_examples=3, deadline=None, derandomize=True, database=None, phases=list(Phase)[:4]
)


@pytest.mark.parametrize("route", STAFF_POSTS, ids=lambda r: r.name)
def test_the_admin_answers_hostile_staff_posts_without_an_error(route):
    """Staff may change things in the admin, but a hostile body is never a 500."""
    agent, account = _staff_setup()
    client = routes.signed_in(agent)
    path = staff_path(route, account)

    @STAFF_SETTINGS
    @given(submission=submissions(STAFF_FIELDS, {"action": ["delete_selected"]}))
    def run(submission):
        with transaction.atomic():
            response = post(copy_of(client), path, submission)
            assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, response.status_code
            transaction.set_rollback(True)

    run()


@pytest.mark.parametrize("name", _desk_actions())
def test_the_console_actions_answer_hostile_posts_without_an_error(name):
    """Each service-desk action's form, filled with hostile values: a message, never a 500."""
    route = next(r for r in ADMIN_ROUTES if r.name == "admin:servicedesk_act")
    agent, account = _staff_setup()
    client = routes.signed_in(agent)
    path = staff_path(route, account, name)

    @STAFF_SETTINGS
    @given(submission=submissions(_desk_action_fields(name), {}))
    def run(submission):
        with transaction.atomic():
            response = post(copy_of(client), path, submission)
            assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR, response.status_code
            transaction.set_rollback(True)

    run()


# The catalogue is complete -----------------------------------------------------------------------


def test_every_post_route_is_catalogued():
    missing = [r.name for r in routes.post_routes() if not routes.catalogued(r)]
    assert missing == []


def test_the_catalogue_names_only_routes_that_take_a_post():
    taking_post = {r.name for r in routes.post_routes()}
    assert set(routes.CATALOGUE) - taking_post == set()


def test_the_catalogue_reads_fields_from_the_forms():
    """The field lists come from the form classes: the sign-in form's are there."""
    assert {"username", "password", "captcha_0", "captcha_1"} <= set(
        routes.CATALOGUE["accounts:login"].fields()
    )
    assert {"bypass-code", "device", "method", "code", "credential"} <= set(
        routes.CATALOGUE["twofactor:verify"].fields()
    )


# Findings ----------------------------------------------------------------------------------------


def _typed_text_posts():
    """A post to each form that stores free text a person typed, with control characters in
    it: (route, how to reach it, the data, the model it would be stored in)."""
    from django.utils import timezone

    today = timezone.localdate()
    return {
        "accounts:address_edit": (
            {"street": "1 Main Street\x1b[2J", "postal_code": "02115\x08"},
            "accounts.Address",
        ),
        "accounts:directory_change": (
            {"field": "department", "value": "Neurobiology\x1b[2J\x07"},
            "accounts.DirectoryChangeRequest",
        ),
        "guests:request": (
            {
                "first_name": "Ada\x1b[2J",
                "last_name": "Lovelace",
                "email": "ada@partner.example",
                "organisation": "Partner Lab\x07",
                "purpose": "Shared data.\x08",
                "start_date": today.isoformat(),
                "end_date": today.isoformat(),
                "attest": "on",
                "submission": "one-time-token",
            },
            "guests.Sponsorship",
        ),
    }


@pytest.mark.parametrize(
    "name", ["accounts:address_edit", "accounts:directory_change", "guests:request"]
)
def test_typed_text_with_control_characters_is_refused(name):
    data, label = _typed_text_posts()[name]
    reached = routes.CATALOGUE[name].reach()
    model = apps.get_model(label)
    rows_before = model.objects.count()

    response = reached.client.post(reached.path, data)

    assert model.objects.count() == rows_before, f"{name} stored {data}"
    assert refused(response)


@pytest.mark.parametrize("submission", ["", "x" * 65])
def test_a_refused_new_key_request_says_why(submission):
    from django.urls import reverse

    from guests.models import GuestKey

    sponsor = routes.member()
    issued = routes._guest(sponsor)
    client = routes.signed_in(sponsor)
    keys = GuestKey.objects.count()

    response = client.post(
        reverse("guests:new_key", args=[issued.sponsorship.pk]), {"submission": submission}
    )

    assert GuestKey.objects.count() == keys
    assert ERROR_MARKS.search(response.content) or b'role="status"' in response.content


def _staff_browser() -> Client:
    agent, _account = _staff_setup()
    client = Client(raise_request_exception=False)
    client.force_login(agent)
    return client


@pytest.mark.parametrize("path", ["/admin/auth/group/", "/admin/accounts/user/"])
def test_an_admin_action_with_a_malformed_selection_is_refused(path):
    response = _staff_browser().post(
        path, {"action": "delete_selected", "_selected_action": ["1", "x"]}
    )

    assert response.status_code < HTTPStatus.INTERNAL_SERVER_ERROR


@pytest.mark.parametrize("view", ["config", "qrcode"])
def test_the_totp_device_pages_answer_404_for_an_unknown_device(view):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = _staff_browser()
    unknown = (TOTPDevice.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000

    response = client.get(f"/admin/otp_totp/totpdevice/{unknown}/{view}/")

    assert response.status_code == HTTPStatus.NOT_FOUND
