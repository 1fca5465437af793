"""Use cases: load a course, plan it, dose it, decide; shared by the CLI, API and web UI."""
