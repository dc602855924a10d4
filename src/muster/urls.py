from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("muster.core.urls")),
    path("", include("muster.members.urls")),
    path("", include("muster.custody.urls_receipts")),
    path("", include("muster.custody.urls")),
    path("", include("muster.training.urls")),
    path("api/", include("muster.api_urls")),
    path("admin/", admin.site.urls),
]
