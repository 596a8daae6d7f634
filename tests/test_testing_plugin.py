"""The pytest plugin provider authors use (nspv2.testing): its fixtures serve a provider in the
stand-in and ask it as a client, in a project of the author's own run by pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

AUTHOR_TESTS = """
import nspv2
import pytest


class Directory(nspv2.Provider):
    namespace = nspv2.NS_EMAIL
    domains = ("corp.example",)

    def lookup(self, query, flags, session):
        if query.instance_name != "alice@corp.example":
            raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)
        yield nspv2.QuerySet(instance_name=query.instance_name, comment="Alice")


class Broken(nspv2.Provider):
    def lookup(self, query, flags, session):
        raise RuntimeError("bug")


def test_alice(nspv2_serve, nspv2_lookup):
    nspv2_serve(Directory())
    [alice] = nspv2_lookup("alice@corp.example")
    assert alice.comment == "Alice"


def test_unknown(nspv2_serve, nspv2_lookup):
    nspv2_serve(Directory())
    with pytest.raises(nspv2.WinsockError) as caught:
        nspv2_lookup("bob@corp.example")
    assert caught.value.code == nspv2.WSASERVICE_NOT_FOUND


def test_broken_gives_no_recovery(nspv2_serve, nspv2_lookup):
    nspv2_serve(Broken())
    with pytest.raises(nspv2.WinsockError) as caught:
        nspv2_lookup("x.test")
    assert caught.value.code == nspv2.WSANO_RECOVERY
"""


def test_author_tests_pass_with_the_plugin(tmp_path: Path) -> None:
    """An author's tests using nspv2_serve and nspv2_lookup, found through the pytest11 entry
    point with no conftest, run and pass (an NS_EMAIL provider routed by its domains, a
    declined name, a provider's exception as WSANO_RECOVERY)."""
    (tmp_path / "test_directory.py").write_text(AUTHOR_TESTS)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout, done.stdout
