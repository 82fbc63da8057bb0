"""Email through an SMTP relay, with Django's SMTP connection and the ``EMAIL_*`` settings."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME

from delivery.backends.base import Outgoing, PermanentDeliveryError, TransientDeliveryError


class SMTPBackend:
    def send(self, outgoing: Outgoing) -> str:
        message_id = make_msgid(domain=DNS_NAME)
        connection = get_connection(
            "django.core.mail.backends.smtp.EmailBackend", fail_silently=False
        )
        email = EmailMessage(
            subject=outgoing.subject,
            body=outgoing.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[outgoing.recipient],
            connection=connection,
            headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
        )
        try:
            sent = email.send()
        except smtplib.SMTPRecipientsRefused as exc:
            replies = list(exc.recipients.values())
            codes = [code for code, _ in replies]
            text = "SMTP recipient refused: " + "; ".join(
                f"{code} {_decode(reply)}" for code, reply in replies
            )
            if codes and all(400 <= code < 500 for code in codes):
                raise TransientDeliveryError(text) from exc
            raise PermanentDeliveryError(text) from exc
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
            raise TransientDeliveryError(f"SMTP connection lost: {type(exc).__name__}") from exc
        except smtplib.SMTPResponseException as exc:
            text = f"SMTP {exc.smtp_code} {_decode(exc.smtp_error)} ({type(exc).__name__})"
            if 400 <= exc.smtp_code < 500:
                raise TransientDeliveryError(text) from exc
            raise PermanentDeliveryError(text) from exc
        except smtplib.SMTPException as exc:
            raise PermanentDeliveryError(f"SMTP error: {type(exc).__name__}") from exc
        except OSError as exc:
            raise TransientDeliveryError(f"SMTP unreachable: {type(exc).__name__}") from exc
        if not sent:
            raise TransientDeliveryError("SMTP connection did not send the message.")
        return message_id


def _decode(reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return text[:300]
