"""Domain errors of SafeCode. Views turn them into messages; none of them carries a secret."""

from __future__ import annotations

from datetime import datetime

CODE_FORMAT_MESSAGE = "Enter the 6-digit code"


class SafeCodeError(Exception):
    """Base class of every SafeCode refusal."""

    message = "SafeCode could not do that."

    def __str__(self) -> str:
        return self.message


class SafeCodeThrottled(SafeCodeError):
    """No code can be sent now; ``retry_after`` is when one can.

    ``reason`` is one of ``resend`` (a minute between codes to one channel),
    ``purpose_hourly`` (codes for one purpose in an hour), ``channel_hourly`` (codes to one of
    the account's phones or emails in an hour), ``number_daily`` (texts to one number in a day,
    across accounts) or ``country_daily`` (texts to one foreign country in a day).
    """

    MESSAGES = {
        "resend": "A new code can be sent once a minute.",
        "purpose_hourly": "You have been sent as many codes for this as are allowed in an hour.",
        "channel_hourly": "That phone or email has been sent as many codes as are allowed in an "
        "hour.",
        "number_daily": "That phone number has been sent as many texts as are allowed in a day.",
        "country_daily": "Texts to that country are paused until tomorrow.",
    }

    def __init__(self, retry_after: datetime, reason: str) -> None:
        super().__init__(retry_after, reason)
        self.retry_after = retry_after
        self.reason = reason

    @property
    def message(self) -> str:  # type: ignore[override]
        return self.MESSAGES.get(self.reason, "No code can be sent right now.")


class SafeCodeLockedOut(SafeCodeError):
    """Too many wrong codes for this purpose: none is issued or accepted until ``until``."""

    message = "Too many wrong codes were entered."

    def __init__(self, until: datetime) -> None:
        super().__init__(until)
        self.until = until


class SafeCodeInvalidFormat(SafeCodeError, ValueError):
    """What was typed is not a 6-digit code. It does not count as a wrong entry."""

    message = CODE_FORMAT_MESSAGE


class SafeCodeChannelUnusable(SafeCodeError):
    """The channel does not belong to the account, or is not verified for this purpose."""

    message = "That phone or email cannot receive codes."


class SafeCodeLastChannel(SafeCodeError):
    """SafeCode cannot be turned off: the last verified channel can be replaced, not removed."""

    message = (
        "SafeCode cannot be turned off. Your last phone or email can be replaced with another, "
        "but not removed."
    )


class SafeCodeSkipsExhausted(SafeCodeError):
    message = "You have used every skip. Register a phone or email to continue."
