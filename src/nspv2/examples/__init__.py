"""Providers shipped with nspv2: examples to copy, each tested in tests/test_examples.py.

- :mod:`nspv2.examples.zone`: the built-in example (``nspv2 example``), a zone file of host
  names and email addresses, in NS_EMAIL and NS_DNS;
- :mod:`nspv2.examples.toml_zone`: host names from a TOML file, reloaded when it changes;
- :mod:`nspv2.examples.forwarder`: a DNS suffix answered by asking a DNS server (dnspython);
- :mod:`nspv2.examples.slow_backend`: ``async def`` awaiting a slow back end, and cancellation;
- :mod:`nspv2.examples.email_directory`: NS_EMAIL names registered with WSASetService.
"""
