"""Hypothesis profiles: CI replays the same examples every run (a red build is reproducible); a developer's
run explores new ones (`HYPOTHESIS_PROFILE=dev`, the default outside CI)."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
