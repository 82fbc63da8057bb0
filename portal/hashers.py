"""Password hashing parameters.

Django's Argon2 hasher uses parallelism 8, which on a two-core server makes concurrent sign-ins
queue behind each other. OWASP's Password Storage Cheat Sheet recommends Argon2id with
m=19 MiB, t=2, p=1; this subclass pins those parameters. Existing hashes with other parameters
are upgraded on the next successful sign-in (``must_update``).
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class PortalArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
