"""`make eval`: each registered solution's evaluation on its test splits, baselines beside.

Solutions whose data folder (../shared/data/<solution>) is absent are skipped with a message.
"""

import os
import sys

import django


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from solutions import registry

    failed = []
    for solution in registry.all_solutions():
        if solution.evaluate is None:
            continue
        data = settings.BASE_DIR.parent / "shared" / "data" / solution.name
        if not data.is_dir():
            print(f"--- {solution.name}: skipped, no data at {data}")
            continue
        print(f"=== evaluate {solution.name}", flush=True)
        try:
            call_command("evaluate", solution.name, "--data", str(data))
        except Exception as exc:  # one solution's failure must not hide the others' results
            print(f"--- {solution.name}: evaluation failed: {exc}")
            failed.append(solution.name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
