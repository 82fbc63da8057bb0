"""The words people read: one vocabulary, sentence-case buttons, titles that match headings,
a Help page that answers, Preferences that are not Home, and an address that is never empty."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from http import HTTPStatus
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import Address
from safecode.models import Channel
from tests.factories import UserFactory

TEMPLATES = Path(settings.BASE_DIR) / "templates"
ADDRESS = reverse("accounts:address")

# Words that keep their capital inside a sentence-case label.
PROPER_NOUNS = {"SafeCode", "SafeCodes", "HR", "HMS", "Harvard", "ID", "IT", "My", "Address"}


def page_templates() -> list[Path]:
    """Every template a person sees as a page or part of one (not email, not the admin)."""
    return sorted(
        path
        for path in TEMPLATES.rglob("*.html")
        if "admin" not in path.relative_to(TEMPLATES).parts
        and "email" not in path.relative_to(TEMPLATES).parts
        and path.name != "password_captcha_widget.html"
    )


def readable_text(source: str) -> str:
    """The words of a template as a reader meets them: no comments, tags, markup or
    attribute values (URL names such as ``accounts:login`` are not words on the page)."""
    text = re.sub(r"{% comment %}.*?{% endcomment %}", " ", source, flags=re.DOTALL)
    text = re.sub(r"{#.*?#}", " ", text, flags=re.DOTALL)
    text = re.sub(r"{%.*?%}|{{.*?}}", " ", text, flags=re.DOTALL)
    return re.sub(r"<[^>]*>", " ", text)


def button_labels(source: str) -> list[str]:
    """The labels of every button: <button>, links styled as buttons, and submit_label values."""
    source = re.sub(r"{% comment %}.*?{% endcomment %}", " ", source, flags=re.DOTALL)
    raw = re.findall(r"<button\b[^>]*>(.*?)</button>", source, flags=re.DOTALL)
    raw += re.findall(r'<a\b[^>]*class="button[^"]*"[^>]*>(.*?)</a>', source, flags=re.DOTALL)
    raw += re.findall(r'submit_label(?:\|default:|=)"([^"]+)"', source)
    labels = []
    for label in raw:
        label = re.sub(r'<span class="visually-hidden">.*?</span>', " ", label, flags=re.DOTALL)
        # Each branch of a {% if %} is a label of its own.
        for part in re.split(r"{%.*?%}", label):
            words = " ".join(re.sub(r"{{.*?}}|<[^>]*>", " ", part).split())
            if words:
                labels.append(words)
    return labels


def is_sentence_case(label: str) -> bool:
    words = re.findall(r"[A-Za-z][\w'-]*", label)
    return bool(words) and all(not word[0].isupper() or word in PROPER_NOUNS for word in words[1:])


class _Page(HTMLParser):
    """The <title>, the <h1> and the links of a rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.h1: list[str] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("title", "h1"):
            self._in = tag
            if tag == "h1":
                self.h1.append("")

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1[-1] += data


def parse(response) -> _Page:
    page = _Page()
    page.feed(response.content.decode())
    return page


def page_title(page: _Page) -> str:
    """The title without the portal's name after the bar."""
    return " ".join(page.title.split()).rsplit(" | ", 1)[0]


def h1_text(page: _Page) -> str:
    assert len(page.h1) == 1, page.h1
    return " ".join(page.h1[0].split())


# Vocabulary and buttons --------------------------------------------------------------------


