"""Filter sets shared by the web lists and the API lists."""

import django_filters
from django.db.models import Q

from muster.members.models import Member, Unit


class UnitFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    parent = django_filters.CharFilter(field_name="parent__code", label="Parent unit code")

    class Meta:
        model = Unit
        fields = ["kind"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value))


class MemberFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Name or number")
    unit = django_filters.CharFilter(method="in_unit", label="Unit code (and its sub-units)")

    class Meta:
        model = Member
        fields = ["status", "is_veteran"]

    def search(self, queryset, name, value):
        query = Q(member_no__iexact=value)
        for word in value.split():
            query |= Q(first_name__icontains=word) | Q(last_name__icontains=word)
        return queryset.filter(query)

    def in_unit(self, queryset, name, value):
        unit = Unit.objects.filter(code=value).first()
        if unit is None:
            return queryset.none()
        return queryset.filter(unit__path__startswith=unit.path)
