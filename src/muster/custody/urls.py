from django.urls import path

from muster.custody import views, views_controls, views_counts, views_reports

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

# Loss cases and maintenance (views_controls), counts (views_counts); the item and armory pages load their panels
# from these.
urlpatterns += [
    path("items/<int:pk>/controls/", views_controls.ItemControlsView.as_view(), name="item-controls"),
    path("items/<int:pk>/report-loss/", views_controls.ReportLossView.as_view(), name="loss-report"),
    path("items/<int:pk>/maintenance/send/", views_controls.SendForMaintenanceView.as_view(), name="maintenance-send"),
    path(
        "items/<int:pk>/maintenance/receive/",
        views_controls.ReceiveFromMaintenanceView.as_view(),
        name="maintenance-receive",
    ),
    path("custody/inspections/", views_controls.InspectionListView.as_view(), name="inspection-index"),
    path("custody/losses/", views_controls.LossListView.as_view(), name="loss-index"),
    path("custody/losses/<int:pk>/", views_controls.LossCaseView.as_view(), name="loss-page"),
    path("armories/<str:code>/counts/", views_counts.ArmoryCountsView.as_view(), name="armory-counts"),
    path("custody/counts/<int:pk>/", views_counts.CountView.as_view(), name="count-page"),
    path("custody/counts/<int:pk>/scan/", views_counts.CountScanView.as_view(), name="count-scan"),
    path("custody/counts/<int:pk>/submit/", views_counts.CountStepView.as_view(step="submit"), name="count-submit"),
    path("custody/counts/<int:pk>/sign/", views_counts.CountStepView.as_view(step="sign"), name="count-sign"),
    path(
        "custody/counts/<int:pk>/discrepancies/<int:discrepancy_pk>/resolve/",
        views_counts.ResolveDiscrepancyView.as_view(),
        name="count-resolve",
    ),
]
