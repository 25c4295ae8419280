"""Go configs with every Azure Blob key, run by both tools against Azurite: what Go
starts, we start (litestream_core.testing.config_corpus)."""

from __future__ import annotations

import pytest

from litestream_core.testing.config_corpus import assert_starts_like_go, run_both

from .conftest import ACCOUNT, ACCOUNT_KEY


@pytest.mark.parametrize("where", ["replica", "top-level", "url"])
def test_every_abs_key(where, azurite, container, go_litestream, go_env, tmp_path):
    keys = f"account-name: {ACCOUNT}\naccount-key: {ACCOUNT_KEY}\nendpoint: {azurite.endpoint}\n"
    db = "dbs:\n  - path: {data}/app.db\n    replica:\n"
    if where == "replica":
        text = db + "".join(
            f"      {line}\n"
            for line in f"type: abs\nbucket: {container}\npath: {{work}}\n{keys}".splitlines()
        )
    elif where == "top-level":
        text = keys + f"bucket: {container}\n" + db + "      type: abs\n      path: {work}\n"
    else:
        text = keys + db + f"      url: abs://{ACCOUNT}@{container}{{work}}\n"
    go, ours = run_both(go_litestream, text, tmp_path, env=go_env)
    assert go.started, go
    assert_starts_like_go(go, ours, where)


def test_sas_token(azurite, container, go_litestream, go_env, tmp_path):
    """A container SAS in place of the account key (Go tries it first)."""
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    sas = generate_container_sas(
        ACCOUNT,
        container,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, write=True, delete=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    body = (f"type: abs\nbucket: {container}\npath: {{work}}\naccount-name: {ACCOUNT}\n"
            f"sas-token: '{sas}'\nendpoint: {azurite.endpoint}\n")  # fmt: skip
    text = "dbs:\n  - path: {data}/app.db\n    replica:\n" + "".join(
        f"      {line}\n" for line in body.splitlines()
    )
    go, ours = run_both(go_litestream, text, tmp_path, env=go_env)
    assert go.started, go
    assert_starts_like_go(go, ours, "sas-token")
