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
