"""Masking of message bodies and recipients, for storage, the admin, logs and the audit trail."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MASK = "•"


def secret_spans(text: str, secrets: Iterable[str]) -> list[list[int]]:
    """Where each secret occurs in ``text``, as sorted, merged ``[start, end]`` pairs.

    Only the positions are kept so that the secret itself never lands in a second column.
    A secret that does not occur in the text is a caller's mistake (the body would carry an
    unmasked variant of it), so it raises rather than being ignored.
    """
    found: list[tuple[int, int]] = []
    for secret in secrets:
        if not secret:
            continue
        start = text.find(secret)
        if start == -1:
            raise ValueError("Every secret must occur verbatim in the message body.")
        while start != -1:
            found.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    merged: list[list[int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def mask_spans(text: str, spans: Sequence[Sequence[int]]) -> str:
    """``text`` with every span replaced by as many mask characters, so positions still hold."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = MASK * (end - start)
    return "".join(chars)


def mask_recipient(recipient: str) -> str:
    """Enough of an address or number for a person to recognise it, not enough to use it.

    ``jane.doe@hms.harvard.edu`` becomes ``j•••@hms.harvard.edu``; ``+16175551234`` becomes
    ``+•••••••••34``.
    """
    if "@" in recipient:
        local, _, domain = recipient.rpartition("@")
        return f"{local[:1]}{MASK * 3}@{domain}"
    digits = [i for i, c in enumerate(recipient) if c.isdigit()]
    keep = set(digits[-2:])
    return "".join(c if (i in keep or not c.isdigit()) else MASK for i, c in enumerate(recipient))
