"""Web Push wake-ups for the portal's authenticator app (/m/).

When someone asks for a push, the phone's browser is woken through its push service (RFC 8030)
with a message encrypted for that browser (RFC 8291) and signed with the portal's VAPID key
(RFC 8292). The service worker shows a notification and tells an open app to poll; the request
itself is read, and answered, only through the app's signed API.

The payload names the request, the account and the purpose, and carries no secret. In
particular the verified-push number is never in it: the phone must get the number from the
person's screen, which is what proves that the person approving is the one signing in. Anything
in the payload passes through a third party's push service and lands in a notification, so it
says no more than the notification shows.

A wake-up is a convenience, not a delivery that must happen: the app polls while it is open, so
a lost or late wake-up costs only latency. That is why nothing here is stored and why a broker
outage or a push service error is logged and given up, never shown to the person signing in.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from datetime import datetime
from urllib.parse import urlsplit

import requests
from django.db import connections, transaction
from django.utils import timezone
from py_vapid import Vapid, VapidException
from pywebpush import WebPushException, webpush

from delivery.app_settings import app_settings as delivery_settings
from twofactor.app_settings import app_settings
from twofactor.models import AppKey, PushRequest

logger = logging.getLogger(__name__)

SENT = "sent"
SKIPPED = "skipped"
GONE = "gone"
FAILED = "failed"

# Seconds the portal waits for a push service to accept a message.
TIMEOUT = 5


class TransientPushError(Exception):
    """The push service did not take the message but may later: a network error, a timeout,
    a 5xx or 429 answer. ``str()`` names the push service's host and status, never the
    subscription's endpoint (a capability URL) or the payload."""


def webpush_enabled() -> bool:
    """Web Push is on when a VAPID private key is configured."""
    return bool(app_settings.VAPID_PRIVATE_KEY)


def _has_subscription(app: AppKey | None) -> bool:
    return bool(app and app.push_endpoint and app.push_p256dh and app.push_auth)


def _vapid() -> Vapid:
    """The portal's VAPID key: base64url of the raw scalar (or DER), or PEM."""
    key = app_settings.VAPID_PRIVATE_KEY.strip()
    if key.startswith("-----BEGIN"):
        return Vapid.from_pem(key.encode())
    return Vapid.from_string(private_key=key)


def push_wake_send(*, push_id: str | uuid.UUID) -> str:
    """Wake the phone of one push request; returns ``sent``, ``skipped``, ``gone`` or ``failed``.

    Nothing is sent for a request no longer pending or expired, to an app without a
    subscription, or when Web Push is off, so a task redelivered after the person answered
    sends nothing. The message's TTL is the time the request has left: a push service never
    delivers it after the request expired. Its ``Topic`` is the request's id, so a second copy
    (a retry after a timeout the push service had in fact accepted) replaces the first one
    while it waits at the push service instead of waking the phone twice.

    A 404 or 410 answer means the subscription is gone (the app was uninstalled, the
    browser's data cleared, permission revoked): it is cleared so that no later push tries it.
    Raises ``TransientPushError`` when a retry may succeed.
    """
    if not webpush_enabled():
        return SKIPPED
    try:
        push_id = uuid.UUID(str(push_id))
    except ValueError:
        return SKIPPED
    push = PushRequest.objects.select_related("user", "device__app").filter(pk=push_id).first()
    if push is None:
        return SKIPPED
    now = timezone.now()
    if push.state != PushRequest.State.PENDING or push.expires_at <= now:
        return SKIPPED
    app = push.device.app
    if not _has_subscription(app):
        return SKIPPED
    try:
        vapid = _vapid()
    except Exception as exc:
        logger.error("The VAPID private key cannot be read (%s); no push sent.", type(exc).__name__)
        return FAILED

    endpoint = app.push_endpoint
    host = urlsplit(endpoint).hostname or "?"
    ttl = max(1, math.ceil((push.expires_at - now).total_seconds()))
    data = json.dumps({"id": str(push.id), "account": push.user.username, "purpose": push.purpose})
    try:
        webpush(
            subscription_info={
                "endpoint": endpoint,
                "keys": {"p256dh": app.push_p256dh, "auth": app.push_auth},
            },
            data=data,
            vapid_private_key=vapid,
            vapid_claims={"sub": app_settings.VAPID_SUBJECT},
            ttl=ttl,
            timeout=TIMEOUT,
            headers={"Urgency": "high", "Topic": push.id.hex},
        )
    except WebPushException as exc:
        status = exc.status_code
        if status in (404, 410):
            _forget_subscription(app, endpoint)
            logger.info("Push service %s: subscription of app key %s is gone.", host, app.pk)
            return GONE
        if status is None or status == 429 or status >= 500:
            raise TransientPushError(f"Push service {host} answered {status}.") from None
        # 400, 401, 403, 413: a refusal retrying cannot change (401/403: the VAPID key is
        # not the one this subscription was made with, or the subject is refused).
        logger.warning("Push service %s refused push %s with %s.", host, push.pk, status)
        return FAILED
    except (ValueError, VapidException, requests.exceptions.URLRequired) as exc:
        # Keys that are not a P-256 point or 16 bytes, or an endpoint that is not a URL
        # (requests' InvalidURL, MissingSchema and InvalidSchema are ValueErrors): the
        # subscription can never work.
        _forget_subscription(app, endpoint)
        logger.warning(
            "Unusable Web Push subscription of app key %s (%s); cleared.",
            app.pk,
            type(exc).__name__,
        )
        return GONE
    except requests.RequestException as exc:
        raise TransientPushError(f"Push service {host}: {type(exc).__name__}.") from None
    logger.info("Woke app key %s for push %s through %s.", app.pk, push.pk, host)
    return SENT


