"""The key and seal register of a unit (and the units below it): staff of the unit; anyone else gets 404."""

from django.utils import timezone
from django.views.generic import TemplateView

from muster.core.views import PageMixin, paginate, query_without_page
from muster.custody import key_register
from muster.custody.views_dashboard import staff_unit

KEYS_PER_PAGE = 50


class UnitKeysView(PageMixin, TemplateView):
    template_name = "custody/key_register.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        unit = staff_unit(user, kwargs["code"])
        keys = key_register.ordered(key_register.register(key_register.staff_items(user, unit)))
        page_obj = paginate(self.request, keys, KEYS_PER_PAGE)
        key_register.describe(page_obj.object_list)
        context.update(unit=unit, page_obj=page_obj, query=query_without_page(self.request), now=timezone.now())
        return context
