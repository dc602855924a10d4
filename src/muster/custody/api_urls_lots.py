"""API routes under /api/v1/ (namespace "api"); included from muster/api_urls.py."""

from django.urls import path

from muster.custody import api_lots

# A non-number id answers 404 in JSON from the view (the schema says integer: core.api_input.ID_PARAMETER).
lot = "lots/<str:pk>"

urlpatterns: list = [
    path("lots/", api_lots.LotViewSet.as_view({"get": "list"}), name="lot-list"),
    path("lots/receive", api_lots.ReceiveView.as_view(), name="lot-receive"),
    path(f"{lot}/", api_lots.LotViewSet.as_view({"get": "retrieve"}), name="lot-detail"),
    path(f"{lot}/issue", api_lots.IssueView.as_view(), name="lot-issue"),
    path(f"{lot}/return", api_lots.ReturnView.as_view(), name="lot-return"),
    path(f"{lot}/expend", api_lots.ExpendView.as_view(), name="lot-expend"),
    path(f"{lot}/settle", api_lots.SettleView.as_view(), name="lot-settle"),
    path(f"{lot}/loss", api_lots.LossView.as_view(), name="lot-loss"),
    path(f"{lot}/recall", api_lots.RecallView.as_view(), name="lot-recall"),
    path("loss-cases/<str:pk>/recover-lot", api_lots.RecoverView.as_view(), name="loss-case-recover-lot"),
]
