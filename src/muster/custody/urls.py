from django.urls import path

from muster.custody import views, views_reports

urlpatterns = [
    # The dashboard is about custody (armories, what is out, what is overdue), so custody serves it.
    path("", views.HomeView.as_view(), name="home"),
    path("armories/", views.ArmoryListView.as_view(), name="armory-index"),
    path("armories/<str:code>/", views.ArmoryDetailView.as_view(), name="armory-page"),
    path("items/<int:pk>/", views.ItemDetailView.as_view(), name="item-page"),
    path("custody/issue/", views.IssueView.as_view(), name="custody-issue"),
    path("custody/return/", views.ReturnView.as_view(), name="custody-return"),
    path("custody/transfer/", views.TransferView.as_view(), name="custody-transfer"),
    path("custody/overrides/", views_reports.OverridesView.as_view(), name="custody-overrides"),
    path("members/<str:member_no>/handover-pin/", views_reports.SetPinView.as_view(), name="member-handover-pin"),
]
