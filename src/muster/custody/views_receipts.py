"""PDF downloads: hand receipts (web and API) and QR label sheets (web).

The web views and the API views share the lookups and builders below; only the error mapping differs (a web page
answers 404/403 through core.views.page_lookup, the API through core.api's exception handler).
"""

import re

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from django.views import View
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.views import APIView

from muster.core.api import error_responses
from muster.core.api_input import path_id
from muster.core.errors import NotFound
from muster.core.views import page_lookup
from muster.custody import labels, queries, receipts
from muster.custody.filters import ItemFilterSet
from muster.custody.views_reports import armory_items
from muster.members import scope
from muster.members.models import Account, Member, Role

# Who may print a unit's member badges: the people who hand out badges and check them at the counter.
BADGE_PRINTERS = frozenset({Role.COMMANDER, Role.ARMORER})
# query parameter → ItemFilterSet field; "item_type" too, so the armory page can pass its own filter query on.
LABEL_FILTERS = {"type": "item_type", "item_type": "item_type", "state": "state", "q": "q", "condition": "condition"}


def pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", filename)
    response["Content-Disposition"] = f'inline; filename="{safe}"'
    response["Cache-Control"] = "no-store"  # papers about who holds which weapon stay out of shared caches
    return response


def event_receipt_response(account: Account, seq: int) -> HttpResponse:
    event = receipts.find_event(account, seq)
    if event is None:
        raise NotFound(f"No ledger event #{seq} in your units.", code="event_not_found")
    content = receipts.event_receipt(event, printed_by=account)
    return pdf_response(content, f"hand-receipt-{event.seq}-{event.kind}.pdf")


def member_receipt_response(account: Account, member_no: str) -> HttpResponse:
    member = queries.find_member(account, member_no)
    content = receipts.member_hand_receipt(receipts.member_holdings(account, member), printed_by=account)
    return pdf_response(content, f"hand-receipt-{member.member_no}-{timezone.localdate():%Y-%m-%d}.pdf")


# --- web -----------------------------------------------------------------------------------------------------------


class EventReceiptView(LoginRequiredMixin, View):
    def get(self, request, seq: int):
        with page_lookup():
            return event_receipt_response(request.user, seq)


class MemberHandReceiptView(LoginRequiredMixin, View):
    def get(self, request, member_no: str):
        with page_lookup():
            return member_receipt_response(request.user, member_no)


class ArmoryLabelsView(LoginRequiredMixin, View):
    """Item labels of what the armory page lists (staff of its units), narrowed like that page:
    ?type=<id>&state=...&q=..."""

    def get(self, request, code: str):
        with page_lookup():
            armory = queries.find_armory(request.user, code)
        data = {field: request.GET[param] for param, field in LABEL_FILTERS.items() if request.GET.get(param)}
        items = armory_items(request.user, armory)  # the items the armory page lists
        filterset = ItemFilterSet(data, queryset=items)
        if not filterset.is_valid():
            fields = {"item_type": "type"}
            problems = "; ".join(
                f"{fields.get(name, name)}: {' '.join(messages)}" for name, messages in filterset.errors.items()
            )
            return HttpResponseBadRequest(f"Invalid label filter — {problems}", content_type="text/plain")
        content = labels.armory_sheet(filterset.qs, armory, printed_by=request.user)
        return pdf_response(content, f"labels-{armory.code}.pdf")


class UnitBadgesView(LoginRequiredMixin, View):
    """Badges for the members of a unit and its sub-units (departed members left out): commanders and armorers."""

    def get(self, request, code: str):
        unit = scope.units(request.user, scope.STAFF_ROLES).filter(code=code).first()
        if unit is None:
            raise Http404(f"No unit {code!r} in your units.")
        if not scope.has_role(request.user, unit, BADGE_PRINTERS):
            raise PermissionDenied(f"Badges of {unit.code} are printed by its commanders and armorers.")
        members = Member.objects.filter(unit__path__startswith=unit.path).exclude(status=Member.Status.DEPARTED)
        content = labels.badge_sheet(members, unit, printed_by=request.user)
        return pdf_response(content, f"badges-{unit.code}.pdf")


# --- API -----------------------------------------------------------------------------------------------------------


class PDFRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/pdf`; the views return the PDF bytes themselves."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class PDFAPIView(APIView):
    renderer_classes = [JSONRenderer, PDFRenderer]

    def handle_exception(self, exc):
        # Errors are JSON {"code", "detail"} like everywhere in the API, even when the client asked for a PDF.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


_PDF_RESPONSES = {
    (200, "application/pdf"): OpenApiResponse(response=OpenApiTypes.BINARY, description="The PDF"),
    **error_responses(401, 404),
}


class EventReceiptAPIView(PDFAPIView):
    @extend_schema(
        operation_id="ledger_receipt",
        tags=["ledger"],
        summary="The hand receipt of one ledger event, as a PDF",
        description="Item, both parties, the acting account, due-back, reason, PIN confirmations or override, and "
        "the event's sequence number and hashes, with signature lines. 404 for an event the caller may not see.",
        parameters=[OpenApiParameter("seq", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses=_PDF_RESPONSES,
    )
    def get(self, request, seq: str):
        number = path_id(seq)
        if number is None:
            raise NotFound(f"No ledger event #{seq} in your units.", code="event_not_found")
        return event_receipt_response(request.user, number)


class MemberHandReceiptAPIView(PDFAPIView):
    @extend_schema(
        operation_id="member_hand_receipt",
        tags=["members"],
        summary="A member's current sub-hand receipt, as a PDF",
        description="Every item the member holds now (within the caller's units), with the event that gave it to "
        "them and its due-back time; every quantity of a lot they hold (lot number, type, quantity, due-back time, "
        "the latest issue of it to them); and a statement for the member to sign. 404 outside the caller's units.",
        responses=_PDF_RESPONSES,
    )
    def get(self, request, member_no: str):
        return member_receipt_response(request.user, member_no)
