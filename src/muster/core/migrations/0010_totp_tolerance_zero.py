"""TOTP codes count for their own 30-second step only (docs/security.md, ASVS 6.5.5): devices set up before this
change accepted one step either way. New devices are created with tolerance 0 by core.otp.start_enrolment."""

from django.db import migrations


def no_tolerance(apps, schema_editor):
    apps.get_model("otp_totp", "TOTPDevice").objects.update(tolerance=0)


def one_step(apps, schema_editor):
    apps.get_model("otp_totp", "TOTPDevice").objects.update(tolerance=1)


class Migration(migrations.Migration):
    dependencies = [("core", "0009_audit_append_only"), ("otp_totp", "0003_add_timestamps")]

    operations = [migrations.RunPython(no_tolerance, one_step)]
