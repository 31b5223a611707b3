"""A real S3-compatible server for the storage tests: moto's standalone server on 127.0.0.1,
with authentication on (an IAM user whose key the tests use), reached through s3fs."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.requires import require


@dataclass
class S3:
    """The running server: its endpoint, the working key, and the environment to use it."""

    endpoint: str
    env: dict[str, str]  # AWS_* and MIXFORGE_CACHE: what the tests and their children see

    @functools.cached_property
    def fs(self):
        """The tests' own client (the working key), apart from mixforge's."""
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, endpoint_url=self.endpoint,
                                 key=self.env["AWS_ACCESS_KEY_ID"],
                                 secret=self.env["AWS_SECRET_ACCESS_KEY"])

    def bucket(self, name: str) -> str:
        self.fs.mkdir(name)
        return name


def _have(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    """moto's server with auth on; the process environment points AWS_ENDPOINT_URL at it
    and MIXFORGE_CACHE at a fresh folder for the module's tests."""
    require(_have("s3fs") and _have("moto.server"),
            "the storage tests need s3fs and moto[server]: pip install -e '.[dev,s3]'")
    import boto3
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    _reset(endpoint)  # moto's state is per process: no users or buckets of another module
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="setup", aws_secret_access_key="setup")
    iam.create_user(UserName="mixforge")
    iam.put_user_policy(UserName="mixforge", PolicyName="s3", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="mixforge")["AccessKey"]
    before = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request is authenticated
    ActionAuthenticatorMixin.request_count = 0
    env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
           "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
           "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1",
           "MIXFORGE_CACHE": str(tmp_path_factory.mktemp("mirror"))}
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE",
                     "AWS_SHARED_CREDENTIALS_FILE"):
            mp.delenv(name, raising=False)
        for k, v in env.items():
            mp.setenv(k, v)
        _forget_clients()
        try:
            yield S3(endpoint, env)
        finally:
            _forget_clients()
            settings.INITIAL_NO_AUTH_ACTION_COUNT = before
            _reset(endpoint)
            server.stop()


def _reset(endpoint: str) -> None:
    """Empty moto's state (its documented ``POST /moto-api/reset``)."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"",
                                                  method="POST"), timeout=30).close()


def _forget_clients() -> None:
    """Drop fsspec's cached S3 clients (they hold the credentials they were made with)."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


def child_env(s3: S3, **extra: str) -> dict[str, str]:
    """The environment of a child process that uses the server (and this checkout)."""
    from tests.processes import env

    return {**env(), **s3.env, **extra}


def digest_store(s3: S3, prefix: str) -> dict[str, str]:
    """sha256 of every object under ``prefix``, by key relative to it."""
    import hashlib

    fs = s3.fs
    fs.invalidate_cache()  # listings it cached before mixforge wrote
    return {k[len(prefix) + 1:]: hashlib.sha256(v).hexdigest()
            for k, v in sorted(fs.cat(fs.find(prefix)).items())}  # fetched concurrently


def digest_dir(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by path relative to it."""
    import hashlib

    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


