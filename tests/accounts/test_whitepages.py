"""Whitepages: the signed-in directory search at /whitepages/."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.selectors import people_search
from safecode.models import Channel
from tests.factories import PersonFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("accounts:whitepages")


@pytest.fixture
def signed_in(client):
    """A signed-in person with a verified SafeCode channel, so no prompt stands in the way."""
    user = UserFactory(
        person__first_name="Viewer",
        person__last_name="Person",
        person__department="Information Technology",
    )
    Channel.objects.create(
        user=user,
        kind=Channel.Kind.EMAIL,
        address="viewer@example.org",
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    client.force_login(user)
    return client


@pytest.fixture
def jose():
    return PersonFactory(
        huid="87654321",
        first_name="José",
        last_name="Núñez-García",
        department="Neurobiology",
        office_phone="617-432-1000",
        email="jose.nunez@hms.harvard.edu",
        date_of_birth="1980-02-29",
        ssn="123-45-6789",
        office_address="Armenise 401",
    )


def names(response) -> list[str]:
    """The names in the results table, as a sighted reader sees them."""
    return re.findall(r'<th scope="row">([^<]*)</th>', response.content.decode())


def search(client, **params):
    response = client.get(URL, params)
    assert response.status_code == HTTPStatus.OK
    return response


def test_signed_out_visitors_are_sent_to_sign_in(client, jose):
    response = client.get(URL, {"q": "nunez"})

    assert response.status_code == HTTPStatus.FOUND
    assert response.url.startswith(reverse("accounts:login") + "?next=/whitepages/")


def test_the_empty_page_shows_a_labelled_search_form_and_no_results(signed_in, jose):
    response = search(signed_in)

    html = response.content.decode()
    assert '<label for="id_q">Name or department (optional)</label>' in html
    assert '<form method="get" action="/whitepages/" role="search"' in html
    assert names(response) == []
    assert "<table" not in html


@pytest.mark.parametrize(
    "typed",
    [
        "nunez",  # last name, without accents
        "NÚÑ",  # any case, with accents
        "  núñez-garc ",
        "jose",  # first name
        "Jose Nu",  # "first last"
        "núñez-garcía, jo",  # "last, first"
        "Nunez-Garcia,",
        "neuro",  # department
    ],
)
def test_finds_people_by_name_or_department_ignoring_case_and_accents(signed_in, jose, typed):
    PersonFactory(first_name="Ana", last_name="Smith", department="Cell Biology")

    response = search(signed_in, q=typed)

    assert names(response) == ["Núñez-García, José"]
    assert "1 person found" in response.content.decode()


def test_names_match_at_the_start_only(signed_in, jose):
    assert names(search(signed_in, q="garcia")) == []
    assert names(search(signed_in, q="biology")) == []
    assert names(search(signed_in, q="jose garcia")) == []


def test_multi_word_first_names_match_first_last(signed_in):
    PersonFactory(first_name="Mary Ann", last_name="Smith")
    PersonFactory(first_name="Mary", last_name="Ann-Jones")

    assert names(search(signed_in, q="mary ann sm")) == ["Smith, Mary Ann"]
    assert names(search(signed_in, q="mary ann")) == ["Ann-Jones, Mary", "Smith, Mary Ann"]


def test_the_department_filter_narrows_the_results(signed_in):
    PersonFactory(first_name="Ana", last_name="Smith", department="Cell Biology")
    PersonFactory(first_name="Ben", last_name="Smith", department="Genetics")

    assert names(search(signed_in, q="smith", department="gen")) == ["Smith, Ben"]
    assert names(search(signed_in, department="cell")) == ["Smith, Ana"]


def test_shows_department_phone_and_email_but_never_harvard_id_birth_date_or_ssn(signed_in, jose):
    html = search(signed_in, q="nunez").content.decode()

    assert "Neurobiology" in html
    assert "617-432-1000" in html
    assert '<a href="mailto:jose.nunez@hms.harvard.edu">' in html
    for secret in ("87654321", "1980", "Feb. 29", "02/29", "6789", jose.ssn_hash, "Armenise"):
        assert secret not in html


def test_inactive_people_are_not_listed(signed_in, jose):
    PersonFactory(first_name="Gone", last_name="Nunez", is_active=False)

    assert names(search(signed_in, q="nunez")) == ["Núñez-García, José"]


def test_results_are_paginated_25_a_page_with_accessible_links(signed_in):
    for i in range(30):
        PersonFactory(first_name=f"Person{i:02d}", last_name="Okafor", department="Genetics")

    first = search(signed_in, q="okafor")
    second = search(signed_in, q="okafor", page="2")

    html = first.content.decode()
    assert len(names(first)) == 25
    assert names(first)[0] == "Okafor, Person00"
    assert '<div role="status"' in html
    assert "30 people found, showing 1 to 25." in html
    assert '<nav class="pagination" aria-label="Result pages">' in html
    assert '<a href="?q=okafor&amp;page=2"><span class="visually-hidden">Page </span>2</a>' in html
    assert '<a href="?q=okafor&amp;page=1" aria-current="page">' in html
    assert names(second) == [f"Okafor, Person{i}" for i in range(25, 30)]
    assert "page 2 of 2" in second.content.decode()
    assert names(search(signed_in, q="okafor", page="99")) == names(second)
    assert names(search(signed_in, q="okafor", page="x")) == names(first)


def test_the_results_table_is_captioned_with_column_headers(signed_in, jose):
    html = search(signed_in, q="nunez").content.decode()

    assert '<caption id="whitepages-caption">People found</caption>' in html
    assert html.count('<th scope="col">') == 4


def test_no_match_is_announced(signed_in, jose):
    html = search(signed_in, q="zzz").content.decode()

    assert "No one found." in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "x" * 10_000}, "Enter at most 100 characters."),
        ({"department": "é" * 101}, "Enter at most 100 characters."),
        ({"q": "nu\x00nez"}, "Null characters are not allowed."),
    ],
)
def test_unusable_input_gets_a_message(signed_in, jose, params, message):
    html = search(signed_in, **params).content.decode()

    assert message in html
    assert names(search(signed_in, **params)) == []


def test_control_and_invisible_characters_are_ignored(signed_in, jose):
    assert names(search(signed_in, q="nu\u200bnez\x07")) == ["Núñez-García, José"]
    assert names(search(signed_in, q="\x01\x02\u202e")) == []


def test_only_get_is_allowed(signed_in):
    assert signed_in.post(URL, {"q": "a"}).status_code == HTTPStatus.METHOD_NOT_ALLOWED


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    q=st.text(max_size=300),
    department=st.text(max_size=120),
    page=st.text(max_size=12) | st.integers().map(str),
)
def test_hostile_input_never_breaks_the_page(signed_in, q, department, page):
    response = signed_in.get(URL, {"q": q, "department": department, "page": page})

    assert response.status_code == HTTPStatus.OK


@settings(max_examples=200, deadline=None)
@given(query=st.text(max_size=500), department=st.text(max_size=500))
def test_the_search_accepts_any_text(query, department):
    assert len(list(people_search(query=query, department=department)[:25])) <= 25


def test_nothing_typed_finds_nobody(jose):
    assert not people_search(query="").exists()
    assert not people_search(query="   ", department="\x00").exists()


@pytest.mark.parametrize("strategy", ["_range_prefix", "_like_prefix"])
def test_range_and_like_prefix_matches_find_the_same_people(monkeypatch, jose, strategy):
    """The selector says "starts with" as a range or as LIKE, depending on the collation."""
    from accounts import selectors

    PersonFactory(first_name="Ana", last_name="Núñez", department="Cell_Biology 100%")
    PersonFactory(first_name="Zoë", last_name="Nunes", department="Genetics")
    monkeypatch.setattr(selectors, "_prefix_lookup", lambda: getattr(selectors, strategy))

    def found(**kwargs):
        return sorted(p.first_name for p in people_search(**kwargs))

    assert found(query="nun") == ["Ana", "José", "Zoë"]
    assert found(query="nunes") == ["Zoë"]
    assert found(query="nunez") == ["Ana", "José"]
    assert found(query="nunez-") == ["José"]
    assert found(query="zoe nu") == ["Zoë"]
    assert found(query="nunez, a") == ["Ana"]
    assert found(query="cell_") == ["Ana"]
    assert found(query="cell%") == []
    assert found(query="cell_biology 100%") == ["Ana"]
    assert found(query="n", department="gen") == ["Zoë"]
