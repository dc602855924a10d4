"""Page and API latency on a large data set (e.g. the national-size `muster seed` database).

    DATABASE_URL=postgres://…/muster_national .venv/bin/python bench/bench_pages.py [--repeat 30]

Runs in-process through Django's test client (no network), as the seed's superuser and as an armorer of one
company, and prints p50/p95 and the query count of each page. Reference in the same run: a bare Django view that
returns a constant JSON body through the same middleware stack. Goal: p95 < 100 ms.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "muster.settings")
os.environ.setdefault("MUSTER_LOGIN_THROTTLING", "false")
# The test client signs in with force_login, which passes no second factor; the pages behind it are what is measured.
os.environ.setdefault("MUSTER_REQUIRE_TOTP", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    options = parser.parse_args()
    import django

    django.setup()
    from django.db import connection
    from django.http import JsonResponse
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import path

    from muster import urls as muster_urls
    from muster.custody.models import Armory, Item, LedgerEvent
    from muster.members.models import Account, Member, Role, RoleAssignment

    urlpatterns = [path("bench-bare/", lambda request: JsonResponse({"ok": True})), *muster_urls.urlpatterns]
    module = type(sys)("bench_urls")
    module.urlpatterns = urlpatterns
    sys.modules["bench_urls"] = module

    admin = Account.objects.filter(is_superuser=True).order_by("pk").first()
    armory = Armory.objects.select_related("unit").order_by("pk").first()
    armorer, _ = Account.objects.get_or_create(username="bench-armorer")
    RoleAssignment.objects.get_or_create(account=armorer, unit=armory.unit, role=Role.ARMORER)
    issued = Item.objects.filter(holder_kind="member", home_armory=armory).select_related("holder_member").first()
    member = issued.holder_member if issued else Member.objects.filter(unit=armory.unit).first()
    item = issued or Item.objects.filter(home_armory=armory).first()
    from muster.members.models import Unit

    top = Unit.objects.filter(parent=None).order_by("pk").first()
    pages = [
        ("bare Django JSON view (reference)", "/bench-bare/"),
        ("unit dashboard", "/units/{unit}/dashboard/"),
        ("API unit dashboard", "/api/v1/units/{unit}/dashboard"),
        ("dashboard", "/"),
        ("armory page", f"/armories/{armory.code}/"),
        ("member page", f"/members/{member.member_no}/"),
        ("item page", f"/items/{item.pk}/"),
        ("API ledger by item", f"/api/v1/ledger/?item={item.pk}"),
        ("API ledger by member", f"/api/v1/ledger/?member={member.member_no}"),
        ("API items of an armory", f"/api/v1/items/?armory={armory.code}&limit=50"),
        ("API recalls", "/api/v1/recalls/"),
    ]
    print(
        f"data: {Member.objects.count():,} members, {Item.objects.count():,} items, "
        f"{LedgerEvent.objects.count():,} events on {connection.vendor}"
    )
    with override_settings(ROOT_URLCONF="bench_urls", ALLOWED_HOSTS=["testserver"], DEBUG=False):
        accounts = (("armorer of one company", armorer, armory.unit), ("national superuser", admin, top))
        for who, account, unit in accounts:
            client = Client()
            client.force_login(account)
            print(f"\n{who} (unit dashboard of {unit.code}):\n{'page':<36}{'p50 ms':>9}{'p95 ms':>9}{'queries':>9}")
            for name, template in pages:
                url = template.format(unit=unit.code)
                client.get(url)  # warm
                executed: list[str] = []

                def count(run, sql, params, many, context, executed=executed):
                    executed.append(sql)
                    return run(sql, params, many, context)

                with connection.execute_wrapper(count):
                    status = client.get(url).status_code
                if status != 200:  # a redirect or a refusal measures nothing of the page
                    sys.exit(f"{name} ({url}) answered {status} for {who}, not 200")
                samples = []
                for _ in range(options.repeat):
                    started = time.perf_counter()
                    client.get(url)
                    samples.append((time.perf_counter() - started) * 1000)
                samples.sort()
                p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
                print(f"{name:<36}{statistics.median(samples):>9.1f}{p95:>9.1f}{len(executed):>9}  ({status})")


if __name__ == "__main__":
    main()
