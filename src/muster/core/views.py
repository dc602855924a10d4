"""The web face's shared pieces: DomainError → response mapping, role gates, forms and pagination helpers.

Every web view maps a DomainError the same way: NotFound → 404 and NotPermitted → 403 when looking up the object a
page is about; inside a form every DomainError (the thing typed in does not exist, a rule refused it) becomes a form
error that shows its detail and code, with the error's HTTP status.
"""

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse

from muster.core import exports
from muster.core.errors import DomainError, NotFound, NotPermitted
from muster.members import scope
from muster.members.models import Account, Role

FORM_ERROR_STATUS = 400  # a form that fails its own field validation


@contextmanager
def page_lookup() -> Iterator[None]:
    """Turn a failed lookup of the page's own object into 404/403 (other errors propagate)."""
    try:
        yield
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    except NotPermitted as exc:
        raise PermissionDenied(exc.detail) from exc


def add_domain_error(form: Form, exc: DomainError) -> int:
    """Show a DomainError as a non-field form error; returns the HTTP status the re-rendered form answers with."""
    form.add_error(None, f"{exc.detail} [{exc.code}]")
    return exc.http_status


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def is_staff(account: Account) -> bool:
    return scope.has_any_staff_role(account)


def is_armorer(account: Account) -> bool:
    return bool(account.is_superuser or scope.unit_paths(account, {Role.ARMORER}))


def has_role_anywhere(account: Account, roles: Iterable[str]) -> bool:
    return bool(account.is_superuser or scope.unit_paths(account, roles))


# Who may read the overrides report: the people who countersign them and the people who check them.
OVERRIDE_READERS = frozenset({Role.COMMANDER, Role.AUDITOR})


def nav_flags(account: Account) -> dict:
    """What the navbar offers this account; error pages rendered by Django get none and show a minimal bar."""
    staff = is_staff(account)
    return {
        "staff": staff,
        "armorer": is_armorer(account),
        "training": staff,
        "overrides": has_role_anywhere(account, OVERRIDE_READERS),
        "member_no": account.member.member_no if account.member_id else "",
    }


class PageMixin(LoginRequiredMixin):
    """Every page: login required, navbar flags in the context."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["nav"] = nav_flags(self.request.user)
        return context


class ArmorerRequiredMixin(PageMixin):
    """Issue and return forms: only an account that is an armorer somewhere may open them (403 otherwise)."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not is_armorer(request.user):
            raise PermissionDenied("Only armorers may issue or return items.")
        return super().dispatch(request, *args, **kwargs)


class StaffRequiredMixin(PageMixin):
    """Lists of other people's things: staff roles only (403 for a plain member)."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not is_staff(request.user):
            raise PermissionDenied("This page is for unit staff.")
        return super().dispatch(request, *args, **kwargs)


def bootstrap(form: Form) -> Form:
    """Give every widget Bootstrap's classes (selects and checkboxes have their own)."""
    for field in form.fields.values():
        widget = field.widget
        kind = getattr(widget, "input_type", "")
        css = {"select": "form-select", "checkbox": "form-check-input"}.get(kind, "form-control")
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()
    return form


def mark_invalid(form: Form) -> Form:
    """Bootstrap's red outline on the fields that have errors."""
    for name in form.errors:
        if name in form.fields:
            widget = form.fields[name].widget
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
    return form


def name_empty_choices(form: Form, labels: dict[str, str]) -> Form:
    """Replace the filter selects' "---------" with words ("All types")."""
    for name, label in labels.items():
        field = form.fields.get(name)
        if field is None:
            continue
        if hasattr(field, "empty_label"):  # a model choice field builds its choices from this
            field.empty_label = label
            continue
        field.choices = [(value, label if value in ("", None) else text) for value, text in field.choices]
    return form


def paginate(request: HttpRequest, queryset, per_page: int) -> Page:
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def query_without_page(request: HttpRequest) -> str:
    """The current filter query string minus `page`, for pagination links."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


# --- downloads -----------------------------------------------------------------------------------------------------

DOWNLOAD_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def download(request: HttpRequest, table: exports.Table, *, file_format: str, stem: str) -> HttpResponse:
    """A report as a file download: written by core.exports (formula cells neutralised) and audit-logged there."""
    filename = f"{stem}.{file_format}"
    stream = io.StringIO() if file_format == "csv" else io.BytesIO()
    exports.deliver(table, actor=request.user, file_format=file_format, stream=stream, destination=f"web {filename}")
    content = stream.getvalue()
    response = HttpResponse(content.encode() if isinstance(content, str) else content)
    response["Content-Type"] = DOWNLOAD_TYPES[file_format]
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
