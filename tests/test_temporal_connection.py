"""Where the worker and the site connect: the dev server by default, a cluster with mutual TLS
or Temporal Cloud with an API key through temporalio.envconfig, from the environment or from a
profile of an envconfig TOML file. Loading is tested here; a TLS cluster is not at hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import TLSConfig

from db.engine import make_engine
from settings import Settings
from worker import connect


def production(tmp_path: Path, **values: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        data_dir=tmp_path,
        secret_key=SecretStr("k" * 8 + "-connection-test-key-0123456789abcdef"),
        **values,  # type: ignore[arg-type]
    )


def test_by_default_the_dev_server_in_the_default_namespace(tmp_path: Path) -> None:
    assert production(tmp_path, payload_keys=SecretStr(KEYS)).temporal_connection() == {
        "target_host": "127.0.0.1:7233",
        "namespace": "default",
    }


KEYS = "k1:" + "A" * 43 + "="


def test_mutual_tls_reads_the_certificate_files(tmp_path: Path) -> None:
    for name in ("client.pem", "client.key", "ca.pem"):
        (tmp_path / name).write_bytes(f"-----{name}-----\n".encode())
    connection = production(
        tmp_path,
        payload_keys=SecretStr(KEYS),
        temporal_address="temporal.internal:7233",
        temporal_namespace="cers",
        temporal_tls_client_cert_path=str(tmp_path / "client.pem"),
        temporal_tls_client_key_path=str(tmp_path / "client.key"),
        temporal_tls_server_ca_cert_path=str(tmp_path / "ca.pem"),
        temporal_tls_server_name="temporal.internal",
    ).temporal_connection()
    assert connection["target_host"] == "temporal.internal:7233"
    assert connection["namespace"] == "cers"
    assert connection["tls"] == TLSConfig(
        client_cert=b"-----client.pem-----\n",
        client_private_key=b"-----client.key-----\n",
        server_root_ca_cert=b"-----ca.pem-----\n",
        domain="temporal.internal",
    )
    assert "api_key" not in connection


def test_an_api_key_turns_tls_on_as_temporal_cloud_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From the environment, under the SDK's own variable names, as an operator sets them.
    monkeypatch.setenv("TEMPORAL_ADDRESS", "eu-west-1.aws.api.temporal.io:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "cers.a1b2c")
    monkeypatch.setenv("TEMPORAL_API_KEY", "cloud-api-key")
    connection = production(tmp_path, payload_keys=SecretStr(KEYS)).temporal_connection()
    assert connection == {
        "target_host": "eu-west-1.aws.api.temporal.io:7233",
        "namespace": "cers.a1b2c",
        "api_key": "cloud-api-key",
        "tls": True,
    }


def test_a_profile_of_a_config_file_and_a_setting_over_it(tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(
        '[profile.prod]\naddress = "prod.tmprl.cloud:7233"\nnamespace = "cers.prod"\n'
        'api_key = "from-the-file"\n'
        '[profile.staging]\naddress = "staging:7233"\n'
    )
    read = production(
        tmp_path,
        payload_keys=SecretStr(KEYS),
        temporal_config_file=str(config),
        temporal_profile="prod",
    )
    assert read.temporal_connection() == {
        "target_host": "prod.tmprl.cloud:7233",
        "namespace": "cers.prod",
        "api_key": "from-the-file",
        "tls": True,
    }
    rotated = read.model_copy(update={"temporal_api_key": SecretStr("rotated")})
    assert rotated.temporal_connection()["api_key"] == "rotated"


def test_a_certificate_file_that_is_not_there_stops_the_start(tmp_path: Path) -> None:
    settings = production(
        tmp_path,
        payload_keys=SecretStr(KEYS),
        temporal_tls_client_cert_path=str(tmp_path / "missing.pem"),
        temporal_tls_client_key_path=str(tmp_path / "missing.key"),
    )
    with pytest.raises(FileNotFoundError, match="missing"):
        settings.temporal_connection()


async def test_the_worker_connects_through_it(client: Client, settings: Settings) -> None:
    """The same path, end to end, to the dev server the tests run."""
    target = client.service_client.config.target_host
    engine = make_engine(settings.sqlalchemy_url)  # where the worker keeps its data keys
    connected = await connect(settings.model_copy(update={"temporal_address": target}), engine)
    assert connected.service_client.config.target_host == target
    described = await connected.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=connected.namespace)
    )
    assert described.namespace_info.name == client.namespace == "default"
    engine.dispose()
