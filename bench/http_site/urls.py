"""Muster's URLs plus the reference of bench_http: a bare Django JSON view behind the same middleware."""

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def bare(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("bench-bare/", bare), path("", include("muster.urls"))]
