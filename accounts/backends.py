from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from accounts.normalize import digits, username_key


class DirectoryBackend(ModelBackend):
    """Sign-in by username or by 8-digit Harvard ID.

    An unknown login still runs the password hasher once, so that it costs what a known one does.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        user = find_user_by_login(username)
        if user is None:
            get_user_model()().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def user_can_authenticate(self, user):
        return user.may_sign_in


def find_user_by_login(login: str):
    """The account named by a username or a Harvard ID, or None."""
    User = get_user_model()
    huid = digits(login)
    qs = User.objects.select_related("person")
    if len(huid) == 8:
        return qs.filter(person__huid=huid).first()
    key = username_key(login)
    if not key:
        return None
    return qs.filter(username=key).first()
