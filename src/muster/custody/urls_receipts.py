"""PDF paths: hand receipts (web and API) and label sheets. Included from muster.urls before the custody pages.

The API paths are spelled out here (under api/v1/) rather than in api_urls.py, so they are not in the "api"
namespace: reverse them as "api-ledger-receipt" and "api-member-hand-receipt".
"""

from django.urls import path

from muster.custody import views_receipts as views

urlpatterns = [
    path("custody/events/<int:seq>/receipt.pdf", views.EventReceiptView.as_view(), name="event-receipt"),
    path("members/<str:member_no>/hand-receipt.pdf", views.MemberHandReceiptView.as_view(), name="member-hand-receipt"),
    path("armories/<str:code>/labels.pdf", views.ArmoryLabelsView.as_view(), name="armory-labels"),
    path("units/<str:code>/badges.pdf", views.UnitBadgesView.as_view(), name="unit-badges"),
    # <str:seq>: a seq that is not a number answers the API's JSON 404 (event_not_found), not Django's HTML page.
    path("api/v1/ledger/<str:seq>/receipt.pdf", views.EventReceiptAPIView.as_view(), name="api-ledger-receipt"),
    path(
        "api/v1/members/<str:member_no>/hand-receipt.pdf",
        views.MemberHandReceiptAPIView.as_view(),
        name="api-member-hand-receipt",
    ),
]
