"""Two-factor sign-in pages: the code after the password, setting up an authenticator app, and a commander's reset
of another account's authenticator. The rules live in core.otp; these views only parse, call and render."""

import django_otp
from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.cache import never_cache

from muster.core import otp
from muster.core.errors import DomainError
from muster.core.views import add_domain_error, bootstrap, mark_invalid, nav_flags, page_lookup
from muster.members import scope
from muster.members.models import Account, Member, Role
from muster.members.views import Section, add_member_page_section


class CodeForm(forms.Form):
    code = forms.CharField(
        label="6-digit code from your authenticator app",
        max_length=16,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True, "size": 8}
        ),
    )


def next_url(request: HttpRequest) -> str:
    """Where to go once the second step is done: the page first asked for, if it is one of ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure())
    return target if target and safe else reverse("home")


def _signed_in_with(request: HttpRequest, device) -> None:
    """Mark the session as past the second factor, under a new session key (the account's rights just grew)."""
    django_otp.login(request, device)
    request.session.cycle_key()


@method_decorator(never_cache, name="dispatch")
class VerifyView(LoginRequiredMixin, View):
    """The second step of signing in: the current code from the account's authenticator app."""

    template_name = "registration/otp_verify.html"

    def get(self, request):
        if request.user.is_verified():
            return redirect(next_url(request))
        if otp.confirmed_device(request.user) is None:
            return self._to_enrolment(request)
        return self.render(request, bootstrap(CodeForm()))

    def post(self, request):
        if request.user.is_verified():
            return redirect(next_url(request))
        form = bootstrap(CodeForm(request.POST))
        if not form.is_valid():
            return self.render(request, mark_invalid(form), status=400)
        try:
            device = otp.verify_code(account=request.user, code=form.cleaned_data["code"], request=request)
        except DomainError as exc:
            if exc.code == "otp_not_enrolled":
                return self._to_enrolment(request)
            return self.render(request, mark_invalid(form), status=add_domain_error(form, exc))
        _signed_in_with(request, device)
        return redirect(next_url(request))

    def _to_enrolment(self, request):
        return redirect(f"{reverse('otp-enrol')}?{request.GET.urlencode()}" if request.GET else reverse("otp-enrol"))

    def render(self, request, form, *, status: int = 200) -> HttpResponse:
        context = {"form": form, "next": next_url(request)}
        return render(request, self.template_name, context, status=status)


@method_decorator(never_cache, name="dispatch")  # the page shows the secret
class EnrolView(LoginRequiredMixin, View):
    """Set up an authenticator app: scan the QR code (or type the secret), then confirm with a code from it."""

    template_name = "registration/otp_enrol.html"

    def get(self, request):
        try:
            device = otp.start_enrolment(account=request.user)
        except DomainError as exc:
            messages.info(request, exc.detail)
            return redirect(next_url(request))
        return self.render(request, device, bootstrap(CodeForm()))

    def post(self, request):
        form = bootstrap(CodeForm(request.POST))
        status = 400
        if form.is_valid():
            try:
                device = otp.confirm_enrolment(account=request.user, code=form.cleaned_data["code"], request=request)
            except DomainError as exc:
                status = add_domain_error(form, exc)
            else:
                _signed_in_with(request, device)
                messages.success(request, "Two-factor sign-in is set up: each sign-in now asks for a code.")
                return redirect(next_url(request))
        try:
            device = otp.start_enrolment(account=request.user)
        except DomainError as exc:
            messages.info(request, exc.detail)
            return redirect(next_url(request))
        return self.render(request, device, mark_invalid(form), status=status)

    def render(self, request, device, form, *, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "next": next_url(request),
            "qr": otp.qr_data_uri(device),
            "secret": otp.secret_text(device),
            "required": otp.required_by_role(request.user),
        }
        return render(request, self.template_name, context, status=status)


class ResetView(LoginRequiredMixin, View):
    """A commander (or superuser) removes another account's authenticator, e.g. after a lost phone: the account
    sets up a new one at its next sign-in."""

    template_name = "core/otp_reset.html"

    def get(self, request, username: str):
        with page_lookup():
            account = otp.find_account_to_reset(request.user, username)
        return self.render(request, account)

    def post(self, request, username: str):
        with page_lookup():
            account = otp.find_account_to_reset(request.user, username)
        try:
            otp.reset_device(account=account, actor=request.user, request=request)
        except DomainError as exc:
            return self.render(request, account, error=f"{exc.detail} [{exc.code}]", status=exc.http_status)
        messages.success(request, f"Two-factor sign-in of {account.username} was reset; they set it up again.")
        return redirect("otp-reset", username=account.username)

    def render(self, request, account: Account, *, error: str = "", status: int = 200) -> HttpResponse:
        context = {
            "nav": nav_flags(request.user),
            "account": account,
            "device": otp.device_summary(account),
            "may_reset": otp.may_reset(request.user, account) and account.pk != request.user.pk,
            "error": error,
        }
        return render(request, self.template_name, context, status=status)


@add_member_page_section
def member_two_factor_section(request: HttpRequest, member: Member) -> Section | None:
    """On the member page: whether the member's account has set up two-factor sign-in; for the member a link to
    set it up, for a commander of the unit a link to reset it."""
    user = request.user
    own = user.member_id == member.pk
    commander = scope.has_role(user, member.unit, {Role.COMMANDER})
    if not (own or commander):
        return None
    account = user if own else Account.objects.filter(member=member).first()
    if account is None:
        return None
    return Section(
        template="core/_otp_member_section.html",
        context={"account": account, "device": otp.device_summary(account), "own": own, "commander": commander},
    )
