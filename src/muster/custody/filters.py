"""Filter sets shared by the web lists and the API lists."""

import django_filters
from django.db.models import Q

from muster.custody.models import HolderKind, Item, ItemType, LedgerEvent


class ItemFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Serial")
    item_type = django_filters.ModelChoiceFilter(queryset=ItemType.objects.all())
    category = django_filters.ChoiceFilter(field_name="item_type__category", choices=ItemType.Category.choices)
    state = django_filters.ChoiceFilter(
        method="by_state",
        choices=[("in_armory", "In armory"), ("issued", "Issued"), ("overdue", "Overdue")],
        label="State",
    )
    armory = django_filters.CharFilter(field_name="home_armory__code", label="Home armory code")
    holder_member = django_filters.CharFilter(field_name="holder_member__member_no", label="Held by member no.")

    class Meta:
        model = Item
        fields = ["condition"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(serial_number__icontains=value.strip()) | Q(markings__icontains=value.strip()))

    def by_state(self, queryset, name, value):
        from django.utils import timezone

        if value == "in_armory":
            return queryset.filter(holder_kind=HolderKind.ARMORY)
        if value == "issued":
            return queryset.filter(holder_kind=HolderKind.MEMBER)
        if value == "overdue":
            return queryset.filter(holder_kind=HolderKind.MEMBER, due_at__lt=timezone.now())
        return queryset


class LedgerFilterSet(django_filters.FilterSet):
    item = django_filters.NumberFilter(field_name="item_id", label="Item id")
    serial = django_filters.CharFilter(field_name="item__serial_number", label="Item serial number")
    member = django_filters.CharFilter(method="by_member", label="Member no. (either side of the handover)")
    since = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="lt")
    after_seq = django_filters.NumberFilter(field_name="seq", lookup_expr="gt")

    class Meta:
        model = LedgerEvent
        fields = ["kind"]

    def by_member(self, queryset, name, value):
        # Resolve the number first: an OR over two joins defeats the (from_member, seq) and (to_member, seq)
        # indexes on a ledger of millions of events, while an OR over two ids uses both.
        from muster.members.models import Member

        member_id = Member.objects.filter(member_no=value).values_list("pk", flat=True).first()
        if member_id is None:
            return queryset.none()
        return queryset.filter(Q(from_member_id=member_id) | Q(to_member_id=member_id))
