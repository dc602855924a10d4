"""Two audit kinds (docs/security.md, ASVS 16.3.3): `rule_refused` (a business rule refused a request, 409 or
the CLI's exit 3) and `throttled` (an API request over its rate, 429; one record per caller and rate a minute)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0010_totp_tolerance_zero'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='kind',
            field=models.CharField(choices=[('login', 'Logged in'), ('logout', 'Logged out'), ('login_failed', 'Login failed'), ('refused', 'Authorization refused'), ('export', 'Personal data exported'), ('otp_enrolled', 'Two-factor set up'), ('otp_verified', 'Two-factor code accepted'), ('otp_failed', 'Two-factor code refused'), ('otp_reset', 'Two-factor reset'), ('policy_changed', 'Custody policy changed'), ('password_changed', 'Password changed'), ('sessions_ended', 'Sessions ended'), ('token_issued', 'API token handed out'), ('countersigned', 'Countersign password accepted'), ('rule_refused', 'Refused by a rule'), ('throttled', 'Over the request rate')], max_length=16),
        ),
    ]
