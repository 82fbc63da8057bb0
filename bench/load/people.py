"""The load test's accounts, created in the stack's database.

    python -m bench.load.people --people 200 --targets 20 --out var/load/people.json

Run with the stack's environment (``Stack.env()``: production's settings, the stack's
database), never against a database that holds real accounts: it writes known passwords.

Each of the ``--people`` people is what production's policy (two-factor for everyone) expects
of an account that signs in without being stopped on the way: a directory entry, an active
personal account with a password set today (so neither the expiry stage nor the expiry
warning stands in the way), a verified SafeCode phone and personal email (so the SafeCode
prompt does not either) and a confirmed two-factor device, an iPhone with an authenticator app
whose TOTP key the load client knows, so it computes passcodes as the app would (RFC 6238,
30-second steps, 6 digits, django-otp's ``TOTPDevice``).

The ``--targets`` accounts are the same kind of account, for the attacker to spray: no
legitimate person signs in to them, so the per-name CAPTCHA and the lockout the spray sets off
there never stand in a person's way. ``--directory`` more directory entries give the
whitepages searches something to find.

The file written (mode 0600) lists every account with its password, TOTP key, device and
channel ids, and the portal's throttle settings the checks compare the attacker's figures with.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PREFIX = "load"
TARGET_PREFIX = "target"
# The Harvard IDs of the load's people and targets.
PEOPLE_HUIDS = 40_000_000
TARGET_HUIDS = 41_000_000
DEVICE_NAME = "iPhone"


def new_password() -> str:
    """A password the policy accepts for any of the load's accounts.

    Four groups of hexadecimal digits: at least 12 characters, never a common password, and
    the context-word rule cannot refuse it (hexadecimal digits spell none of the institution's
    names, no username or name of the load, and the dashes keep a Harvard ID's 8 digits out).
    """
    return "-".join(secrets.token_hex(2) for _ in range(4))


def create(*, people: int, targets: int, directory: int) -> dict:
    """Create the accounts and return what the load client needs to know about them."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.app_settings import app_settings as accounts_settings
    from accounts.models import Affiliation, Person, User
    from bench._harness import FIRST_NAMES, LAST_NAMES, people_rows, person_from_row
    from safecode.models import Channel
    from twofactor.models import Device

    specs = [(PREFIX, PEOPLE_HUIDS, i) for i in range(people)]
    specs += [(TARGET_PREFIX, TARGET_HUIDS, i) for i in range(targets)]
    passwords = [new_password() for _ in specs]
    # Argon2id on purpose costs tens of milliseconds; argon2-cffi releases the GIL.
    with ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 1)) as pool:
        hashes = list(pool.map(make_password, passwords))

    now = timezone.now()
    accounts = []
    with transaction.atomic():
        if directory:
            # people_rows numbers its Harvard IDs from 30,000,000, clear of the accounts'.
            rows = [person_from_row(row) for row in people_rows(directory)]
            Person.objects.bulk_create(rows, batch_size=1000)
        for (prefix, huids, i), password, hashed in zip(specs, passwords, hashes, strict=True):
            username = f"{prefix}{i:04d}"
            first = FIRST_NAMES[i % len(FIRST_NAMES)]
            last = LAST_NAMES[(i * 7) % len(LAST_NAMES)]
            person = Person.objects.create(
                huid=f"{huids + i:08d}",
                first_name=first,
                last_name=last,
                affiliation=(Affiliation.STAFF, Affiliation.FACULTY, Affiliation.STUDENT)[i % 3],
                full_time=True,
                department="Information Technology" if i % 2 else "Neurobiology",
                email=f"{username}@hms.harvard.edu",
                office_phone=f"617-432-{i % 10_000:04d}",
                office_address="25 Shattuck Street, Boston, MA 02115",
            )
            user = User.objects.create(
                username=username,
                person=person,
                kind=User.Kind.PERSONAL,
                email=person.email,
                first_name=first,
                last_name=last,
                password=hashed,
                password_changed_at=now,
            )
            # A US mobile number of the 555 exchange, distinct per account, so the per-number
            # text limits count each person alone.
            offset = 0 if prefix == PREFIX else 5000
            phone = Channel.objects.create(
                user=user,
                kind=Channel.Kind.PHONE,
                address=f"+1617555{offset + i:04d}",
                region="US",
                status=Channel.Status.VERIFIED,
                verified_at=now,
            )
            email = Channel.objects.create(
                user=user,
                kind=Channel.Kind.EMAIL,
                address=f"{username}@example.org",
                status=Channel.Status.VERIFIED,
                verified_at=now,
            )
            totp = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
            device = Device.objects.create(
                user=user,
                kind=Device.Kind.MOBILE,
                phone_type=Device.PhoneType.IPHONE,
                name=DEVICE_NAME,
                totp=totp,
                is_default=True,
                confirmed_at=now,
            )
            accounts.append(
                {
                    "role": "person" if prefix == PREFIX else "target",
                    "user_id": user.pk,
                    "username": username,
                    "password": password,
                    "totp_key": totp.key,
                    "totp_step": totp.step,
                    "totp_digits": totp.digits,
                    "device_id": device.pk,
                    "channels": {"phone": phone.pk, "email": email.pk},
                }
            )
    return {
        "people": [a for a in accounts if a["role"] == "person"],
        "targets": [a for a in accounts if a["role"] == "target"],
        "directory": directory,
        "limits": {
            "ip_failure_limit": accounts_settings.IP_FAILURE_LIMIT,
            "ip_failure_window_s": accounts_settings.IP_FAILURE_WINDOW.total_seconds(),
            "captcha_ip_failures": accounts_settings.SIGNIN_CAPTCHA_IP_FAILURES,
            "captcha_login_failures": accounts_settings.SIGNIN_CAPTCHA_LOGIN_FAILURES,
            "captcha_window_s": accounts_settings.SIGNIN_CAPTCHA_WINDOW.total_seconds(),
            "lockout_threshold": accounts_settings.LOCKOUT_THRESHOLD,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load.people", description=__doc__)
    parser.add_argument("--people", type=int, required=True)
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--directory", type=int, default=2000, help="extra directory entries")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if os.environ.get("DJANGO_SETTINGS_MODULE") != "portal.settings.stack":
        parser.error("run it with the stack's environment (bench.stack.Stack.env())")
    import django

    django.setup()
    data = create(people=args.people, targets=args.targets, directory=args.directory)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.touch(mode=0o600)
    args.out.chmod(0o600)
    args.out.write_text(json.dumps(data, indent=1))
    print(
        f"{len(data['people'])} people, {len(data['targets'])} targets, "
        f"{data['directory']} directory entries -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
