"""The documentation: it builds with Sphinx with every warning an error, the tutorial's Linux
commands work as written, and the troubleshooting page has every message nspv2 explains."""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# How long a step may take before the test gives up on it (a deadline, not a measurement).
DEADLINE = 300.0


def test_docs_build_with_warnings_as_errors(tmp_path: Path) -> None:
    """`sphinx-build -W --keep-going -n` of docs/ succeeds: every page, the API reference
    generated from the docstrings, and every cross-reference resolve without a warning."""
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=DEADLINE,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    api = (tmp_path / "html" / "api.html").read_text(encoding="utf-8")
    for name in ("nspv2.Provider.lookup", "nspv2.QuerySet", "nspv2.lookup", "nspv2.advertise"):
        assert f'id="{name}"' in api, f"{name} is missing from the API reference"


def code_blocks(markdown: str, section: str) -> List[Tuple[str, str]]:
    """(language, text) of each fenced block under the ``## section`` heading, in order."""
    part = markdown.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [(m[1], m[2]) for m in re.finditer(r"```(\w+)\n(.*?)```", part, re.S)]


# What the test's environment already is, so these lines of the tutorial are not run: the
# virtual environment (this one) and nspv2 installed in it (this checkout). Each must be in the
# tutorial as written here.
PRELUDE = """
set -e
python3() { if [ "$*" = "-m venv .venv" ]; then mkdir -p .venv/bin; : > .venv/bin/activate;
            else command python3 "$@"; fi; }
pip() { if [ "$*" = "install nspv2 pytest" ]; then :; else command pip "$@"; fi; }
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the tutorial's Linux part runs in bash")
def test_tutorial_linux_commands_work_as_written(tmp_path: Path) -> None:
    """The tutorial's Linux commands, run as written in two terminals (the first serves, the
    second looks up), print what the tutorial shows: the generated tests pass and
    `nspv2 lookup` answers alice@corp.example from the served provider."""
    tutorial = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    blocks = code_blocks(tutorial, "On Linux")
    shell = [text for language, text in blocks if language == "sh"]
    shown = [text for language, text in blocks if language == "text"]
    assert len(shell) == 4 and len(shown) == 2, blocks
    assert "python3 -m venv .venv" in shell[0] and "pip install nspv2 pytest" in shell[0]
    assert shell[2].strip().startswith("nspv2 serve"), shell[2]

    env = {k: v for k, v in os.environ.items() if k != "NSPV2_STANDIN_CATALOG"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    first_out, first_err = tmp_path / "terminal1.out", tmp_path / "terminal1.err"
    with first_out.open("w") as out, first_err.open("w") as err:
        first = subprocess.Popen(
            ["bash", "-c", PRELUDE + "".join(shell[:3])],
            cwd=tmp_path, env=env, stdout=out, stderr=err, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE
        while "stop with Ctrl+C" not in first_err.read_text():
            assert first.poll() is None, first_out.read_text() + first_err.read_text()
            assert time.monotonic() < deadline, first_out.read_text() + first_err.read_text()
            time.sleep(0.1)
        assert shown[0].strip() in first_out.read_text(), first_out.read_text()
        second = subprocess.run(
            ["bash", "-c", PRELUDE + shell[3]],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DEADLINE,
        )  # fmt: skip
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.splitlines()[0] == shown[1].strip(), second.stdout
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGINT)  # Ctrl+C in the first terminal
        first.wait(DEADLINE)
    assert "providers withdrawn" in first_err.read_text(), first_err.read_text()


# -- troubleshooting: every message nspv2 prints for users -------------------------------------

#: Exceptions whose messages reach users as one line (the CLI, the hosts' logs).
USER_ERRORS = {"ConfigError", "NotConfigured", "RegistrationError", "AccessDenied", "ScaffoldError"}
#: Shorter fixed parts say too little to be looked up (a file name, a GUID).
SHORTEST = 12
#: What surrounds a message's fields ("{path}: ...", "({exc})"), left out of the look-up.
STRIP = " ;:,.()[]{}'\"\\"
#: A printf conversion in a C message.
PRINTF_FIELD = re.compile(r"%[-+ #0-9.*]*(?:l|ll|z)?[a-zA-Z]")


def fixed_text(node: ast.expr) -> List[str]:
    """The literal parts of a string expression (an f-string's text between its fields)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)]
    if isinstance(node, ast.BinOp):
        return fixed_text(node.left) + fixed_text(node.right)
    return []


def python_messages() -> List[str]:
    """The longest fixed part of each message users get from the Python side: every error the
    CLI and the hosts print as one line, every finding's fix in nspv2 check, and every hint
    nspv2 lookup gives for a Winsock error."""
    from nspv2 import cli

    found: List[str] = list(cli.LOOKUP_HINTS.values())
    found.append("no provider answered in")
    for module in ("config", "registration", "scaffold", "check", "cli", "serving"):
        tree = ast.parse((ROOT / "src" / "nspv2" / f"{module}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                if getattr(node.exc.func, "id", "") in USER_ERRORS and node.exc.args:
                    found.append(max(fixed_text(node.exc.args[0]), key=len, default=""))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                # nspv2 check: self.add(level, check, message, fix), failed_because(check, fix)
                if node.func.attr == "add" and len(node.args) == 4:
                    found.append("".join(fixed_text(node.args[3])))
                elif node.func.attr == "failed_because" and len(node.args) == 2:
                    found.append("".join(fixed_text(node.args[1])))
    found.append(__import__("nspv2.registration").registration.ELEVATE)
    return [m for m in (text.strip(STRIP) for text in found) if len(m) >= SHORTEST]


def c_messages() -> List[str]:
    """What the native host and the provider library print: each message's text up to its
    first printf field."""
    found: List[str] = []
    for path in [ROOT / "csrc" / "host" / "host.c", ROOT / "csrc" / "provider" / "interpreter.c"]:
        source = path.read_text(encoding="utf-8")
        # fprintf(stderr, "...") and nspv2_log("..."), and the host's advertise hints.
        for call in re.finditer(
            r'(?:fprintf\(stderr,|nspv2_log\(|return)\s*((?:"(?:[^"\\]|\\.)*"\s*)+)', source
        ):
            text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', call[1]))
            text = text.replace("\\n", "").replace('\\"', '"')
            longest = max(PRINTF_FIELD.split(text), key=len).strip(STRIP)
            if len(longest) >= SHORTEST and not text.startswith("usage"):
                found.append(longest)
    return found


def test_troubleshooting_has_every_message() -> None:
    """docs/troubleshooting.md has every message nspv2 prints for users (the CLI's errors and
    lookup hints, nspv2 check's fixes, configuration and registration errors, the native host's
    and the provider library's lines), each as the code writes it."""

    def plain(text: str) -> str:  # as read: no Markdown code marks or escapes, one space
        return " ".join(text.replace("`", "").replace("\\<", "<").split())

    page = plain((DOCS / "troubleshooting.md").read_text(encoding="utf-8"))
    missing = [m for m in python_messages() + c_messages() if plain(m) not in page]
    assert not missing, "docs/troubleshooting.md lacks:\n" + "\n".join(missing)
