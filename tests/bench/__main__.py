"""`make bench`: run every benchmark and print its figures."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = sys.argv[1:]
    failures = 0
    for name in names:
        if wanted and not any(w in name for w in wanted):
            continue
        module = importlib.import_module(f"tests.bench.{name}")
        print(f"\n== {name} ==")
        failures += 0 if module.main() else 1
    print(f"\n{'all targets met' if not failures else f'{failures} benchmark(s) missed a target'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
