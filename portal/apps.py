from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """The Django admin, served by the portal's own site (``portal.admin.PortalAdminSite``)."""

    default_site = "portal.admin.PortalAdminSite"
