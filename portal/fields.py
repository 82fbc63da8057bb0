"""Form fields the portal's forms share."""

from __future__ import annotations

import unicodedata

from django import forms

# A multi-line field keeps line breaks and tabs.
_LAYOUT = frozenset("\n\r\t")
# Direction embeddings, overrides and isolates: they make text read other than it is stored.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _refused(char: str, allowed: frozenset[str]) -> bool:
    if char in allowed:
        return False
    return unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS


class PlainTextField(forms.CharField):
    """Text a person types, stored and shown again on pages, in the admin and in mail: letters,
    digits, spaces and punctuation in any script, and no control characters (escape sequences,
    bells, backspaces, direction overrides), which Django's CharField refuses only for NUL.
    """

    default_error_messages = {
        "control": "Use letters, digits, spaces and punctuation only.",
    }

    def __init__(self, *, multiline: bool = False, **kwargs):
        if multiline:
            kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3}))
        self.multiline = multiline
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        allowed = _LAYOUT if self.multiline else frozenset()
        if any(_refused(char, allowed) for char in value or ""):
            raise forms.ValidationError(self.error_messages["control"], code="control")
