"""One vocabulary: channels and debtor flags are defined once, in `accounts.models`.

The Django-free compliance engine keeps its own plain constants (it imports no Django model);
these tests pin them, and every other app's copy, to the accounts definitions. A hand-spelt
`opted_out_<channel>` outside `accounts.models` fails too: `opt_out_flag(channel)` spells it.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from accounts.models import (
    CHANNEL_CHOICES,
    CHANNELS,
    MESSAGE_CHANNELS,
    Channel,
    Debtor,
    DebtorFlag,
    opt_out_flag,
)
from compliance import engine

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_the_compliance_engine_knows_the_same_channels_and_flags_as_accounts():
    assert set(engine.CHANNELS) == set(CHANNELS)
    assert frozenset(DebtorFlag.values) == engine.FLAGS


def test_every_channel_has_its_opt_out_flag_and_it_is_a_known_flag():
    assert {opt_out_flag(c) for c in Channel.values} <= set(DebtorFlag.values)
    assert opt_out_flag(Channel.SMS) == "opted_out_sms"


def test_messaging_portal_and_recommender_use_the_accounts_channels():
    from messaging.models import Channel as MessageChannel
    from portal.services import CHANNELS as PORTAL_CHANNELS
    from recommender.features import CHANNELS as FEATURE_CHANNELS

    assert tuple(MessageChannel.values) == MESSAGE_CHANNELS
    assert dict(MessageChannel.choices) == {c: dict(CHANNEL_CHOICES)[c] for c in MESSAGE_CHANNELS}
    assert PORTAL_CHANNELS == CHANNELS
    assert FEATURE_CHANNELS == MESSAGE_CHANNELS
    assert Debtor._meta.get_field("preferred_channel").choices == CHANNEL_CHOICES


SPELT = re.compile(r"""f["']opted_out_\{""")


def test_no_module_spells_an_opt_out_flag_by_hand():
    offenders = [
        str(path.relative_to(ROOT))
        for app in ("accounts", "compliance", "messaging", "portal", "recommender")
        for path in (ROOT / app).rglob("*.py")
        if SPELT.search(path.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize("text", ['f"opted_out_{channel}"', "f'opted_out_{c}'"])
def test_the_spelling_scan_sees_a_hand_spelt_flag(text):
    assert SPELT.search(text)
