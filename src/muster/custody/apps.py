from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_ledger_head(sender, using, **kwargs) -> None:
    # The head row is created by migration 0003; a database flush (tests) deletes it, so put it back.
    from muster.custody.ledger import GENESIS_HASH
    from muster.custody.models import LedgerHead

    LedgerHead.objects.using(using).get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})


class CustodyConfig(AppConfig):
    name = "muster.custody"
    label = "custody"
    verbose_name = "Custody"

    def ready(self) -> None:
        from muster.custody import recalls
        from muster.members import hooks

        post_migrate.connect(_ensure_ledger_head, sender=self)
        # Roster changes reach custody through hooks defined in members, so members never imports custody.
        hooks.member_lapsed.connect(recalls.on_member_lapsed, dispatch_uid="custody-recall-on-lapse")
        hooks.register_departure_check(recalls.refuse_departure_while_holding)
