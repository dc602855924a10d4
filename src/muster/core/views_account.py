"""The signed-in account's own pages: changing its password, and its signed-in sessions (list, end one, end all
others). The rules live in members.credentials and core.sessions; these views parse, re-authenticate, call and
render. Every change here asks for the current password first (core.auth.reauthenticate: throttled by axes and
audited like a sign-in)."""

from django import forms
from django.contrib import messages
from django.contrib.auth import password_validation, update_session_auth_hash
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from muster.core import sessions
from muster.core.auth import reauthenticate
from muster.core.errors import DomainError
from muster.core.views import FORM_ERROR_STATUS, add_domain_error, bootstrap, mark_invalid, nav_flags
from muster.members import credentials

PASSWORD_MAX = 4096  # no rule of ours; a bound on what a form reads


def _password_field(label: str, autocomplete: str, *, help_text: str = "", autofocus: bool = False):
    attrs = {"autocomplete": autocomplete}
    if autofocus:
        attrs["autofocus"] = ""
    return forms.CharField(
        label=label,
        strip=False,  # checked exactly as typed
        max_length=PASSWORD_MAX,
        widget=forms.PasswordInput(attrs=attrs),
        help_text=help_text,
    )


class PasswordChangeForm(forms.Form):
    old_password = _password_field("Current password", "current-password", autofocus=True)
    new_password1 = _password_field(
        "New password", "new-password", help_text=" ".join(password_validation.password_validators_help_texts())
    )
    new_password2 = _password_field("New password again", "new-password")

    def clean(self):
        data = super().clean()
        first, second = data.get("new_password1"), data.get("new_password2")
        if first and second and first != second:
            self.add_error("new_password2", "The two new passwords differ; type the same one twice.")
        if first and data.get("old_password") and first == data["old_password"]:
            self.add_error("new_password1", "The new password is the one you have now; choose another.")
        return data


@method_decorator(never_cache, name="dispatch")
class PasswordChangeView(LoginRequiredMixin, View):
    """/account/password/: every account changes its own password with the current one. The session it is changed
    from stays signed in (under a new key); every other session of the account ends and its API token is deleted."""

    template_name = "core/password_change.html"

    def get(self, request):
        return self.render(request, bootstrap(PasswordChangeForm()))

    def post(self, request):
        form = bootstrap(PasswordChangeForm(request.POST))
        status = FORM_ERROR_STATUS
        if form.is_valid():
            if not reauthenticate(request, form.cleaned_data["old_password"], purpose="password change"):
                form.add_error("old_password", "That is not your current password.")
            else:
                try:
                    ended = credentials.set_password(
                        account=request.user,
                        password=form.cleaned_data["new_password1"],
                        actor=request.user,
                        keep_session=request.session.session_key,
                    )
                except DomainError as exc:
                    status = add_domain_error(form, exc)
                else:
                    request.user.refresh_from_db(fields=["password"])
                    update_session_auth_hash(request, request.user)  # this session stays, under a new key
                    others = f" {ended} other session(s) ended." if ended else ""
                    messages.success(request, f"Your password is changed.{others}")
                    return redirect("password-change")
        return self.render(request, mark_invalid(form), status=status)

    def render(self, request, form, *, status: int = 200) -> HttpResponse:
        context = {"nav": nav_flags(request.user), "form": form}
        return render(request, self.template_name, context, status=status)


class EndSessionsForm(forms.Form):
    password = _password_field("Your password", "current-password")
    session = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


@method_decorator(never_cache, name="dispatch")
class SessionsView(LoginRequiredMixin, View):
    """/account/sessions/: the account's signed-in sessions (started, last seen, address, browser), with "end this
    session" for each other one and "end all others"; both ask for the password (ASVS 7.5.2)."""

    template_name = "core/sessions.html"

    def get(self, request):
        return self.render(request, bootstrap(EndSessionsForm()))

    def post(self, request):
        form = bootstrap(EndSessionsForm(request.POST))
        status = FORM_ERROR_STATUS
        if form.is_valid():
            target = form.cleaned_data.get("session")
            record = None
            if target is not None:
                record = sessions.active(request.user).filter(pk=target).first()
                if record is None:
                    raise Http404("No such session of yours.")
                if record.session_key == request.session.session_key:
                    form.add_error(None, "That is the session you are using: log out instead.")
                    return self.render(request, form, status=status)
            if not reauthenticate(request, form.cleaned_data["password"], purpose="end sessions"):
                form.add_error("password", "That is not your password.")
            else:
                try:
                    if record is not None:
                        credentials.end_session(actor=request.user, record=record)
                        messages.success(request, "That session has ended: its browser is signed out.")
                    else:
                        ended, _ = credentials.end_sessions(
                            actor=request.user, account=request.user, keep_session=request.session.session_key
                        )
                        messages.success(request, f"{ended} other session(s) ended.")
                except DomainError as exc:
                    status = add_domain_error(form, exc)
                else:
                    return redirect("account-sessions")
        return self.render(request, mark_invalid(form), status=status)

    def render(self, request, form, *, status: int = 200) -> HttpResponse:
        current = request.session.session_key
        rows = list(sessions.active(request.user))
        context = {
            "nav": nav_flags(request.user),
            "form": form,
            "rows": rows,
            "current": current,
            "others": sum(1 for row in rows if row.session_key != current),
        }
        return render(request, self.template_name, context, status=status)
