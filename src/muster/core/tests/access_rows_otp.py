"""Access rows for two-factor sign-in (core/urls_otp.py). The matrix runs with MUSTER_REQUIRE_TOTP off, so these
rows check the gates of the pages themselves; core/tests/test_totp.py checks the second-step gate on every page.

"own": alice (armorer of A, a member of A), "peer": frank (duty officer of A), "other": carol (armorer of B).
"""

from muster.core.tests.access_table import SIGNED_IN, Expect, row, url

# Only commanders may open another account's reset page: 403 without the role anywhere, 404 outside their units.
RESETTERS = Expect("LFFOFF", "LFFNFF", peer="LFFOFF")


def empty(o):
    return {}


ROWS = [
    # Without a device the code page sends the account to the set-up page; an empty form answers 400.
    row("otp-verify", url("otp-verify"), GET=SIGNED_IN, POST=(SIGNED_IN, empty)),
    row("otp-enrol", url("otp-enrol"), GET=SIGNED_IN, POST=(SIGNED_IN, empty)),
    # The reset of an account without a device answers 409 no_totp_device: the gate let the commander through.
    row(
        "otp-reset",
        url("otp-reset", "otp_account.username"),
        GET=RESETTERS,
        POST=(RESETTERS, empty),
    ),
]


def build(world, objects) -> None:
    objects["own"].otp_account = world.alice
    objects["peer"].otp_account = world.frank
    objects["other"].otp_account = world.carol
