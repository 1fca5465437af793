"""Review H2: the flag that exempts an administration from the direct-dose rule
(``records.WorkflowGive``) is internal to the services: only the workflow's give step passes it.
No adapter (REST, web, CLI, FHIR, HL7, CDS Hooks) names it, so no request can set it."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "inoplan"
#: Where the flag may be named: its definition (records), its one user (the give step) and the
#: guards' documentation of it.
ALLOWED = {"services/records.py", "services/workflow.py", "services/guards.py"}


def test_only_the_give_step_passes_the_workflow_flag() -> None:
    naming = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if any(w in path.read_text(encoding="utf-8") for w in ("WorkflowGive", "workflow_give"))
    }
    assert naming <= ALLOWED, naming - ALLOWED
    workflow = (SRC / "services" / "workflow.py").read_text(encoding="utf-8")
    assert workflow.count("workflow_give=WorkflowGive(cycle, day)") == 1
