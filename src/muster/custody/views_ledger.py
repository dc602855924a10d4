"""The ledger integrity page: the head, this server's public key, the signed checkpoints to carry off the server, a
checkpoint on demand, and the whole-ledger export (docs/ledger.md). Thin: custody.checkpoints decides who may."""

import json

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views import View

from muster.core import audit
from muster.core.errors import DomainError
from muster.core.models import AuditEvent
from muster.core.views import nav_flags, page_lookup
from muster.custody import checkpoints, export
from muster.custody.models import LedgerCheckpoint, LedgerHead

SHOWN = 20


class LedgerReaderMixin(LoginRequiredMixin):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        with page_lookup():
            checkpoints.require_reader(request.user)
        return super().dispatch(request, *args, **kwargs)


class LedgerIntegrityView(LedgerReaderMixin, View):
    def get(self, request):
        head = LedgerHead.objects.filter(pk=1).first()
        public_hex = checkpoints.public_key_or_none()
        context = {
            "nav": nav_flags(request.user),
            "head": head,
            "public_key": public_hex,
            "key_id": checkpoints.key_id(public_hex) if public_hex else "",
            "checkpoints": list(LedgerCheckpoint.objects.order_by("-created_at", "-pk")[:SHOWN]),
            "checkpoint_total": LedgerCheckpoint.objects.count(),
            "may_export": checkpoints.may_export(request.user),
        }
        return render(request, "custody/ledger_integrity.html", context)

    def post(self, request):
        try:
            made = checkpoints.make_checkpoint_for(actor=request.user)
        except DomainError as exc:
            messages.error(request, f"{exc.detail} ({exc.code})")
        else:
            messages.success(request, f"Checkpoint signed: {made.size} events, head {made.head_hash[:16]}…")
        return redirect("ledger-integrity")


class CheckpointFileView(LedgerReaderMixin, View):
    def get(self, request, pk: int):
        checkpoint = get_object_or_404(LedgerCheckpoint, pk=pk)
        try:
            document = checkpoints.document_of(checkpoint)
        except DomainError as exc:
            return HttpResponse(f"{exc.detail} ({exc.code})", status=exc.http_status, content_type="text/plain")
        response = HttpResponse(json.dumps(document, indent=2) + "\n", content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{checkpoints.file_name(checkpoint)}"'
        return response


class PublicKeyView(LedgerReaderMixin, View):
    def get(self, request):
        try:
            public_hex = checkpoints.public_key_hex(checkpoints.load_private_key().public_key())
        except DomainError as exc:
            return HttpResponse(f"{exc.detail} ({exc.code})", status=exc.http_status, content_type="text/plain")
        response = HttpResponse(public_hex + "\n", content_type="text/plain")
        response["Content-Disposition"] = 'attachment; filename="muster-ledger-public-key.txt"'
        return response


class LedgerExportView(LedgerReaderMixin, View):
    """The whole ledger as JSON Lines, streamed; for superusers and commanders and auditors of a top unit."""

    def get(self, request):
        if not checkpoints.may_export(request.user):
            raise PermissionDenied("The whole-ledger export is for commanders and auditors of a top unit.")
        audit.record(AuditEvent.Kind.EXPORT, request=request, account=request.user, detail="ledger export (JSONL)")
        response = StreamingHttpResponse(export.lines(), content_type="application/x-ndjson")
        response["Content-Disposition"] = f'attachment; filename="muster-ledger-{timezone.localdate():%Y-%m-%d}.jsonl"'
        return response