def _forget_subscription(app: AppKey, endpoint: str) -> None:
    """Clear the subscription, unless the app saved a new one since it was read."""
    AppKey.objects.filter(pk=app.pk, push_endpoint=endpoint).update(
        push_endpoint="", push_p256dh="", push_auth=""
    )


def push_wake_enqueue(*, push: PushRequest) -> bool:
    """Wake the phone once the caller's transaction commits; returns whether one is scheduled.

    Call it right after creating the request. Nothing is scheduled when Web Push is off or the
    app has no subscription; the app finds the request when it polls.
    """
    app = push.device.app
    if not webpush_enabled() or not _has_subscription(app):
        return False
    push_id, expires_at = str(push.id), push.expires_at
    transaction.on_commit(lambda: _dispatch(push_id=push_id, expires_at=expires_at))
    return True


def _dispatch(*, push_id: str, expires_at: datetime) -> bool:
    """Hand the wake-up to whatever sends it in the background; never send it in the request.

    As ``delivery.services.message_dispatch`` does: a broker outage must not turn a sign-in
    into an error page, nor hold it while kombu reconnects, so the connection is tried once
    and the publish not retried; the wake-up is then dropped (the app polls). The task
    expires with the request, so a worker discards one that waited in the queue too long,
    its retries included. Without a broker (the embedded default) a short-lived thread of the
    portal's own process sends it, once.
    """
    from portal.publish import task_publish_once
    from twofactor.tasks import push_wake

    celery_app = push_wake.app
    if celery_app.conf.task_always_eager and delivery_settings.WITHOUT_BROKER == "thread":
        threading.Thread(
            target=_wake_in_background, args=(push_id,), name="push-wake", daemon=True
        ).start()
        return True
    try:
        task_publish_once(push_wake, args=(push_id,), expires=expires_at)
    except Exception as exc:
        logger.warning(
            "Broker unavailable (%s); push %s is not woken, the app finds it when it polls.",
            type(exc).__name__,
            push_id,
        )
        return False
    return True


def _wake_in_background(push_id: str) -> None:
    try:
        push_wake_send(push_id=push_id)
    except TransientPushError as exc:
        logger.warning("Push %s not woken: %s", push_id, exc)
    except Exception:
        logger.exception("Waking the phone for push %s failed.", push_id)
    finally:
        # The thread's own database connection; nothing reuses it.
        connections.close_all()
