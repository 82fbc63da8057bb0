"""Objects named by dotted paths in a setting: sign-in stages, post-sign-in requirements and
reset proofs are declared that way, so that the app that owns one adds it without the app
that runs them importing it."""

from __future__ import annotations

from functools import lru_cache

from django.utils.module_loading import import_string


@lru_cache(maxsize=32)
def instances(paths: tuple[str, ...]) -> tuple:
    """One instance of each class in ``paths``, in order, made once per list: read the setting
    at each call and pass it here, so that ``override_settings`` still changes the list."""
    return tuple(import_string(path)() for path in paths)