@pytest.mark.parametrize("path", page_templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_page_says_log_in_log_out_or_an_before_harvard(path):
    source = path.read_text()
    words = readable_text(source)

    assert not re.search(r"\blog(?:ged|ging|s)?[ -]?(?:in|out|on)\b", words, re.IGNORECASE)
    assert not re.search(r"\ban\s+Harvard\b", words, re.IGNORECASE)
    assert not re.search(r"\ban\s+{{\s*institution\.name\b", source)


@pytest.mark.parametrize("path", page_templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_button_label_is_in_sentence_case(path):
    labels = button_labels(path.read_text())

    assert [label for label in labels if not is_sentence_case(label)] == []


def test_the_button_reader_finds_the_labels_it_checks():
    sample = (
        '<button type="submit" class="button">Send New Code</button>'
        '<a class="button button--primary" href="/">Sign in <span class="visually-hidden">'
        "Now</span></a>"
        '{% include "x.html" with submit_label="Unlock Account" %}'
    )

    labels = button_labels(sample)

    assert labels == ["Send New Code", "Sign in", "Unlock Account"]
    assert [is_sentence_case(label) for label in labels] == [False, True, False]


# Titles ------------------------------------------------------------------------------------


def test_every_page_template_titles_itself_with_its_heading():
    checked = 0
    for path in page_templates():
        source = path.read_text()
        title = re.search(r"{% block title %}(.*?){% endblock %}", source)
        headings = re.findall(r"<h1[^>]*>(.*?)</h1>", source, flags=re.DOTALL)
        if not title or len(headings) != 1 or "{% if" in title.group(1):
            continue
        assert " ".join(title.group(1).split()) == " ".join(headings[0].split()), path
        checked += 1
    assert checked > 30


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    ["home", "accounts:login", "accounts:register", "accounts:unlock", "accounts:help"],
)
def test_a_public_page_title_is_its_heading(client, name):
    page = parse(client.get(reverse(name)))

    assert page_title(page) == h1_text(page)


@pytest.mark.django_db
def test_a_page_with_form_errors_says_error_first_in_its_title(client):
    clean = parse(client.get(reverse("accounts:login")))
    failed = client.post(reverse("accounts:login"), {"username": "", "password": ""})
    page = parse(failed)

    assert page_title(clean) == "Sign in"
    assert page_title(page) == "Error: Sign in"
    assert h1_text(page) == "Sign in"


# Help --------------------------------------------------------------------------------------

FAQ = {
    "faq-safecode": "What is SafeCode?",
    "faq-texts": "My text messages do not arrive",
    "faq-phone": "I lost or replaced my phone",
    "faq-locked": "My account is locked",
    "faq-expired": "My password has expired",
    "faq-departmental": "What is a departmental account?",
}


def faq_answer(body: str, anchor: str) -> str:
    """The text of one answer: from its question to the next section."""
    start = body.index(f'id="{anchor}"')
    return body[start : body.index("</section>", start)]


@pytest.mark.django_db
def test_help_answers_the_six_questions_people_ask(client):
    response = client.get(reverse("accounts:help"))
    body = response.content.decode()
    page = parse(response)

    assert response.status_code == HTTPStatus.OK
    for anchor, question in FAQ.items():
        assert f'<h3 id="{anchor}">{question}</h3>' in body
        assert f'<a href="#{anchor}">{question}</a>' in body

    assert "single-use code" in faq_answer(body, "faq-safecode")
    texts = faq_answer(body, "faq-texts")
    assert "carrier" in texts and "short code" in texts and "email instead" in texts
    assert settings.SERVICE_DESK_PHONE in texts
    assert f'href="{reverse("safecode:manage")}"' in faq_answer(body, "faq-phone")
    locked = faq_answer(body, "faq-locked")
    assert "10 wrong passwords in a row lock an account" in locked
    assert f'href="{reverse("accounts:unlock")}"' in locked
    assert "Departmental accounts" in locked and "IT Service Desk" in locked
    expired = faq_answer(body, "faq-expired")
    assert "a new password every 365 days" in expired
    assert f'href="{reverse("accounts:password_forgot")}"' in expired
    assert "VPN clients" in expired
    assert "cannot be unlocked" in faq_answer(body, "faq-departmental")
    assert page.links


@pytest.mark.django_db
def test_every_link_on_help_leads_somewhere(client):
    page = parse(client.get(reverse("accounts:help")))

    for href in page.links:
        if href.startswith("#"):
            assert href[1:] in page.ids, href
        elif href.startswith("/"):
            status = client.get(href).status_code
            assert status in (HTTPStatus.OK, HTTPStatus.FOUND), href


@pytest.mark.django_db
def test_help_lists_the_harvard_id_offices_without_a_table(client):
    body = client.get(reverse("accounts:help")).content.decode()

    assert "<table" not in body
    for contact in settings.HARVARD_ID_CONTACTS:
        assert f"<h3>{contact['office']}</h3>" in body
        assert f'href="mailto:{contact["email"]}"' in body


# Preferences and Home ----------------------------------------------------------------------


@pytest.fixture
def signed_in(client):
    user = UserFactory()
    Channel.objects.create(
        user=user,
        kind=Channel.Kind.EMAIL,
        address="someone@example.org",
        status=Channel.Status.VERIFIED,
        verified_at=timezone.now(),
    )
    client.force_login(user)
    return user


@pytest.mark.django_db
def test_preferences_are_not_the_home_page(client, signed_in):
    home = parse(client.get(reverse("home")))
    preferences = client.get(reverse("accounts:preferences"))
    prefs = parse(preferences)
    body = preferences.content.decode()

    assert h1_text(home) == f"Hello, {signed_in.display_name}"
    assert h1_text(prefs) == "Preferences"
    assert page_title(prefs) == "Preferences"
    for heading in ("SafeCode contacts", "Password", "My Address"):
        assert f">{heading}</h2>" in body
    assert "<dt>Personal email</dt><dd>s***@example.org</dd>" in body
    assert f"<dt>Contact email</dt><dd>{signed_in.email}</dd>" in body
    assert f'href="{reverse("accounts:preferences")}"' in client.get("/").content.decode()


# The empty address -------------------------------------------------------------------------

EMPTY = {"street": "", "city": "", "state": "", "postal_code": "", "country": ""}


@pytest.mark.django_db
def test_an_empty_address_is_refused_and_nothing_is_saved(client, signed_in):
    response = client.post(ADDRESS + "home/", {**EMPTY}, follow=True)
    body = response.content.decode()

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Enter at least one line of the address. An empty address is not saved." in body
    assert "saved." not in body.replace("is not saved.", "")
    assert page_title(parse(response)) == "Error: My Address"
    assert not Address.objects.filter(user=signed_in).exists()


@pytest.mark.django_db
def test_emptying_a_saved_address_keeps_it_as_it_was(client, signed_in):
    Address.objects.create(user=signed_in, kind="mailing", street="1 Elm St", city="Boston")

    response = client.post(ADDRESS + "mailing/", {**EMPTY})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Address.objects.get(user=signed_in, kind="mailing").street == "1 Elm St"


@pytest.mark.django_db
def test_one_line_is_enough_to_save_an_address(client, signed_in):
    response = client.post(ADDRESS + "home/", {**EMPTY, "city": "Boston"}, follow=True)

    assert "Home address saved." in response.content.decode()
    assert Address.objects.get(user=signed_in, kind="home").city == "Boston"
