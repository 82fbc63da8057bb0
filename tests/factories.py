"""factory_boy factories shared by the whole suite.

Everything is deterministic (no Faker): a failing test shows the same names on every run.
``PersonFactory`` cycles through 25 first names and 29 last names, so the first 725 people
have distinct names and therefore distinct institutional addresses.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import lru_cache

import factory
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from factory.django import DjangoModelFactory

from accounts.models import Affiliation, Person, School, User, ssn_digest, ssn_last4_digest
from accounts.normalize import name_key
from safecode.models import Channel

# The password every UserFactory account has, unless the test passes ``password=...``.
DEFAULT_PASSWORD = "correct horse battery staple"

# None of these contains three letters of DEFAULT_PASSWORD, so the context-word validator
# never refuses DEFAULT_PASSWORD because of the person's name.
FIRST_NAMES = (
    "Alice", "Benjamin", "Camila", "Daniel", "Elena", "Farid", "Grace", "Hiroshi", "Ingrid",
    "Jamal", "Keiko", "Luis", "Maya", "Nikhil", "Olivia", "Priya", "Quentin", "Rosa", "Samuel",
    "Tanvi", "Umar", "Vera", "Wei", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Anderson", "Baptiste", "Chen", "Delgado", "Eriksen", "Fischer", "Gupta", "Hoffman",
    "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quiroga", "Rahman", "Schmidt", "Tanaka", "Ueda", "Vasquez", "Whitfield", "Yamamoto",
    "Zielinski", "Lopes", "Mbeki", "Novak", "Ortiz",
)  # fmt: skip


def email_local_part(name: str) -> str:
    """``Núñez-García`` -> ``nunez-garcia``; ``O'Neil`` -> ``oneil``."""
    return re.sub(r"[^a-z0-9-]", "", name_key(name).replace(" ", "-"))


@lru_cache(maxsize=16)
def _password_hash(raw: str, hashers: tuple[str, ...]) -> str:
    return make_password(raw)


def password_hash(raw: str) -> str:
    """A hash of ``raw``, computed once per password and hasher list.

    Argon2 costs tens of milliseconds on purpose; hashing once instead of once per account keeps
    the suite fast. Accounts created with the same password share the same (valid) hash.
    """
    return _password_hash(raw, tuple(settings.PASSWORD_HASHERS))


class PersonFactory(DjangoModelFactory):
    """A full-time HMS staff member in the directory, active, with a unique 8-digit HUID.

    ``PersonFactory(ssn="123-45-6789")`` stores that SSN's keyed hash; by default each person
    gets a distinct 9-digit number beginning with 9 (never issued as an SSN).
    """

    class Meta:
        model = Person

    class Params:
        ssn = factory.Sequence(lambda n: f"9{n % 10**8:08d}")

    huid = factory.Sequence(lambda n: f"{10_000_000 + n:08d}")
    first_name = factory.Sequence(lambda n: FIRST_NAMES[n % len(FIRST_NAMES)])
    last_name = factory.Sequence(lambda n: LAST_NAMES[n % len(LAST_NAMES)])
    date_of_birth = factory.Sequence(lambda n: date(1960, 1, 1) + timedelta(days=n * 389 % 14_600))
    ssn_hash = factory.LazyAttribute(lambda o: ssn_digest(o.ssn))
    ssn_last4_hash = factory.LazyAttribute(lambda o: ssn_last4_digest(o.ssn, huid=o.huid))
    affiliation = Affiliation.STAFF
    school = School.HMS
    full_time = True
    department = "Neurobiology"
    office_address = "220 Longwood Avenue, Boston, MA 02115"
    office_phone = factory.Sequence(lambda n: f"617-432-{n % 10_000:04d}")
    email = factory.LazyAttribute(
        lambda o: (
            f"{email_local_part(o.first_name)}.{email_local_part(o.last_name)}@hms.harvard.edu"
        )
    )
    is_active = True


class UserFactory(DjangoModelFactory):
    """A personal account of a PersonFactory person, active, with DEFAULT_PASSWORD.

    ``UserFactory(person=None, kind=User.Kind.AFFILIATE)`` makes an account outside the
    directory; ``UserFactory(password="...")`` sets another password.
    """

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n:04d}")
    person = factory.SubFactory(PersonFactory)
    first_name = factory.LazyAttribute(lambda o: o.person.first_name if o.person else "Pat")
    last_name = factory.LazyAttribute(lambda o: o.person.last_name if o.person else "Guest")
    email = factory.LazyAttribute(
        lambda o: o.person.email if o.person else f"{o.username}@partners.org"
    )
    kind = User.Kind.PERSONAL
    status = User.Status.ACTIVE
    is_active = True
    password = factory.Transformer(DEFAULT_PASSWORD, transform=password_hash)
    password_changed_at = factory.LazyFunction(timezone.now)


def lock(user) -> None:
    """Lock an existing account as ten wrong passwords in a row would."""
    User.objects.filter(pk=user.pk).update(failed_login_count=10, locked_at=timezone.now())


# SafeCode ---------------------------------------------------------------------------------

# The SafeCode phone and email ChannelFactory gives an account unless told otherwise.
PHONE = "+16175550123"
SAFECODE_EMAIL = "me@example.org"


class ChannelFactory(DjangoModelFactory):
    """A verified SafeCode phone (``PHONE``) of a new account.

    ``ChannelFactory(user=user, kind=Channel.Kind.EMAIL, address=SAFECODE_EMAIL)`` gives an
    email instead; ``status=Channel.Status.PENDING`` one still waiting for its code.
    """

    class Meta:
        model = Channel

    user = factory.SubFactory(UserFactory)
    kind = Channel.Kind.PHONE
    address = PHONE
    region = factory.LazyAttribute(lambda o: "US" if o.kind == Channel.Kind.PHONE else "")
    status = Channel.Status.VERIFIED
    verified_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == Channel.Status.VERIFIED else None
    )
