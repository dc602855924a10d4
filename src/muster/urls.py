from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    # Browsers ask for /favicon.ico on pages that name no icon (admin, API docs).
    path("favicon.ico", RedirectView.as_view(url=static("muster/favicon.svg"), permanent=True)),
    path("", include("muster.core.urls")),
    path("", include("muster.core.urls_otp")),
    path("", include("muster.core.urls_changelog")),
    path("", include("muster.core.urls_notifications")),
    path("", include("muster.members.urls")),
    path("", include("muster.custody.urls_receipts")),
    path("", include("muster.custody.urls")),
    path("", include("muster.custody.urls_counter")),
    path("", include("muster.custody.urls_dashboard")),
    path("", include("muster.custody.urls_lots")),
    path("", include("muster.custody.urls_policy")),
    path("", include("muster.custody.urls_ledger")),
    path("", include("muster.training.urls")),
    path("api/", include("muster.api_urls")),
    path("admin/", admin.site.urls),
]
