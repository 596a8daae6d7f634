"""Winsock's numbers: the generated module matches the header, the module-level names match
their enums and the values ws2spi.h, winsock2.h, nsemail.h and svcguid.h of the Windows SDK give
(the NSPV2_ROUTINE version, Microsoft's NSPv2 sample's), and the struct sizes match the SDK's."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import nspv2
from nspv2 import _constants

ROOT = Path(__file__).resolve().parents[1]

# A sample of the SDK headers' values (winsock2.h, ws2spi.h, winerror.h).
CONTRACT = {
    "NS_ALL": 0,
    "NS_DNS": 12,
    "NS_EMAIL": 37,
    "NS_PNRPNAME": 38,
    "NS_NETDES": 60,
    "LUP_DEEP": 0x1,
    "LUP_RETURN_NAME": 0x10,
    "LUP_RETURN_ADDR": 0x100,
    "LUP_RETURN_ALIASES": 0x400,
    "LUP_RETURN_QUERY_STRING": 0x800,
    "LUP_RETURN_ALL": 0xFF0,
    "LUP_FLUSHPREVIOUS": 0x2000,
    "LUP_RES_SERVICE": 0x8000,
    "LUP_RETURN_PREFERRED_NAMES": 0x10000,
    "RESULT_IS_ALIAS": 0x1,
    "RESULT_IS_ADDED": 0x10,
    "RESULT_IS_DELETED": 0x40,
    "RNRSERVICE_REGISTER": 0,
    "RNRSERVICE_DEREGISTER": 1,
    "RNRSERVICE_DELETE": 2,
    "NO_ERROR": 0,
    "SOCKET_ERROR": -1,
    "WSA_INVALID_HANDLE": 6,
    "WSA_NOT_ENOUGH_MEMORY": 8,
    "WSAEFAULT": 10014,
    "WSAEINVAL": 10022,
    "WSAEOPNOTSUPP": 10045,
    "WSAENOMORE": 10102,
    "WSASERVICE_NOT_FOUND": 10108,
    "WSA_E_NO_MORE": 10110,
    "WSA_E_CANCELLED": 10111,
    "WSANO_RECOVERY": 11003,
    "WSAEINVALIDPROVIDER": 10105,
    "LUP_NON_AUTHORITATIVE": 0x4000,
    "ProviderType_Application": 1,
    "ProviderType_Service": 2,
    "ProviderLevel_None": 0,
    "ProviderLevel_Secondary": 1,
    "ProviderLevel_Primary": 2,
    "NSPV2_ROUTINE_MAJOR_VERSION": 1,
    "NSPV2_ROUTINE_MINOR_VERSION": 0,
}


def test_generated_module_is_current() -> None:
    """`python tools/gen_constants.py --check` passes: _constants.py matches ws2const.h."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_constants.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("name", "value"), sorted(CONTRACT.items()))
def test_contract_numbers(name: str, value: int) -> None:
    """Module-level constants have the contract's numbers."""
    assert getattr(nspv2, name) == value


@pytest.mark.parametrize(
    ("name", "enum"),
    [
        ("NS_EMAIL", nspv2.Namespace),
        ("LUP_RETURN_ALL", nspv2.LookupFlags),
        ("WSA_E_NO_MORE", nspv2.ErrorCode),
        ("WSA_E_CANCELLED", nspv2.ErrorCode),
        ("RESULT_IS_ALIAS", nspv2.ResultFlags),
        ("RNRSERVICE_DELETE", nspv2.SetServiceOperation),
    ],
)
def test_constants_are_enum_members(name: str, enum: type) -> None:
    """A module-level constant is the member of its enum with the same name."""
    assert getattr(nspv2, name) is enum[name]


def test_every_enum_member_is_exported() -> None:
    """Every member of the generated enums is also a module-level name in nspv2."""
    for enum in (nspv2.Namespace, nspv2.LookupFlags, nspv2.ErrorCode, nspv2.ResultFlags):
        for member in enum:
            assert getattr(nspv2, member.name) == member, member.name
            assert member.name in nspv2.__all__


def test_return_all_is_the_return_flags() -> None:
    """LUP_RETURN_ALL is exactly the union of the LUP_RETURN_* bits 0x10..0x800."""
    bits = [getattr(nspv2, n) for n in dir(_constants) if n.startswith("LUP_RETURN_")]
    union = 0
    for b in bits:
        if b not in (nspv2.LUP_RETURN_ALL, nspv2.LUP_RETURN_PREFERRED_NAMES):
            union |= b
    assert union == nspv2.LUP_RETURN_ALL


def test_service_class_guid() -> None:
    """SVCID_HOSTNAME, the service class nspv2's clients pass, is svcguid.h's GUID."""
    assert nspv2.SVCID_HOSTNAME == uuid.UUID("0002a800-0000-0000-c000-000000000046")


def test_napi_blob_sizes(native) -> None:
    """nsemail.h's blob structures are 20 and 16 bytes on every architecture (the blob's offsets
    depend on it)."""
    assert native.ffi.sizeof("NAPI_PROVIDER_INSTALLATION_BLOB") == 20
    assert native.ffi.sizeof("NAPI_DOMAIN_DESCRIPTION_BLOB") == 16


SIXTY_FOUR_BIT = pytest.mark.skipif(sys.maxsize < 2**32, reason="x64 sizes and offsets")


@SIXTY_FOUR_BIT
@pytest.mark.parametrize(
    ("struct", "size"),
    [("WSAQUERYSET2W", 112), ("WSAQUERYSETW", 120), ("NSPV2_ROUTINE", 72)],
)
def test_struct_sizes(native, struct: str, size: int) -> None:
    """cffi's struct sizes are the SDK's x64 sizes."""
    assert native.ffi.sizeof(struct) == size


@SIXTY_FOUR_BIT
def test_queryset2_offsets(native) -> None:
    """WSAQUERYSET2W's field offsets are the contract's x64 offsets."""
    offsets = {
        "dwSize": 0,
        "lpszServiceInstanceName": 8,
        "lpVersion": 16,
        "lpszComment": 24,
        "dwNameSpace": 32,
        "lpNSProviderId": 40,
        "lpszContext": 48,
        "dwNumberOfProtocols": 56,
        "lpafpProtocols": 64,
        "lpszQueryString": 72,
        "dwNumberOfCsAddrs": 80,
        "lpcsaBuffer": 88,
        "dwOutputFlags": 96,
        "lpBlob": 104,
    }
    for field, offset in offsets.items():
        assert native.ffi.offsetof("WSAQUERYSET2W", field) == offset, field
