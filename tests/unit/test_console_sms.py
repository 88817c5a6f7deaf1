"""The console SMS backend's fault switch, which the demo uses to make a text fail on purpose."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from adapters.sms import FAIL_FILE, ConsoleSms
from domain.model import TenantSms
from domain.notify import SmsPermanentError, SmsTransientError

TENANT = TenantSms(tenant_id=1, slug="demo", name="Demo", tz=ZoneInfo("UTC"), from_number=None,
                   messaging_service_sid=None, account_sid=None, auth_token_env=None)


async def test_a_number_listed_in_the_fail_file_fails_until_the_line_is_removed(tmp_path):
    sms = ConsoleSms(tmp_path / "sms.jsonl")
    (tmp_path / FAIL_FILE).write_text("+15555550123\n+15555550199 permanent\n")
    with pytest.raises(SmsTransientError, match=r"\*\*\*0123"):
        await sms.send(TENANT, "+15555550123", "hello")
    with pytest.raises(SmsPermanentError) as refused:
        await sms.send(TENANT, "+15555550199", "hello")
    assert refused.value.code == "21211"
    await sms.send(TENANT, "+15555550100", "others still go through")
    (tmp_path / FAIL_FILE).unlink()
    await sms.send(TENANT, "+15555550123", "hello again")
    sent = [json.loads(line) for line in (tmp_path / "sms.jsonl").read_text().splitlines()]
    assert [(s["to"], s["body"]) for s in sent] == [("+15555550100", "others still go through"),
                                                    ("+15555550123", "hello again")]
