from django.apps import AppConfig


class SafecodeConfig(AppConfig):
    name = "safecode"
    verbose_name = "SafeCode"
