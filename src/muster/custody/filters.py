"""Filter sets shared by the web lists and the API lists."""

import django_filters
from django.db.models import Exists, OuterRef, Q

from muster.custody.models import Armory, HolderKind, Item, ItemType, LedgerEvent, LossCase, Recall
from muster.members.models import Unit


class ItemFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Serial")
    item_type = django_filters.ModelChoiceFilter(queryset=ItemType.objects.all())
    category = django_filters.ChoiceFilter(field_name="item_type__category", choices=ItemType.Category.choices)
    state = django_filters.ChoiceFilter(
        method="by_state",
        choices=[
            ("in_armory", "In armory"),
            ("issued", "Issued"),
            ("in_maintenance", "In maintenance"),
            ("overdue", "Overdue"),
            ("lost", "Lost"),
        ],
        label="State",
        help_text="The dashboard's five states, which exclude each other: an item with an open loss case is lost "
        "wherever it is; issued means held by a member and not yet due back",
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

        lost = Exists(LossCase.objects.filter(item=OuterRef("pk"), closed_at=None))
        workshop = Exists(Armory.objects.filter(pk=OuterRef("holder_armory_id"), kind=Armory.Kind.WORKSHOP))
        if value == "lost":
            return queryset.filter(lost)
        queryset = queryset.filter(~lost)
        if value in ("in_armory", "in_maintenance"):
            stores = queryset.filter(holder_kind=HolderKind.ARMORY)
            return stores.filter(workshop) if value == "in_maintenance" else stores.filter(~workshop)
        held, now = queryset.filter(holder_kind=HolderKind.MEMBER), timezone.now()
        if value == "overdue":
            return held.filter(due_at__lt=now)
        return held.filter(Q(due_at__isnull=True) | Q(due_at__gte=now))


class LedgerFilterSet(django_filters.FilterSet):
    item = django_filters.NumberFilter(field_name="item_id", label="Item id")
    serial = django_filters.CharFilter(field_name="item__serial_number", label="Item serial number")
    member = django_filters.CharFilter(method="by_member", label="Member no. (either side of the handover)")
    since = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="lt")
    after_seq = django_filters.NumberFilter(field_name="seq", lookup_expr="gt")
    # A choice, not a BooleanFilter: that one ignores a value it cannot read ("maybe") instead of answering 400.
    override = django_filters.ChoiceFilter(
        method="by_override",
        choices=[("true", "Only overridden issues"), ("false", "No overridden issues")],
        label="Issued on a commander's override",
    )

    class Meta:
        model = LedgerEvent
        fields = ["kind"]

    def by_override(self, queryset, name, value):
        if value == "true":
            return queryset.filter(data__has_key="override")
        return queryset.exclude(data__has_key="override")

    def by_member(self, queryset, name, value):
        # Resolve the number first: an OR over two joins defeats the (from_member, seq) and (to_member, seq)
        # indexes on a ledger of millions of events, while an OR over two ids uses both.
        from muster.members.models import Member

        member_id = Member.objects.filter(member_no=value).values_list("pk", flat=True).first()
        if member_id is None:
            return queryset.none()
        return queryset.filter(Q(from_member_id=member_id) | Q(to_member_id=member_id))


class RecallFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        method="by_state",
        choices=[("open", "Open"), ("resolved", "Resolved"), ("all", "All")],
        empty_label=None,
        label="State (default: open)",
    )
    armory = django_filters.CharFilter(field_name="item__home_armory__code", label="Home armory code")
    unit = django_filters.CharFilter(method="in_unit", label="Unit code (and its sub-units)")
    member = django_filters.CharFilter(field_name="member__member_no", label="Member no.")

    class Meta:
        model = Recall
        fields = ["reason"]

    def __init__(self, data=None, *args, **kwargs):
        # Open recalls unless asked otherwise: they are the ones someone must act on.
        if data is not None and not data.get("state"):
            data = data.copy()
            data["state"] = "open"
        super().__init__(data, *args, **kwargs)

    def by_state(self, queryset, name, value):
        if value == "open":
            return queryset.filter(resolved_at=None)
        if value == "resolved":
            return queryset.exclude(resolved_at=None)
        return queryset

    def in_unit(self, queryset, name, value):
        unit = Unit.objects.filter(code=value).first()
        if unit is None:
            return queryset.none()
        return queryset.filter(item__home_armory__unit__path__startswith=unit.path)
