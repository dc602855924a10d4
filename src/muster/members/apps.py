from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "muster.members"
    label = "members"
    verbose_name = "Roster"
