"""Texts and voice calls through Twilio's REST API."""

from __future__ import annotations

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from delivery.backends.base import Outgoing, PermanentDeliveryError, TransientDeliveryError


class TwilioBackend:
    def __init__(self, *, http_client: HttpClient | None = None) -> None:
        self._http_client = http_client

    def send(self, outgoing: Outgoing) -> str:
        client = self._client()
        try:
            if outgoing.channel == "voice":
                resource = client.calls.create(
                    to=outgoing.recipient,
                    from_=settings.TWILIO_FROM_NUMBER,
                    twiml=str(self._twiml(outgoing.body)),
                )
            else:
                resource = client.messages.create(
                    to=outgoing.recipient,
                    from_=settings.TWILIO_FROM_NUMBER,
                    body=outgoing.body,
                )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _classify(exc) from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientDeliveryError(f"Twilio unreachable: {type(exc).__name__}") from exc
        return resource.sid or ""

    def _client(self) -> Client:
        sid, token = settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN
        if not (sid and token and settings.TWILIO_FROM_NUMBER):
            raise PermanentDeliveryError(
                "Twilio is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                "TWILIO_FROM_NUMBER."
            )
        http_client = self._http_client or TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT_SECONDS)
        return Client(sid, token, http_client=http_client)

    @staticmethod
    def _twiml(text: str) -> VoiceResponse:
        response = VoiceResponse()
        response.say(text)
        return response


def _classify(exc: TwilioRestException | TwilioServiceException):
    """Rate limiting and server errors may pass; any other 4xx (invalid number, unverified
    caller ID, bad credentials) will fail the same way on every retry."""
    message = getattr(exc, "msg", "") or getattr(exc, "title", "")
    text = f"Twilio HTTP {exc.status} (code {exc.code}): {message}"[:500]
    if exc.status == 429 or exc.status >= 500:
        return TransientDeliveryError(text)
    return PermanentDeliveryError(text)
