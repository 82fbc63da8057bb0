"""Enqueueing: a row in the caller's transaction, handed to Celery only once it commits."""

from __future__ import annotations

import pytest
from django.db import transaction

from delivery.models import Message
from delivery.services import email_enqueue, message_enqueue

CODE = "482913"


def _enqueue_code(**overrides) -> Message:
    options = {
        "channel": Message.Channel.SMS,
        "recipient": "+16175551234",
        "body": f"Your HMS code is {CODE}. It expires in 10 minutes.",
        "purpose": "unlock",
        "secrets": [CODE],
    }
    options.update(overrides)
    return message_enqueue(**options)


@pytest.mark.django_db(transaction=True)
def test_message_is_sent_only_after_the_transaction_commits(outbox):
    with transaction.atomic():
        message = _enqueue_code()
        assert Message.objects.filter(pk=message.pk, status=Message.Status.QUEUED).exists()
        assert outbox == []

    assert [(m.recipient, m.body) for m in outbox] == [("+16175551234", message.body)]
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_sends_nothing(outbox):
    with pytest.raises(RuntimeError), transaction.atomic():
        _enqueue_code()
        raise RuntimeError("the request failed after enqueueing")

    assert outbox == []
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_enqueue_registers_one_on_commit_hook(django_capture_on_commit_callbacks, outbox):
    with django_capture_on_commit_callbacks() as callbacks:
        message = _enqueue_code()
    assert len(callbacks) == 1
    assert outbox == []

    callbacks[0]()

    assert len(outbox) == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


@pytest.mark.django_db
def test_only_the_positions_of_secrets_are_stored(django_capture_on_commit_callbacks, user):
    body = f"Code {CODE}. Again: {CODE}. Link https://portal/reset/tok-abc/"
    with django_capture_on_commit_callbacks():
        message = _enqueue_code(body=body, secrets=[CODE, "tok-abc"], user=user)

    row = Message.objects.filter(pk=message.pk).values().get()
    token_at = body.index("tok-abc")
    assert row["secret_spans"] == [[5, 11], [20, 26], [token_at, token_at + 7]]
    columns_with_code = [name for name, value in row.items() if CODE in str(value)]
    assert columns_with_code == ["body"]
    assert row["user_id"] == user.pk


@pytest.mark.django_db
def test_a_secret_missing_from_the_body_is_refused(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(), pytest.raises(ValueError):
        _enqueue_code(body="Your code is 482 913.", secrets=[CODE])
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_secret_in_the_subject_is_refused(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(), pytest.raises(ValueError):
        _enqueue_code(channel=Message.Channel.EMAIL, subject=f"Code {CODE}")
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_single_secret_string_is_refused():
    with pytest.raises(TypeError):
        _enqueue_code(secrets=CODE)
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_an_unknown_channel_is_refused():
    with pytest.raises(ValueError):
        _enqueue_code(channel="fax")
    assert not Message.objects.exists()


@pytest.fixture
def email_templates(tmp_path, settings):
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "reset_subject.txt").write_text(
        "Reset your {{ institution.short_name }}\npassword, {{ name }}\n"
    )
    (folder / "reset_body.txt").write_text(
        "Hello {{ name }},\n\n"
        "Open {{ link }} to choose a new password.\n"
        "Questions? Call {{ institution.service_desk_phone }} or visit {{ site_url }}/help/.\n"
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    return "mail/reset"


@pytest.mark.django_db
def test_email_is_rendered_as_plain_text_with_institution_details(
    email_templates, settings, django_capture_on_commit_callbacks, outbox, user
):
    link = "https://portal.example/reset/a1b2&c=3/"
    with django_capture_on_commit_callbacks(execute=True):
        message = email_enqueue(
            recipient="jane.doe@hms.harvard.edu",
            template=email_templates,
            context={"name": "Jane O'Neil & Co", "link": link},
            purpose="password_reset",
            user=user,
            secrets=[link],
        )

    [sent] = outbox
    assert sent.channel == Message.Channel.EMAIL
    assert sent.subject == "Reset your HMS password, Jane O'Neil & Co"
    assert sent.body.startswith("Hello Jane O'Neil & Co,\n")
    assert f"Open {link} to choose" in sent.body
    assert f"Call {settings.SERVICE_DESK_PHONE} or visit {settings.PORTAL_URL}/help/" in sent.body
    assert sent.purpose == "password_reset"
    message.refresh_from_db()
    assert link not in message.body
    assert "Open " + "•" * len(link) + " to choose" in message.body
