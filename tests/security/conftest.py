"""Fixtures of the security tests: two unrelated test PKIs made on the spot."""

from __future__ import annotations

import pytest

from tests.support.certs import Certificates, make_certificates


@pytest.fixture(scope="session")
def certificates(tmp_path_factory) -> Certificates:
    """A CA with a server certificate (127.0.0.1, localhost) and a client certificate."""
    return make_certificates(tmp_path_factory.mktemp("pki"), "avatar test CA")


@pytest.fixture(scope="session")
def other_certificates(tmp_path_factory) -> Certificates:
    """A second, unrelated CA and its certificates (trusted by nobody else)."""
    return make_certificates(tmp_path_factory.mktemp("other-pki"), "another CA")
