from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and directory"

    def ready(self):
        from accounts import checks  # noqa: F401  (registers the system checks)
