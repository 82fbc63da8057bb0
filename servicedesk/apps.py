from importlib import import_module

from django.apps import AppConfig


class ServiceDeskConfig(AppConfig):
    name = "servicedesk"
    verbose_name = "Service desk"

    def ready(self):
        from servicedesk.actions import ACTION_MODULES

        for module in ACTION_MODULES:  # each registers its actions and panels
            import_module(f"servicedesk.actions.{module}")
        import_module("servicedesk.verification_views")  # the "verify" panel
