"""/api/: the OpenAPI schema and its Swagger UI, the token endpoint, and version 1 of the REST API.

Collections end in a slash (the router's style); actions that change something (custody/issue,
custody/transfer, members/{no}/status, members/{no}/pin, training-sessions/{id}/enroll, …) do not.
"""

from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import DefaultRouter

from muster.core.api import ObtainTokenView
from muster.custody import api as custody_api
from muster.custody import api_actions as custody_actions
from muster.custody import api_controls as custody_controls
from muster.custody import api_counts as custody_counts
from muster.custody import api_handover as custody_handover
from muster.custody import api_reports as custody_reports
from muster.members import api as members_api
from muster.training import api as training_api
from muster.training import api_records as training_records

# Namespaced, so route names such as "item-detail" never collide with the web pages' names.
app_name = "api"

router = DefaultRouter()
router.register("units", members_api.UnitViewSet, basename="unit")
router.register("members", members_api.MemberViewSet, basename="member")
router.register("qualifications", training_api.QualificationViewSet, basename="qualification")
router.register("courses", training_api.CourseViewSet, basename="course")
router.register("training-sessions", training_api.TrainingSessionViewSet, basename="training-session")
router.register("item-types", custody_api.ItemTypeViewSet, basename="itemtype")
router.register("armories", custody_api.ArmoryViewSet, basename="armory")
router.register("items", custody_api.ItemViewSet, basename="item")
router.register("recalls", custody_reports.RecallViewSet, basename="recall")
router.register("ledger", custody_api.LedgerViewSet, basename="ledger")
router.register("loss-cases", custody_controls.LossCaseViewSet, basename="loss-case")
router.register("counts", custody_counts.CountViewSet, basename="count")

# The schema and docs describe every endpoint to any signed-in account (SERVE_PUBLIC), but not to strangers.
_signed_in = {"permission_classes": [IsAuthenticated]}

member = "v1/members/<str:member_no>"
# Ids in these paths are read by the views (a non-number answers 404 in JSON, like an unknown id); the views'
# schema declares them as integers (core.api_input.ID_PARAMETER).
session = "v1/training-sessions/<str:pk>"
loss_case = "v1/loss-cases/<str:pk>"
count = "v1/counts/<str:pk>"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(**_signed_in), name="schema"),
    # The split view serves Swagger UI's start-up script from a URL, so the docs work under our CSP.
    # Swagger UI sets inline styles as it renders: allowed on this page only, scripts stay 'self'.
    path(
        "docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema", **_signed_in)
        ),
        name="docs",
    ),
    path("v1/auth/token", ObtainTokenView.as_view(), name="token"),
    path("v1/custody/issue", custody_actions.IssueView.as_view(), name="custody-issue"),
    path("v1/custody/return", custody_actions.ReturnView.as_view(), name="custody-return"),
    path("v1/custody/transfer", custody_handover.TransferView.as_view(), name="custody-transfer"),
    path(f"{member}/status", members_api.MemberStatusView.as_view(), name="member-status"),
    path(f"{member}/pin", custody_handover.MemberPinView.as_view(), name="member-pin"),
    path(f"{member}/status-history/", members_api.StatusHistoryView.as_view(), name="member-status-history"),
    path(f"{member}/vettings/", members_api.VettingsView.as_view(), name="member-vettings"),
    path(f"{member}/disciplinary/", members_api.DisciplinaryView.as_view(), name="member-disciplinary"),
    path(
        f"{member}/qualifications/", training_records.MemberQualificationsView.as_view(), name="member-qualifications"
    ),
    path(f"{member}/qualifications/prior-service", training_records.PriorServiceView.as_view(), name="prior-service"),
    path(f"{session}/enroll", training_api.EnrollView.as_view(), name="training-session-enroll"),
    path(f"{session}/results", training_api.ResultsView.as_view(), name="training-session-results"),
    path(f"{session}/cancel", training_api.CancelView.as_view(), name="training-session-cancel"),
    path("v1/reports/expiring/", training_records.ExpiringReportView.as_view(), name="report-expiring"),
    path(
        "v1/reports/overrides/",
        custody_reports.OverrideReportViewSet.as_view({"get": "list"}),
        name="report-overrides",
    ),
    path("v1/custody/maintenance/send", custody_controls.MaintenanceSendView.as_view(), name="maintenance-send"),
    path(
        "v1/custody/maintenance/receive", custody_controls.MaintenanceReceiveView.as_view(), name="maintenance-receive"
    ),
    path(
        "v1/reports/inspections/",
        custody_controls.InspectionReportViewSet.as_view({"get": "list"}),
        name="report-inspections",
    ),
    path(f"{loss_case}/report", custody_controls.ReportView.as_view(), name="loss-case-report"),
    path(f"{loss_case}/recover", custody_controls.RecoverView.as_view(), name="loss-case-recover"),
    path(f"{count}/scan", custody_counts.ScanView.as_view(), name="count-scan"),
    path(f"{count}/submit", custody_counts.SubmitView.as_view(), name="count-submit"),
    path(f"{count}/sign", custody_counts.SignView.as_view(), name="count-sign"),
    path("v1/counts/discrepancies/<str:pk>/resolve", custody_counts.ResolveView.as_view(), name="discrepancy-resolve"),
    # Feature route modules (their own routers and paths, names in this namespace).
    path("v1/", include("muster.custody.api_urls_lots")),
    path("v1/", include("muster.custody.api_urls_policy")),
    path("v1/", include("muster.custody.api_urls_dashboard")),
    path("v1/", include("muster.core.api_urls_changelog")),
    path("v1/", include("muster.core.api_urls_notifications")),
    path("v1/", include(router.urls)),
]
