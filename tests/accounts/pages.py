"""The addresses of the journeys' pages (sign-in, registration, recovery, change), shared by
their test modules."""

from __future__ import annotations

from django.urls import reverse

LOGIN = reverse("accounts:login")

UNLOCK = reverse("accounts:unlock")
UNLOCK_SEND = reverse("accounts:unlock_send")
UNLOCK_CODE = reverse("accounts:unlock_code")
UNLOCK_DONE = reverse("accounts:unlock_done")

FORGOT = reverse("accounts:password_forgot")
FORGOT_SEND = reverse("accounts:password_forgot_send")
FORGOT_CODE = reverse("accounts:password_forgot_code")
FORGOT_NEW = reverse("accounts:password_forgot_new")
FORGOT_DONE = reverse("accounts:password_forgot_done")

REGISTER = reverse("accounts:register")
REGISTER_CODE = reverse("accounts:register_code")
REGISTER_ACCOUNT = reverse("accounts:register_account")

CHANGE = reverse("accounts:password_change")
CHANGE_SEND = reverse("accounts:password_change_send")
CHANGE_CODE = reverse("accounts:password_change_code")
CHANGE_NEW = reverse("accounts:password_change_new")

EXPIRED = reverse("accounts:password_expired")
