"""Filter sets shared by the web lists and the API lists."""

import django_filters

from muster.members.models import Unit
from muster.training.models import TrainingSession


class TrainingSessionFilterSet(django_filters.FilterSet):
    course = django_filters.CharFilter(field_name="course__code", label="Course code")
    unit = django_filters.CharFilter(method="in_unit", label="Unit code (and its sub-units)")
    status = django_filters.ChoiceFilter(choices=TrainingSession.Status.choices)

    class Meta:
        model = TrainingSession
        fields = []  # all declared above (and "from"/"to" below)

    def in_unit(self, queryset, name, value):
        unit = Unit.objects.filter(code=value).first()
        if unit is None:
            return queryset.none()
        return queryset.filter(unit__path__startswith=unit.path)


# "from" is a Python keyword, so these two cannot be declared in the class body.
TrainingSessionFilterSet.base_filters["from"] = django_filters.DateFilter(
    field_name="starts_at", lookup_expr="date__gte", label="Starting on or after (date)"
)
TrainingSessionFilterSet.base_filters["to"] = django_filters.DateFilter(
    field_name="starts_at", lookup_expr="date__lte", label="Starting on or before (date)"
)
