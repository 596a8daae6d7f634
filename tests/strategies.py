"""Hypothesis strategies shared by the marshaling tests (test_marshal, test_fuzz_marshal)."""

from __future__ import annotations

from hypothesis import strategies as st

from nspv2._constants import AF_INET, AF_INET6

U32 = st.integers(0, 2**32 - 1)
I32 = st.integers(-(2**31), 2**31 - 1)
NO_SURROGATES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"))


def no_pairs(text: str) -> bool:
    """Whether no high surrogate is directly followed by a low one (such a pair is one
    character in UTF-16 and would come back as that character, not as two lone code points)."""
    return not any(
        "\ud800" <= a <= "\udbff" and "\udc00" <= b <= "\udfff" for a, b in zip(text, text[1:])
    )


WITH_SURROGATES = st.text(
    st.one_of(
        st.characters(exclude_characters="\0"),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    )
).filter(no_pairs)

IPV4 = st.tuples(st.ip_addresses(v=4).map(str), st.integers(0, 65535))
IPV6 = st.tuples(st.ip_addresses(v=6).map(str), st.integers(0, 65535), U32, U32)
# Other families travel as raw SOCKADDR bytes (family 2 / 23 would be parsed as IPv4 / IPv6).
RAW = st.builds(
    lambda family, rest: family.to_bytes(2, "little") + rest,
    st.integers(0, 0xFFFF).filter(lambda f: f not in (AF_INET, AF_INET6)),
    st.binary(max_size=126),
)
SOCKADDR = st.one_of(st.none(), IPV4, IPV6, RAW)
