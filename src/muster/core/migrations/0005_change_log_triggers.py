from django.db import migrations

from muster.core.changelog_triggers import install_from_migration, uninstall_from_migration


class Migration(migrations.Migration):
    dependencies = [("core", "0004_change_log")]

    operations = [migrations.RunPython(install_from_migration, uninstall_from_migration)]
