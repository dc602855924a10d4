from django.db import migrations

from muster.custody.triggers import install_from_migration, uninstall_from_migration

GENESIS = "0" * 64


def create_head(apps, schema_editor):
    apps.get_model("custody", "LedgerHead").objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS})


class Migration(migrations.Migration):
    dependencies = [("custody", "0002_initial")]

    operations = [
        migrations.RunPython(create_head, migrations.RunPython.noop),
        migrations.RunPython(install_from_migration, uninstall_from_migration),
    ]
