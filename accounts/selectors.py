"""Reads of the accounts app that are more than one line of ORM."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from django.db import connections, router
from django.db.models import F, Q, QuerySet

from accounts.models import Person, User
from accounts.normalize import digits, name_key, username_key

# What the whitepages may show of a person. Never the Harvard ID, date of birth, SSN or an
# address the person keeps; the queryset does not even load them.
WHITEPAGES_FIELDS = ("first_name", "last_name", "department", "office_phone", "email")
QUERY_MAX_LENGTH = 100
# "first last" is tried at each of the first few spaces ("mary ann smith" is Mary Ann Smith or
# Mary "Ann Smith"); names with more words than this still match on their first name.
_NAME_SPLITS = 4
_TOP = "\U0010ffff"  # the highest code point: every string starting with p is < p + _TOP
# Alphabetical by the normalised keys. NULLS FIRST changes nothing (the keys are never NULL) but
# keeps PostgreSQL from walking person_name_key in order and filtering row by row until it has a
# page: when the matches sit late in the alphabet or come from the first name or department,
# that plan reads most of the table (1.4 s for "Fis" among 100,000 people). Collecting the
# matches through the indexes and sorting them costs what the page's COUNT costs anyway.
_ORDER = (
    F("last_name_key").asc(nulls_first=True),
    F("first_name_key").asc(nulls_first=True),
    "pk",
)


def search_key(raw: str) -> str:
    """What a person typed, as compared with the directory's keys.

    Control, format, private-use and unassigned characters (NUL included) are dropped, then the
    text gets the same ``name_key`` as the stored names: no case, accents or extra spaces.
    """
    text = unicodedata.normalize("NFKC", (raw or "")[: QUERY_MAX_LENGTH * 4])
    text = "".join(c for c in text if c.isspace() or unicodedata.category(c)[0] != "C")
    return name_key(text)[:QUERY_MAX_LENGTH]


def people_search(*, query: str, department: str = "") -> QuerySet[Person]:
    """Active people whose name or department starts with ``query``, optionally only those
    whose department starts with ``department``, ordered by last then first name.

    ``query`` matches the start of the last name, the first name, "first last", "last, first"
    or the department. Nothing typed (or only characters that are dropped) finds nobody.
    """
    q = search_key(query)
    dept = search_key(department)
    if not q and not dept:
        return Person.objects.none()
    prefix = _prefix_lookup()
    people = Person.objects.filter(is_active=True)
    if q:
        people = people.filter(_name_or_department(q, prefix))
    if dept:
        people = people.filter(prefix("department_key", dept))
    return people.only(*WHITEPAGES_FIELDS).order_by(*_ORDER)


def _name_or_department(q: str, prefix) -> Q:
    match = prefix("last_name_key", q) | prefix("first_name_key", q) | prefix("department_key", q)
    spaces = [i for i, c in enumerate(q) if c == " "][:_NAME_SPLITS]
    for i in spaces:
        match |= Q(first_name_key=q[:i]) & prefix("last_name_key", q[i + 1 :])
    last, comma, first = q.partition(",")
    last, first = last.strip(), first.strip()
    if comma and last:
        match |= Q(last_name_key=last) & (prefix("first_name_key", first) if first else Q())
    return match


def _range_prefix(field: str, value: str) -> Q:
    return Q(**{f"{field}__gte": value, f"{field}__lt": value + _TOP})


def _like_prefix(field: str, value: str) -> Q:
    return Q(**{f"{field}__startswith": value})


def _prefix_lookup():
    """How to say "starts with" so that the database can use an index on the key column.

    A btree index under code-point ordering (SQLite's BINARY, PostgreSQL's C and C.UTF-8)
    answers the range ``key >= p AND key < p || U+10FFFF``, which is then exactly "starts
    with p". PostgreSQL does not use that btree for ``LIKE 'p%'`` unless the collation is C.
    Under a linguistic collation (en_US.UTF-8, the default of the postgres Docker image) the
    range is wrong, so LIKE is used; an index with ``varchar_pattern_ops`` makes it fast.
    """
    alias = router.db_for_read(Person)
    conn = connections[alias]
    if conn.vendor == "sqlite":
        return _range_prefix
    if conn.vendor == "postgresql" and _orders_by_code_point(alias, conn.settings_dict["NAME"]):
        return _range_prefix
    return _like_prefix


@lru_cache(maxsize=8)
def _orders_by_code_point(alias: str, name: str) -> bool:
    """Whether the database's default collation compares strings code point by code point.

    Asked of the database itself rather than read from its locale name, so ICU and libc
    locales, and whatever a future PostgreSQL calls them, are judged by what they do.
    """
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT %s < %s AND %s < %s AND %s < %s AND %s > %s",
            ["B", "a", "a-c", "ab", "z", "\u00e9", "ab" + _TOP, "abzz"],
        )
        (answer,) = cursor.fetchone()
    return bool(answer)


def find_user_by_login(login: str) -> User | None:
    """The account named by a username or an 8-digit Harvard ID, or None."""
    huid = digits(login or "")
    accounts = User.objects.select_related("person")
    if len(huid) == 8:
        return accounts.filter(person__huid=huid).first()
    key = username_key(login or "")
    if not key:
        return None
    return accounts.filter(username=key).first()
