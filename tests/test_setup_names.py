"""setup.py's build of the native host, run on Linux through setuptools' own compiler classes
(MSVC's as on the Windows wheel builders, and the Unix one): the program it links has the name
the installed package looks for. Only the file names are computed; nothing is compiled."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from setuptools import Distribution
from setuptools._distutils.ccompiler import CCompiler, new_compiler

import nspv2._native

ROOT = Path(__file__).resolve().parents[1]


def load_setup() -> ModuleType:
    """setup.py as a module: setup() itself runs only when it is the main script."""
    spec = importlib.util.spec_from_file_location("nspv2_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def linked_host(compiler_type: str, windows: bool, tmp_path: Path) -> Path:
    """The file setup.py's BuildExt.build_host links with that compiler class: compile and
    link are replaced by recorders, the rest (link_executable's naming) is setuptools' own."""
    setup_module = load_setup()
    setup_module.WINDOWS = windows  # the Windows branch of setup.py, as on a Windows builder
    compiler: CCompiler = new_compiler(compiler=compiler_type)
    linked: list[Path] = []

    def compile_(sources: list[str], output_dir: str = "", **_: Any) -> list[str]:
        return [str(Path(output_dir) / (Path(s).stem + compiler.obj_extension)) for s in sources]

    def link(_kind: str, _objects: list[str], output: str, output_dir: Any, *_: Any) -> None:
        linked.append(Path(output_dir or "") / output)

    compiler.compile = compile_  # type: ignore[method-assign]
    compiler.link = link  # type: ignore[method-assign]
    command = setup_module.BuildExt(Distribution({"name": "nspv2"}))
    command.build_lib = str(tmp_path / "lib")
    command.build_temp = str(tmp_path / "temp")
    command.ensure_finalized()
    command.compiler = compiler
    command.build_host(tmp_path / "lib" / "nspv2")
    assert len(linked) == 1, linked
    return linked[0]


@pytest.mark.parametrize(("compiler_type", "windows"), [("msvc", True), ("unix", False)])
def test_host_program_name(
    compiler_type: str, windows: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host setup.py links is the file nspv2._native.host_program() (and so `nspv2 paths`,
    the smoke test and the registration) finds: nspv2-host.exe with MSVC, not
    nspv2-host.exe.exe."""
    host = linked_host(compiler_type, windows, tmp_path)
    monkeypatch.setattr(nspv2._native, "WINDOWS", windows)
    assert host.name == nspv2._native.host_program().name
    assert host.parent == tmp_path / "lib" / "nspv2"
