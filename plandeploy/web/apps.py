"""Django app of the server-rendered pages."""

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "plandeploy.web"
    label = "web"
    verbose_name = "Web pages"
