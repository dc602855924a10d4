from django.db import migrations

from muster.core.audit_triggers import install_from_migration, uninstall_from_migration


class Migration(migrations.Migration):
    dependencies = [("core", "0008_account_sessions_audit_kinds")]

    operations = [migrations.RunPython(install_from_migration, uninstall_from_migration)]
