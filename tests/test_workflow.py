"""The GitHub Actions workflows (.github/workflows/*.yml) are valid YAML, pass actionlint with
nothing reported, and pin every action they use to a version."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prerequisites import python_tool

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# owner/name@vX.Y.Z (a release tag) or @<40 hex digits> (a commit).
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")


def actionlint() -> str:
    """The actionlint binary: beside this Python (the test extra installs it) or on PATH."""
    return python_tool("actionlint")


def uses_of(workflow: dict[str, Any]) -> list[str]:
    """Every `uses:` of every step of every job."""
    return [
        step["uses"]
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if "uses" in step
    ]


def test_workflows_exist() -> None:
    """The release workflow is there (so the checks below check something)."""
    assert ROOT / ".github" / "workflows" / "release.yml" in WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_yaml(path: Path) -> None:
    """Each workflow parses as YAML into a mapping with jobs."""
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(workflow, dict) and workflow.get("jobs"), path


def test_actionlint() -> None:
    """actionlint reports nothing on any workflow."""
    done = subprocess.run(
        [actionlint(), "-no-color", *(str(p) for p in WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_pinned(path: Path) -> None:
    """Every action is pinned to a release version or a commit, never a branch or major tag."""
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    loose = [uses for uses in uses_of(workflow) if not PINNED.match(uses)]
    assert not loose, loose


def test_release_publishes_only_tags() -> None:
    """The PyPI job runs only for tags, by trusted publishing, from the `pypi` environment."""
    workflow = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text("utf-8"))
    publish = workflow["jobs"]["publish"]
    assert "refs/tags/" in publish["if"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    assert any(
        u.startswith("pypa/gh-action-pypi-publish@") for u in uses_of({"jobs": {"p": publish}})
    )


def test_dependabot_watches_actions() -> None:
    """The pinned actions are kept current: Dependabot watches the github-actions ecosystem."""
    config = yaml.safe_load((ROOT / ".github/dependabot.yml").read_text(encoding="utf-8"))
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert "github-actions" in ecosystems


def release() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (ROOT / ".github/workflows/release.yml").read_text("utf-8")
    )
    return loaded


def cibuildwheel_pythons() -> list[str]:
    """pyproject.toml's [tool.cibuildwheel] build list as CPython versions ("310", ...)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text[text.index("[tool.cibuildwheel]") :]
    match = re.search(r'^build = "([^"]*)"', section, re.MULTILINE)
    assert match, "no build list in [tool.cibuildwheel]"
    pythons = re.findall(r"\bcp(\d+)-\*", match.group(1))
    assert len(pythons) == len(match.group(1).split()), match.group(1)
    return pythons


def test_wheel_jobs_are_the_build_list() -> None:
    """The release builds a wheel job per CPython of pyproject's build list (3.10 to 3.14,
    each one that requires-python admits), and the end-to-end job runs each of them."""
    pythons = cibuildwheel_pythons()
    assert pythons == ["310", "311", "312", "313", "314"], pythons
    jobs = release()["jobs"]
    assert jobs["wheels"]["strategy"]["matrix"]["python"] == pythons
    wheel_env = next(s for s in jobs["wheels"]["steps"] if "cibuildwheel" in s.get("uses", ""))
    assert wheel_env["env"]["CIBW_BUILD"] == "cp${{ matrix.python }}-*"
    end_to_end = jobs["end-to-end"]["strategy"]["matrix"]["python"]
    assert [p["cp"] for p in end_to_end] == pythons
    assert all(p["version"].replace(".", "") == p["cp"] for p in end_to_end), end_to_end
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'requires-python = ">=3.9"' in text  # 3.9 is still supported, from the sdist


def test_end_to_end_runs_x64_and_x86() -> None:
    """The end-to-end job runs the win_amd64 and the win32 wheels (the x86 calling convention
    and plain export names are proven only there) after every wheel job."""
    job = release()["jobs"]["end-to-end"]
    assert job["needs"] == "wheels"
    arches = {p["arch"]: p["python"] for p in job["strategy"]["matrix"]["platform"]}
    assert arches == {"AMD64": "x64", "x86": "x86"}, arches


def test_publish_action_accepts_metadata_2_4() -> None:
    """The publish action is pinned by full commit to a release said (in the comment above it)
    to be v1.12.3 or later, the first whose twine reads Metadata-Version 2.4."""
    text = (ROOT / ".github/workflows/release.yml").read_text("utf-8")
    match = re.search(
        r"# v(\d+)\.(\d+)\.(\d+), by commit:.*(?:\n\s*#.*)*\n\s*- uses: "
        r"pypa/gh-action-pypi-publish@([0-9a-f]{40})\n",
        text,
    )
    assert match, "the publish step is not pinned by commit under a `# vX.Y.Z, by commit` note"
    assert tuple(int(part) for part in match.groups()[:3]) >= (1, 12, 3), match.group(0)
