"""Contained errors are logged with provider id, entry point and traceback, and rate-limited."""

from __future__ import annotations

import logging
import uuid

import pytest

from nspv2 import _runtime


def test_error_logged_with_provider_entry_point_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A provider's exception becomes WSANO_RECOVERY and one log record that names the provider,
    the entry point and carries the traceback."""
    guid = uuid.uuid4()
    try:
        raise ValueError("provider bug")
    except ValueError as exc:
        with caplog.at_level(logging.ERROR, logger="nspv2"):
            code = _runtime._code(exc, "NSPv2LookupServiceBegin", guid)
    assert code == 11003
    [record] = caplog.records
    assert str(guid) in record.getMessage()
    assert "NSPv2LookupServiceBegin" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_error_log_is_rate_limited_per_provider_and_entry_point() -> None:
    """A provider failing on every call logs a burst, then nothing, then a count of what it
    suppressed once the window has passed."""
    limiter = _runtime.ErrorLogLimiter(burst=3, window=0.2)
    key = (uuid.uuid4(), "NSPv2LookupServiceNextEx")
    assert [limiter.allow(key)[0] for _ in range(10)] == [True] * 3 + [False] * 7
    assert limiter.allow((uuid.uuid4(), "NSPv2LookupServiceNextEx")) == (True, 0)
    import time

    time.sleep(0.25)
    assert limiter.allow(key) == (True, 7)
