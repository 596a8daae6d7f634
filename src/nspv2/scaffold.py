"""``nspv2 new NAME``: a provider project to start from.

It writes a folder NAME with a pyproject.toml that builds the author's wheel depending on
nspv2, the provider module (a plain lookup answering names from a table), tests using the nspv2
pytest plugin (they pass as generated: ``cd NAME && pytest``), and a README with the install,
serve and register steps.
"""

from __future__ import annotations

import keyword
import re
import uuid
from pathlib import Path
from typing import Dict

PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "{project}"
version = "0.1.0"
description = "A Winsock namespace provider written with nspv2"
requires-python = ">=3.9"
dependencies = ["nspv2"]

[project.optional-dependencies]
test = ["pytest>=7"]

[tool.setuptools]
package-dir = {{ "" = "src" }}
packages = ["{module}"]

[tool.pytest.ini_options]
pythonpath = ["src"]
testpaths = ["tests"]
"""

MODULE = '''\
"""{title}: a Winsock namespace provider (NSPv2) written with nspv2."""

from __future__ import annotations

from typing import List

import nspv2

#: The names this provider answers, and what it answers for each (replace with your source:
#: a file, a directory service, an API).
NAMES = {{
    "{example_name}": ("192.0.2.25", "{title} example entry"),
}}


class Provider(nspv2.Provider):
    """Answers the names in NAMES; every other name is declined at once."""

    provider_id = "{guid}"
    name = "{title}"
    namespace = nspv2.{namespace}
    # The names it serves: nspv2 declines every other name in C (no Python, no GIL), so the
    # provider costs the machine nothing for names that are not its own.
    domains = ("{domain}",)

    def lookup(
        self, query: nspv2.QuerySet, flags: nspv2.LookupFlags, session: nspv2.Session
    ) -> List[nspv2.QuerySet]:
        entry = NAMES.get((query.instance_name or "").lower())
        if entry is None:
            raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)
        address, comment = entry
        return [
            nspv2.QuerySet(
                instance_name=query.instance_name,
                comment=comment,
                addresses=(nspv2.CsAddr(remote=(address, 25)),),
            )
        ]
'''

TESTS = '''\
"""{title}'s provider, asked as Winsock clients ask (the nspv2 pytest plugin's fixtures)."""

import nspv2
import pytest

from {module} import Provider


def test_answers_its_name(nspv2_serve, nspv2_lookup):
    """The example name is answered with its address and comment."""
    nspv2_serve(Provider())
    [result] = nspv2_lookup("{example_name}")
    assert result.comment == "{title} example entry"
    assert result.addresses[0].remote == ("192.0.2.25", 25)


def test_declines_other_names(nspv2_serve, nspv2_lookup):
    """A name it does not know is WSASERVICE_NOT_FOUND, so Winsock can ask other providers."""
    nspv2_serve(Provider())
    with pytest.raises(nspv2.WinsockError) as caught:
        nspv2_lookup("nobody@{domain}")
    assert caught.value.code == nspv2.WSASERVICE_NOT_FOUND
'''

README = """\
# {title}

A Winsock namespace provider (NSPv2) written in Python with nspv2: `src/{module}/__init__.py`.

## Test

```sh
pip install -e '.[test]'
pytest
nspv2 check {module}:Provider --path src --name {example_name}
```

## Install, serve, register

```sh
pip install .
nspv2 install --provider {module}:Provider      # configuration + Winsock catalog entry
nspv2 serve --provider {module}:Provider        # the host; Ctrl+C withdraws it
nspv2 lookup {example_name}                     # from another terminal
```

On Windows run `nspv2 install --provider {module}:Provider --at-logon` from an elevated prompt:
the native host then serves the provider in your session from each logon on. `nspv2 uninstall
--provider {module}:Provider` removes it.
"""


class ScaffoldError(Exception):
    """The project cannot be written; the message says why and what to do."""


def module_name(project: str) -> str:
    """The Python package name for a project name (``corp-directory`` -> ``corp_directory``)."""
    module = re.sub(r"\W", "_", project.replace("-", "_")).lower()
    if not module.isidentifier() or keyword.iskeyword(module):
        raise ScaffoldError(
            f"{project!r} does not give a Python package name; use letters, digits and '-'"
        )
    return module


def files(project: str, domain: str, namespace: str = "NS_EMAIL") -> Dict[str, str]:
    """The project's files by relative path."""
    module = module_name(project)
    title = project.replace("-", " ").replace("_", " ").title()
    fields = {
        "project": project,
        "module": module,
        "title": title,
        "domain": domain,
        "namespace": namespace,
        "guid": str(uuid.uuid4()),
        "example_name": f"alice@{domain}" if namespace == "NS_EMAIL" else f"www.{domain}",
    }
    return {
        "pyproject.toml": PYPROJECT.format(**fields),
        f"src/{module}/__init__.py": MODULE.format(**fields),
        "tests/test_provider.py": TESTS.format(**fields),
        "README.md": README.format(**fields),
    }


def create(folder: Path, domain: str, namespace: str = "NS_EMAIL") -> Path:
    """Writes the project into ``folder`` (which must not exist yet); returns it."""
    if folder.exists():
        raise ScaffoldError(f"{folder} already exists: choose another name or remove it")
    for relative, text in files(folder.name, domain, namespace).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder
