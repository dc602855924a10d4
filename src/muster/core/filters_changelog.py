"""The change log's filters, shared by the web list (/changes/) and the API list (/api/v1/changes/)."""

from datetime import datetime, time, timedelta

import django_filters
from django.apps import apps
from django.db.models import Q
from django.utils import timezone

from muster.core.changelog import LOGGED_TYPES
from muster.core.models import ChangeRecord
from muster.members.models import Member, Unit


def _type_choices() -> list[tuple[str, str]]:
    return [(name, apps.get_model(name)._meta.verbose_name.capitalize()) for name in LOGGED_TYPES]


def _midnight(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class ChangeRecordFilterSet(django_filters.FilterSet):
    unit = django_filters.CharFilter(method="in_unit", label="Unit code (and its sub-units)")
    object_type = django_filters.ChoiceFilter(choices=_type_choices, label="Record type", empty_label="Any type")
    object_id = django_filters.CharFilter(label="Record id (with the type)")
    member = django_filters.CharFilter(method="about_member", label="Member no. (the member and their records)")
    actor = django_filters.CharFilter(field_name="actor_name", lookup_expr="iexact", label="Changed by (username)")
    action = django_filters.ChoiceFilter(choices=ChangeRecord.Action.choices, empty_label="Any action")
    since = django_filters.DateFilter(method="on_or_after", label="From (date)")
    until = django_filters.DateFilter(method="on_or_before", label="To (date)")

    class Meta:
        model = ChangeRecord
        fields = []  # all declared above

    def in_unit(self, queryset, name, value):
        unit = Unit.objects.filter(code=value).first()
        if unit is None:
            return queryset.none()
        return queryset.filter(unit__path__startswith=unit.path)

    def about_member(self, queryset, name, value):
        # Resolve the number first: two indexed (type, id) lookups, not a join per row.
        member_id = Member.objects.filter(member_no=value).values_list("pk", flat=True).first()
        if member_id is None:
            return queryset.none()
        member = Member._meta.label_lower
        return queryset.filter(
            Q(object_type=member, object_id=str(member_id)) | Q(related_type=member, related_id=str(member_id))
        )

    # Whole local days, as a range on the indexed time (a __date lookup would wrap the column in a function).
    def on_or_after(self, queryset, name, value):
        return queryset.filter(at__gte=_midnight(value))

    def on_or_before(self, queryset, name, value):
        return queryset.filter(at__lt=_midnight(value + timedelta(days=1)))
