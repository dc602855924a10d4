"""Overdue lot quantities escalate like overdue items: which notices were sent for a member's balance of a lot."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("custody", "0014_count_resolution"),
    ]

    operations = [
        migrations.CreateModel(
            name="LotOverdueNotice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("due_at", models.DateTimeField()),
                (
                    "level",
                    models.CharField(
                        choices=[("armorer", "Armorers notified"), ("commander", "Commanders notified")], max_length=16
                    ),
                ),
                ("sent_at", models.DateTimeField()),
                (
                    "balance",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="overdue_notices",
                        to="custody.lotbalance",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("balance", "due_at", "level"), name="lot_overdue_notice_once_per_level"
                    )
                ],
            },
        ),
    ]
