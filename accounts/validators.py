"""Password validators beyond Django's own (SECURITY.md, Passwords)."""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError

from accounts.normalize import name_key


def _fold(text: str) -> str:
    return name_key(unicodedata.normalize("NFKC", text)).replace(" ", "")


class ContextWordsValidator:
    """Refuse passwords that contain the institution's name, the username, the person's names
    or Harvard ID: the first words an attacker who knows the person would try."""

    min_word = 3

    def _words(self, user) -> list[tuple[str, str]]:
        words = [
            (settings.INSTITUTION_SHORT_NAME, "the institution's name"),
            ("harvard", "the institution's name"),
            ("medical school", "the institution's name"),
        ]
        if user is None:
            return words
        words.append((getattr(user, "username", "") or "", "your username"))
        person = getattr(user, "person", None) if getattr(user, "person_id", None) else None
        first = person.first_name if person else getattr(user, "first_name", "")
        last = person.last_name if person else getattr(user, "last_name", "")
        words += [(first or "", "your name"), (last or "", "your name")]
        if person is not None:
            words.append((person.huid, "your Harvard ID"))
        return words

    def validate(self, password, user=None):
        folded = _fold(password)
        for word, what in self._words(user):
            key = _fold(word)
            if len(key) >= self.min_word and key in folded:
                raise ValidationError(
                    f"Your password must not contain {what}.", code="password_context_word"
                )

    def get_help_text(self):
        return "Your password must not contain your name, username, Harvard ID or HMS."


class PasswordHistoryValidator:
    """Refuse the current password and the previous ones kept in the account's history."""

    def __init__(self, history: int = 5):
        self.history = history

    def validate(self, password, user=None):
        if user is None or user.pk is None:
            return
        hashes = [user.password] if user.password else []
        hashes += list(user.password_history.values_list("password", flat=True)[: self.history])
        for stored in hashes[: self.history]:
            if stored and check_password(password, stored):
                raise ValidationError(
                    f"You used this password recently. Choose one you have not used in your "
                    f"last {self.history} passwords.",
                    code="password_reused",
                )

    def get_help_text(self):
        return f"Your password must differ from your last {self.history} passwords."
