"""API error mapping: one place turns domain errors into HTTP answers with a stable `{code, detail}` body."""

from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from muster.core.errors import DomainError, NotFound


def exception_handler(exc, context):
    if isinstance(exc, NotFound):
        exc = Http404(exc.detail)
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.http_status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        response.data = {"code": "invalid", "detail": "The request is not valid.", "errors": response.data}
    elif isinstance(exc, APIException):
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        response.data = {
            "code": exc.get_codes() if isinstance(exc.get_codes(), str) else "error",
            "detail": detail,
        }
    elif response.status_code == status.HTTP_404_NOT_FOUND:
        response.data = {"code": "not_found", "detail": "Not found."}
    return response
