"""The audit trail's (core.AuditEvent) append-only triggers (core.append_only). Installed by migration
core/0009_audit_append_only."""

from muster.core.append_only import AppendOnlyTable

TABLE = "core_auditevent"
_TRIGGERS = AppendOnlyTable(TABLE, prefix="audit", noun="audit trail")

install, uninstall, purge = _TRIGGERS.install, _TRIGGERS.uninstall, _TRIGGERS.purge
install_from_migration, uninstall_from_migration = _TRIGGERS.install_from_migration, _TRIGGERS.uninstall_from_migration
