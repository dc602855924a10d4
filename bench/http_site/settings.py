"""Muster's settings with one change for bench_http: the URLconf adds the bare reference view."""

from muster.settings import *  # noqa: F403

ROOT_URLCONF = "http_site.urls"
