"""`nspv2 check module:Class`: the conformance suite finds what a provider gets wrong, says how
to fix it, and gives an exit status CI can use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROVIDERS = """
import time
import nspv2


def answer(name):
    return nspv2.QuerySet(instance_name=name, addresses=(nspv2.CsAddr(remote=("192.0.2.1", 25)),))


class Good(nspv2.Provider):
    namespace = nspv2.NS_DNS
    domains = ("good.test",)

    def lookup(self, query, flags, session):
        if query.instance_name != "good.test":
            raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)
        yield answer(query.instance_name)


class Everything(nspv2.Provider):
    namespace = nspv2.NS_DNS

    def lookup(self, query, flags, session):
        raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)


class BadDomains(nspv2.Provider):
    domains = "good.test"

    def lookup(self, query, flags, session):
        return None


class Raises(nspv2.Provider):
    def lookup(self, query, flags, session):
        raise ValueError("no such user")


class WrongType(nspv2.Provider):
    def lookup(self, query, flags, session):
        return {"name": query.instance_name}


class Slow(nspv2.Provider):
    def lookup(self, query, flags, session):
        time.sleep(0.005)
        return answer(query.instance_name)


class StrictUtf8(nspv2.Provider):
    def lookup(self, query, flags, session):
        query.instance_name.encode("utf-8")
        return answer(query.instance_name)
"""


def check(tmp_path: Path, spec: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "checked.py").write_text(PROVIDERS)
    env = {k: v for k, v in os.environ.items() if k != "NSPV2_STANDIN_CATALOG"}
    return subprocess.run(
        [sys.executable, "-m", "nspv2", "check", f"checked:{spec}", "--path", str(tmp_path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_conforming_provider_passes(tmp_path: Path) -> None:
    """A generator provider that answers its name and declines others passes every check."""
    done = check(tmp_path, "Good", "--name", "good.test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS lookup good.test: 1 result(s)" in done.stdout
    assert "PASS buffer protocol" in done.stdout and "PASS Winsock contract" in done.stdout
    assert "FAIL" not in done.stdout


def test_exception_fails_with_its_fix(tmp_path: Path) -> None:
    """A lookup raising another exception than WinsockError fails, naming it and the fix."""
    done = check(tmp_path, "Raises", "--name", "x.test")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL lookup x.test: answered WSANO_RECOVERY" in done.stdout, done.stdout
    assert "ValueError: no such user" in done.stdout, done.stdout
    assert "fix: return QuerySet objects" in done.stdout


def test_wrong_return_type_fails(tmp_path: Path) -> None:
    """A lookup returning a dict fails with the type named."""
    done = check(tmp_path, "WrongType", "--name", "x.test")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "dict" in done.stdout, done.stdout


def test_slow_plain_lookup_warns_and_strict_fails(tmp_path: Path) -> None:
    """A plain lookup over the threshold is a warning pointing to `async def`; --strict makes
    warnings fail with status 2."""
    done = check(tmp_path, "Slow", "--name", "x.test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARN plain lookup speed" in done.stdout and "async def lookup" in done.stdout
    strict = check(tmp_path, "Slow", "--name", "x.test", "--strict")
    assert strict.returncode == 2, strict.stdout


def test_lone_surrogate_failure_is_found(tmp_path: Path) -> None:
    """A provider that cannot take a lone surrogate in a name fails the Unicode check."""
    done = check(tmp_path, "StrictUtf8", "--name", "x.test")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL lone surrogate" in done.stdout and "surrogatepass" in done.stdout
    assert "PASS non-BMP name" in done.stdout


def test_provider_without_domains_is_told_the_cost(tmp_path: Path) -> None:
    """A provider that declares no domains gets a warning saying what it costs the machine and
    how to declare them; one that declares them passes; a --name outside them fails."""
    done = check(tmp_path, "Everything")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARN domains: declares no domains" in done.stdout, done.stdout
    assert "every host name any program resolves" in done.stdout
    assert 'fix: declare the names it serves, domains = ("corp.example",)' in done.stdout
    good = check(tmp_path, "Good", "--name", "good.test")
    assert "PASS domains: serves good.test" in good.stdout, good.stdout
    outside = check(tmp_path, "Good", "--name", "other.test")
    assert outside.returncode == 1 and "FAIL domains: --name other.test" in outside.stdout


def test_bad_domains_fail_clearly(tmp_path: Path) -> None:
    """Domains that are not a tuple of names fail the check with the reason, not a crash."""
    done = check(tmp_path, "BadDomains")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL domains: BadDomains.domains must be a tuple" in done.stdout, done.stdout
    assert "Traceback" not in done.stderr
