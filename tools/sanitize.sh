#!/usr/bin/env bash
# Builds nspv2's C parts with AddressSanitizer + UndefinedBehaviorSanitizer into a throwaway
# virtual environment and runs the C host tests, the stand-in self-test, the stress test, the
# cross-process stand-in and the NSS module (tests/test_crossprocess.py, tests/test_nss.py), the
# domains declined in C and published for the NSS module (tests/test_domains.py), the
# lookups answered in C (fuzzed with corrupt result images) and the C marshalling
# (nspv2._cmarshal) against them, and the stand-in's ws2_32 rules (NS_EMAIL routing begins
# providers late). libasan is preloaded because the hosts and Python themselves are not
# instrumented; leak checking is left to valgrind and the stand-in's own ASan run, since an
# embedded interpreter that is never finalized keeps its memory by design.
#   bash tools/sanitize.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${NSPV2_SANITIZE_VENV:-$(mktemp -d)/venv}"
# A throwaway environment for the sanitized build that sees the calling Python's packages (the
# test dependencies) after its own, so its nspv2 is the one imported.
python -m venv "$venv"
caller_site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
venv_site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$caller_site" > "$venv_site/zz_caller_site_packages.pth"
NSPV2_WERROR=1 NSPV2_EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  "$venv/bin/python" -m pip install -q --force-reinstall --no-deps .
libasan="$(gcc -print-file-name=libasan.so)"
libubsan="$(gcc -print-file-name=libubsan.so)"
export LD_PRELOAD="$libasan:$libubsan"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export NSPV2_STRESS_LOOKUPS="${NSPV2_STRESS_LOOKUPS:-20000}"
export PATH="$venv/bin:$PATH"
export NSPV2_SANITIZED=1
"$venv/bin/python" -m pytest -q -p no:cacheprovider \
  -k "not valgrind" \
  tests/test_embedding.py tests/test_stress.py tests/test_concurrency.py tests/test_buffer.py \
  tests/test_lookups_c.py tests/test_cmarshal.py tests/test_begin_c.py tests/test_ws2_rules.py \
  tests/test_crossprocess.py tests/test_nss.py tests/test_domains.py "$@"
