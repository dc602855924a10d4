"""Counts: discrepancies resolved before signing, missing items found only by a re-scan, reminders, and the end of
the per-armory count policy (every armory follows its unit's custody policy; see docs/decisions.md, 2026-12-02).

An armory's own CountPolicy row, where one exists, is carried up to its unit's policy for the count rules that
unit does not set itself; where several armories of a unit had rows, the strictest values win (counter rotates
and second signature if any says so, the most frequent schedule).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FREQUENCIES = ["daily", "weekly", "monthly", "quarterly"]  # most frequent first


def carry_armory_rules_to_units(apps, schema_editor):
    CountPolicy = apps.get_model("custody", "CountPolicy")
    UnitPolicy = apps.get_model("custody", "UnitPolicy")
    by_unit: dict[int, list] = {}
    for row in CountPolicy.objects.select_related("armory"):
        by_unit.setdefault(row.armory.unit_id, []).append(row)
    for unit_id, rows in by_unit.items():
        policy, _ = UnitPolicy.objects.get_or_create(unit_id=unit_id)
        if policy.counter_rotates is None:
            policy.counter_rotates = any(row.counter_rotates for row in rows)
        if policy.second_signature is None:
            policy.second_signature = any(row.second_signature for row in rows)
        if policy.count_frequency is None:
            policy.count_frequency = min((row.frequency for row in rows), key=FREQUENCIES.index)
        policy.save()


class Migration(migrations.Migration):
    dependencies = [
        ("custody", "0013_armory_tally"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(carry_armory_rules_to_units, migrations.RunPython.noop),
        migrations.DeleteModel(name="CountPolicy"),
        migrations.AddField(
            model_name="countscan",
            name="rescan",
            field=models.BooleanField(
                default=False, help_text="Scanned after submission: a missing item shown to be back on the shelf"
            ),
        ),
        migrations.AddField(
            model_name="countscan",
            name="scanned_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="discrepancy",
            name="armorers_reminded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="discrepancy",
            name="commanders_reminded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="discrepancy",
            name="found_scan",
            field=models.ForeignKey(
                blank=True,
                help_text="The re-scan that showed a missing item back on the shelf",
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="custody.countscan",
            ),
        ),
        migrations.AddConstraint(
            model_name="countscan",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("rescan", False), models.Q(("item__isnull", False), ("scanned_by__isnull", False)), _connector="OR"
                ),
                name="count_rescan_names_item_and_person",
            ),
        ),
        migrations.AddConstraint(
            model_name="discrepancy",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("resolution", ""),
                    models.Q(models.Q(("explanation", ""), _negated=True), ("resolved_by__isnull", False)),
                    _connector="OR",
                ),
                name="discrepancy_resolution_explained",
            ),
        ),
    ]
