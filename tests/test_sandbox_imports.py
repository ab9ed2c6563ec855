"""The worker's sandbox runs a workflow's own module afresh for every new workflow (as the
SDK must), but the modules it imports under ``imports_passed_through`` are the worker's own,
imported once: its rules, its metering, their caches. A module taken from its package's
fromlist (``from workflows import rules``) was not passed through, so rules.py ran again in
every new journey's sandbox and its cached time-zone list was built again at each account
step. This imports each workflow module the way the SDK's sandbox does (its Importer, with
the default restrictions the worker uses; a private API of the pinned SDK)."""

from __future__ import annotations

import importlib
import sys

import pytest
from temporalio.worker.workflow_sandbox import SandboxRestrictions
from temporalio.worker.workflow_sandbox._importer import Importer
from temporalio.worker.workflow_sandbox._restrictions import RestrictionContext

import workflows.metering
import workflows.rules
from workflows.registry import WORKFLOWS

PASSED_THROUGH = {"rules": workflows.rules, "metering": workflows.metering}


@pytest.mark.parametrize("module_name", sorted({cls.__module__ for cls in WORKFLOWS}))
def test_a_workflow_module_s_helpers_are_the_worker_s_own_modules_in_its_sandbox(
    module_name: str,
) -> None:
    host = importlib.import_module(module_name)
    importer = Importer(SandboxRestrictions.default, RestrictionContext(), module_name)
    with importer.applied():
        sandboxed = importlib.import_module(module_name)
        in_sandbox = dict(sys.modules)
    assert sandboxed is not host  # the workflow's own module: afresh, as the SDK needs
    for name, module in PASSED_THROUGH.items():
        if hasattr(host, name):
            assert getattr(sandboxed, name) is module, f"{module_name} runs {name} again"
        assert in_sandbox.get(module.__name__, module) is module
