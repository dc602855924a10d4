"""Ledger integrity pages. Included from muster.urls at "/"."""

from django.urls import path

from muster.custody import views_ledger as views

urlpatterns = [
    path("ledger/", views.LedgerIntegrityView.as_view(), name="ledger-integrity"),
    path("ledger/checkpoints/<int:pk>.json", views.CheckpointFileView.as_view(), name="ledger-checkpoint-file"),
    path("ledger/public-key.txt", views.PublicKeyView.as_view(), name="ledger-public-key"),
    path("ledger/export.jsonl", views.LedgerExportView.as_view(), name="ledger-export"),
]
