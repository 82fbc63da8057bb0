"""Delivery backends: one class per provider, chosen by dotted path in settings.

A backend's ``send`` takes an :class:`~delivery.backends.base.Outgoing` and returns the
provider's identifier for it, or raises :class:`~delivery.backends.base.TransientDeliveryError`
(worth retrying) or :class:`~delivery.backends.base.PermanentDeliveryError` (never will work).
"""
