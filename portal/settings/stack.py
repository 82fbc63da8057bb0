"""The production-like stack on one machine (``make stack``, bench/stack.py).

Production's settings, with the two differences a stack on loopback needs and nothing else:

- messages land in the outbox (the delivery rows and the worker's sends are production's; only
  the last step writes a row instead of calling Twilio or SMTP), so a load test can count them;
- plain HTTP on 127.0.0.1, as behind a TLS-terminating proxy: no HTTPS redirect, no HSTS, and
  cookies without the Secure flag (a client would not send them back over HTTP).
"""

from .hardened import *  # noqa: F403

DELIVERY_SMS_BACKEND = "delivery.backends.outbox.OutboxBackend"
DELIVERY_EMAIL_BACKEND = "delivery.backends.outbox.OutboxBackend"

SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SESSION_COOKIE_NAME = "sessionid"
CSRF_COOKIE_NAME = "csrftoken"

# The portal's URLs and the benchmarks' bare baseline view (bench/stack_urls.py).
ROOT_URLCONF = "bench.stack_urls"
