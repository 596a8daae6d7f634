"""The libFuzzer harness tests/fuzz/wire_fuzz.c: the host's decoder of what client processes
send it (csrc/winsock/wire.c), built with clang and run over its seed corpus for a bounded time."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prerequisites import missing, tool

pytestmark = pytest.mark.sanitizer

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tests" / "fuzz" / "wire_fuzz.c"
CORPUS = ROOT / "tests" / "fuzz" / "corpus" / "wire"
FLAGS = ["-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all"]
FUZZ_SECONDS = 30


def test_wire_fuzzer_finds_nothing(tmp_path: Path) -> None:
    """The wire decoder fuzzer runs 30 s over its seeds without a crash, leak or UB report."""
    cc = tool("clang")
    binary = tmp_path / "wire_fuzz"
    build = [
        cc,
        *FLAGS,
        "-Wall",
        "-Wextra",
        "-Werror",
        f"-I{ROOT / 'csrc' / 'include'}",
        f"-I{ROOT / 'csrc' / 'winsock'}",
        str(HARNESS),
        str(ROOT / "csrc" / "winsock" / "wire.c"),
        "-o",
        str(binary),
    ]
    done = subprocess.run(build, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and "libclang_rt" in done.stderr:
        missing(
            "clang's fuzzer and sanitizer runtime", "sudo apt-get install -y libclang-rt-14-dev"
        )
    assert done.returncode == 0, f"building the wire fuzzer failed:\n{done.stderr}"

    work = tmp_path / "corpus"  # libFuzzer adds to its first corpus folder: a scratch copy
    shutil.copytree(CORPUS, work)
    seeds = len(list(work.iterdir()))
    assert seeds >= 15, f"the seed corpus has {seeds} files; run tests/fuzz/make_wire_corpus.py"
    run = [
        str(binary),
        f"-max_total_time={FUZZ_SECONDS}",
        "-rss_limit_mb=2048",
        "-timeout=10",
        f"-artifact_prefix={tmp_path}/",
        str(work),
    ]
    done = subprocess.run(
        run, capture_output=True, text=True, errors="replace", timeout=FUZZ_SECONDS + 120
    )
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "leak-")))
    assert done.returncode == 0, (
        f"the fuzzer failed (exit {done.returncode}, artifacts {crashes}):\n{done.stderr[-6000:]}"
    )
