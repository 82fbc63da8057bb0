"""Extra proofs after the SafeCode of a forgotten password (accounts.reset_proofs), with a
proof declared through the setting as another app would."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import path

from accounts.models import User
from accounts.reset_proofs import ResetProof, reset_proof_account, reset_proof_passed
from tests.accounts.pages import FORGOT, FORGOT_CODE, FORGOT_NEW, FORGOT_SEND
from tests.factories import PHONE, ChannelFactory, UserFactory
from tests.helpers import captcha_answer, code_sent_to

pytestmark = pytest.mark.django_db(transaction=True)

CHECK = "/password/forgot/check/"
PROOF_PAGE = "/test-proof/"
NEW_PASSWORDS = {"password1": "willow smoke over harbour", "password2": "willow smoke over harbour"}


class WordProof(ResetProof):
    """Needed by accounts whose first name is "Guarded"; proven by posting the word."""

    name = "word"
    url_name = "test_proof"

    def is_needed(self, user: User) -> bool:
        return user.first_name == "Guarded"


@login_not_required
def proof_page(request):
    user = reset_proof_account(request)
    if user is None:
        return HttpResponse("no reset waits", status=HTTPStatus.FORBIDDEN)
    if request.method == "POST" and request.POST.get("word") == "swordfish":
        return reset_proof_passed(request, WordProof.name)
    return HttpResponse(f"prove it, {user.username}")


urlpatterns = [path("test-proof/", proof_page, name="test_proof")]


@pytest.fixture(autouse=True)
def word_proof(settings):
    from portal.urls import urlpatterns as portal_patterns

    settings.ACCOUNTS_RESET_PROOFS = [f"{__name__}.WordProof"]
    settings.ROOT_URLCONF = __name__
    urlpatterns[1:] = portal_patterns


def proven_code(client, outbox, user):
    ChannelFactory(user=user)
    page = client.get(FORGOT)
    details = {"login": user.username, "last_name": user.person.last_name, "huid": user.person.huid}
    client.post(FORGOT, {**details, **captcha_answer(page)})
    client.post(FORGOT_SEND, {"kind": "phone"})
    return client.post(FORGOT_CODE, {"code": code_sent_to(outbox, PHONE)})


def test_an_account_that_needs_the_proof_is_sent_to_it_and_cannot_skip_it(client, outbox):
    user = UserFactory(first_name="Guarded")
    assert proven_code(client, outbox, user).url == CHECK
    assert client.get(CHECK).url == PROOF_PAGE
    assert client.post(FORGOT_NEW, NEW_PASSWORDS).url == CHECK, "the SafeCode alone is not enough"
    assert client.post(PROOF_PAGE, {"word": "wrong"}).status_code == HTTPStatus.OK
    assert client.get(CHECK).url == PROOF_PAGE
    assert client.post(PROOF_PAGE, {"word": "swordfish"}).url == CHECK
    assert client.get(CHECK).url == FORGOT_NEW
    assert client.post(FORGOT_NEW, NEW_PASSWORDS).status_code == HTTPStatus.FOUND
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORDS["password1"])


def test_an_account_without_it_goes_straight_on(client, outbox):
    user = UserFactory(first_name="Open")
    assert proven_code(client, outbox, user).url == FORGOT_NEW


def test_the_proof_page_knows_no_account_outside_a_waiting_reset(client):
    assert client.get(PROOF_PAGE).status_code == HTTPStatus.FORBIDDEN
    assert client.post(PROOF_PAGE, {"word": "swordfish"}).status_code == HTTPStatus.FORBIDDEN
