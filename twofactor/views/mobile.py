"""The portal's authenticator web app (/m/): its shell, service worker and manifest, and the
JSON API its phone calls.

The API holds no session and reads no cookie: each call is signed with the key the phone
made at activation (``twofactor.push``), so there is nothing for a cross-site request to ride
on, and the views are exempt from the CSRF check for that reason. Every refusal is JSON with a
sentence a person can read and the status that says why: 400 unreadable, 401 not signed by
this device, 404 unknown link, 409 already answered, 410 device removed.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from twofactor.app_settings import app_settings
from twofactor.push import (
    AppError,
    app_activate,
    app_decide,
    app_poll,
    app_subscribe,
)

MAX_BODY_BYTES = 8 * 1024
SERVICE_WORKER = Path(settings.BASE_DIR) / "static" / "mobile" / "sw.js"


# The app ------------------------------------------------------------------------------------


@login_not_required
@require_GET
def app(request: HttpRequest) -> HttpResponse:
    """The app's one page; /m/activate/#<token> is the same page, which reads the fragment."""
    return render(
        request,
        "twofactor/mobile/app.html",
        {"vapid_public_key": app_settings.VAPID_PUBLIC_KEY},
    )


@login_not_required
@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, served from /m/ so that its scope is the app's."""
    response = HttpResponse(SERVICE_WORKER.read_bytes(), content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/m/"
    response["Cache-Control"] = "no-cache"
    return response


@login_not_required
@require_GET
def manifest(request: HttpRequest) -> JsonResponse:
    short = settings.INSTITUTION_SHORT_NAME
    icons = [
        {"src": static("mobile/icon-192.png"), "sizes": "192x192", "type": "image/png"},
        {"src": static("mobile/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        {
            "src": static("mobile/icon-maskable-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    response = JsonResponse(
        {
            "name": f"{short} Authenticator",
            "short_name": f"{short} Auth",
            "description": f"Approve sign-ins to your {short} account and show passcodes.",
            "id": "/m/",
            "start_url": "/m/",
            "scope": "/m/",
            "display": "standalone",
            "orientation": "portrait",
            "background_color": "#ffffff",
            "theme_color": "#a51c30",
            "icons": icons,
        },
        content_type="application/manifest+json",
    )
    response["Cache-Control"] = "no-cache"
    return response


# The API --------------------------------------------------------------------------------------


def _body(request: HttpRequest) -> dict:
    if len(request.body) > MAX_BODY_BYTES:
        raise AppError("The app sent too much.")
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise AppError("The app sent something the portal cannot read.") from None
    if not isinstance(data, dict):
        raise AppError("The app sent something the portal cannot read.")
    return data


def api(view):
    """A JSON endpoint of the app: POST only, no session, no CSRF token (signed instead),
    never cached; an ``AppError`` becomes its JSON answer."""

    @login_not_required
    @csrf_exempt
    @never_cache
    @require_POST
    def wrapper(request: HttpRequest) -> JsonResponse | HttpResponse:
        try:
            return view(request, _body(request))
        except AppError as exc:
            payload = {"error": exc.message}
            if exc.status == HTTPStatus.GONE:
                payload["state"] = "removed"
            return JsonResponse(payload, status=exc.status)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@api
def activate(request: HttpRequest, data: dict) -> JsonResponse:
    """Register the phone's key with the activation token; answer with what the app keeps."""
    done = app_activate(
        token=data.get("token"),
        public_key=data.get("public_key"),
        platform=data.get("platform", ""),
        signature=data.get("signature"),
        request=request,
    )
    return JsonResponse(
        {
            "app_id": done.app.pk,
            "account": done.device.user.username,
            "device_name": done.device.name,
            "issuer": settings.INSTITUTION_SHORT_NAME,
            "totp": {
                "secret": done.totp_secret,
                "digits": done.device.totp.digits,
                "period": done.device.totp.step,
                "algorithm": "SHA1",
            },
        }
    )


@api
def requests(request: HttpRequest, data: dict) -> JsonResponse:
    """The sign-in requests waiting for this phone."""
    from django.utils import timezone

    now = timezone.now()
    pending = app_poll(
        app_id=data.get("app_id"), ts=data.get("ts"), signature=data.get("signature")
    )
    return JsonResponse(
        {
            "requests": [
                {
                    "id": str(push.pk),
                    "account": push.user.username,
                    "purpose": push.purpose,
                    "ip": push.ip or "",
                    "browser": push.browser,
                    "place": push.place,
                    "created_at": push.created_at.isoformat(),
                    "expires_in": max(int((push.expires_at - now).total_seconds()), 0),
                }
                for push in pending
            ]
        }
    )


@api
def decide(request: HttpRequest, data: dict) -> JsonResponse:
    """Approve (with the number typed), deny, or deny and report as fraud."""
    state = app_decide(
        app_id=data.get("app_id"),
        request_id=data.get("request_id"),
        number=data.get("number", ""),
        decision=data.get("decision"),
        nonce=data.get("nonce"),
        signature=data.get("signature"),
        request=request,
    )
    return JsonResponse({"state": state})


@api
def subscribe(request: HttpRequest, data: dict) -> HttpResponse:
    """Keep the phone's Web Push subscription."""
    app_subscribe(
        app_id=data.get("app_id"),
        ts=data.get("ts"),
        subscription=data.get("subscription"),
        signature=data.get("signature"),
    )
    return HttpResponse(status=HTTPStatus.NO_CONTENT)
