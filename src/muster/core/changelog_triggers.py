"""The change log's append-only triggers (core.append_only). Installed by migration core/0005_change_log_triggers."""

from muster.core.append_only import AppendOnlyTable

TABLE = "core_changerecord"
_TRIGGERS = AppendOnlyTable(TABLE, prefix="changelog", noun="change log")

install, uninstall, purge = _TRIGGERS.install, _TRIGGERS.uninstall, _TRIGGERS.purge
install_from_migration, uninstall_from_migration = _TRIGGERS.install_from_migration, _TRIGGERS.uninstall_from_migration
