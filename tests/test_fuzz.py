"""The libFuzzer harness tests/fuzz/queryset_fuzz.c (query-set validate/pack and the stand-in's
result checker), built with clang and run over its seed corpus for a bounded time."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from prerequisites import missing, tool

pytestmark = pytest.mark.sanitizer

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tests" / "fuzz" / "queryset_fuzz.c"
CORPUS = ROOT / "tests" / "fuzz" / "corpus" / "queryset"
SOURCES = [
    ROOT / "csrc" / "provider" / "queryset.c",
    ROOT / "csrc" / "winsock" / "queryset_convert.c",
]
FLAGS = ["-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all"]
FUZZ_SECONDS = 30


def clang() -> str:
    """clang's path; without clang the test skips (fails under CI=true) naming the install."""
    return tool("clang")


def test_fuzz_harness_finds_nothing(tmp_path: Path) -> None:
    """The query-set fuzzer runs 30 s over the seed corpus without a crash, leak or UB report."""
    cc = clang()
    probe = tmp_path / "probe.c"
    probe.write_text(
        "#include <stddef.h>\n#include <stdint.h>\n"
        "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n"
    )
    done = subprocess.run(
        [cc, *FLAGS, str(probe), "-o", str(tmp_path / "probe")], capture_output=True, text=True
    )
    if done.returncode != 0:
        missing(
            f"clang's fuzzer and sanitizer runtime ({done.stderr.strip()[-300:]})",
            "sudo apt-get install -y libclang-rt-14-dev",
        )

    binary = tmp_path / "queryset_fuzz"
    build = [
        cc,
        *FLAGS,
        "-Wall",
        "-Wextra",
        "-Werror",
        f"-I{ROOT / 'csrc' / 'include'}",
        f"-I{ROOT / 'csrc' / 'provider'}",
        f"-I{ROOT / 'csrc' / 'winsock'}",
        str(HARNESS),
        *map(str, SOURCES),
        "-o",
        str(binary),
    ]
    done = subprocess.run(build, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"building the fuzz harness failed:\n{done.stderr}"

    # libFuzzer adds what it finds to the first corpus directory: give it a scratch copy.
    work = tmp_path / "corpus"
    shutil.copytree(CORPUS, work)
    seeds = len(list(work.iterdir()))
    assert seeds >= 12, f"the seed corpus has {seeds} files; run tests/fuzz/make_corpus.py"
    run = [
        str(binary),
        f"-max_total_time={FUZZ_SECONDS}",
        "-rss_limit_mb=2048",
        "-timeout=10",
        f"-artifact_prefix={tmp_path}/",
        "-print_final_stats=1",
        str(work),
    ]
    done = subprocess.run(
        run, capture_output=True, text=True, errors="replace", timeout=FUZZ_SECONDS + 120
    )
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "leak-")))
    assert done.returncode == 0, (
        f"the fuzzer failed (exit {done.returncode}, artifacts {crashes}):\n{done.stderr[-6000:]}"
    )
