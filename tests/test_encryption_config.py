"""A replica's ``age:`` block: Go v0.3's keys, inline or as key files, checked when
the config is read, and never echoed (a secret key in the wrong list must not reach a
log through an error message)."""

from __future__ import annotations

import pytest

from litestream_core.config import parse_config
from litestream_core.encryption.keys import Identity
from litestream_core.encryption.layout import MAX_RECIPIENTS
from litestream_core.errors import ConfigError

A, B = Identity.generate(), Identity.generate()


def config(age_block: str) -> str:
    return "dbs:\n  - path: /data/app.db\n    replica:\n      url: file:///backup\n" + "".join(
        f"      {line}\n" for line in age_block.strip("\n").splitlines()
    )


def keys_of(text: str):
    replica = parse_config(text, source="t.yml").dbs[0].replica
    assert replica is not None and replica.age is not None
    return replica.age


def test_inline_keys_as_go_v03_wrote_them():
    block = f"age:\n  recipients: [{A.recipient}, {B.recipient}]\n"
    keys = keys_of(config(block + f"  identities: [{A.secret_text()}]"))
    assert keys.recipients == (A.recipient, B.recipient)
    assert [i.recipient for i in keys.identities] == [A.recipient]


def test_identity_files_and_identity_file_text(tmp_path, monkeypatch):
    key_file = f"# created: now\n# public key: {A.recipient}\n{A.secret_text()}\n"
    (tmp_path / "a.txt").write_text(key_file)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "recipients.txt").write_text(f"# team\n{A.recipient}\n{B.recipient}\n")
    text = config(
        f"""
age:
  recipients: [~/recipients.txt]
  identities:
    - {tmp_path / "a.txt"}
    - |
      # created: later
      {B.secret_text()}
"""
    )
    keys = keys_of(text)
    assert keys.recipients == (A.recipient, B.recipient)
    assert {i.recipient for i in keys.identities} == {A.recipient, B.recipient}


def test_identities_alone_serve_restore_hosts():
    keys = keys_of(config(f"age:\n  identities: [{A.secret_text()}]"))
    assert keys.recipients == () and len(keys.identities) == 1


AT_BLOCK = "t.yml: line 5, column 7: dbs[0].replica.age"

BAD_KEYS = [
    (f"age:\n  recipients: [{A.secret_text()}]\n  identities: [{A.secret_text()}]",
     "recipients[0] is a secret key (AGE-SECRET-KEY-1...); recipients take public keys",
     AT_BLOCK),
    (f"age:\n  recipients: [{A.recipient}]\n  identities: [{B.secret_text()}]",
     "no identity opens files written to the recipients", AT_BLOCK),
    (f"age:\n  recipients: [{A.recipient}]", "no identity opens files", AT_BLOCK),
    (f"age:\n  identities: [{A.secret_text()[:-3]}xyz]",
     "identities[0] is not an age X25519 identity", AT_BLOCK),
    ("age:\n  identities: [/no/such/key.txt]", "key file not found: /no/such/key.txt",
     AT_BLOCK),
    ("age: {}", "no recipients or identities given", AT_BLOCK),
    ("age: yes", "expected a mapping", AT_BLOCK),
    # The block's shape is checked as a declared settings section: the key's own line.
    (f"age:\n  identities: [{A.secret_text()}]\n  recipient: [x]",
     "unknown key 'recipient' (did you mean 'recipients'?)",
     "t.yml: line 7, column 9: dbs[0].replica.age"),
    (f"age:\n  identities: [{A.secret_text()}]\n  recipients: 7", "expected a list, got 7",
     "t.yml: line 7, column 9: dbs[0].replica.age.recipients"),
    (f"age:\n  identities: {A.secret_text()}", "expected a list, got '***'",
     "t.yml: line 6, column 9: dbs[0].replica.age.identities"),
]  # fmt: skip


# Named by the message: the blocks hold keys made afresh in each process, and parallel
# test workers must collect the same test names.
@pytest.mark.parametrize(("block", "message", "at"), BAD_KEYS, ids=[m for _, m, _ in BAD_KEYS])
def test_bad_keys_are_one_line_errors_that_never_show_a_key(block, message, at):
    with pytest.raises(ConfigError) as info:
        parse_config(config(block), source="t.yml")
    line = info.value.one_line()
    assert message in line and "\n" not in line
    assert at in line
    for secret in (A.secret_text(), B.secret_text(), A.secret_text()[:-3]):
        assert secret not in line and secret.lower() not in line


def test_age_keys_are_a_declared_section():
    from litestream_core.encryption.settings import AgeSettings

    infos = {info.key: info for info in AgeSettings.describe()}
    assert set(infos) == {"recipients", "identities"}
    assert infos["identities"].secret and not infos["recipients"].secret
    shown = repr(AgeSettings.from_options({"identities": [A.secret_text()]}))
    assert A.secret_text() not in shown


def test_too_many_recipients_for_the_fixed_header():
    many = [Identity.generate() for _ in range(MAX_RECIPIENTS + 1)]
    block = f"age:\n  recipients: [{', '.join(str(i.recipient) for i in many)}]\n"
    block += f"  identities: [{many[0].secret_text()}]"
    with pytest.raises(ConfigError, match=f"at most {MAX_RECIPIENTS} recipients"):
        parse_config(config(block))
    block = f"age:\n  recipients: [{', '.join(str(i.recipient) for i in many[1:])}]\n"
    block += f"  identities: [{many[1].secret_text()}]"
    assert len(keys_of(config(block)).recipients) == MAX_RECIPIENTS


def test_parsed_config_shows_no_key_material():
    text = config(f"age:\n  recipients: [{A.recipient}]\n  identities: [{A.secret_text()}]")
    parsed = parse_config(text)
    shown = repr(parsed) + str(parsed)
    assert A.secret_text() not in shown and A.secret_text().lower() not in shown
    assert "AgeKeys(recipients=1, identities=1)" in shown


def test_age_outside_a_replica_block_is_refused():
    with pytest.raises(ConfigError, match="'age' belongs inside a replica block"):
        parse_config(f"age:\n  identities: [{A.secret_text()}]\ndbs: []\n")


def test_identities_are_among_the_secrets_redacted_from_logs():
    text = config(f"age:\n  recipients: [{A.recipient}]\n  identities: [{A.secret_text()}]")
    assert A.secret_text() in parse_config(text).secrets()


def test_the_api_replication_process_redacts_identities_given_in_options():
    from litestream_core.client import ReplicaURL
    from litestream_core.plugins import get_plugin_manager, replica_secrets

    options = {"age": {"recipients": [str(A.recipient)], "identities": [A.secret_text()]}}
    found = replica_secrets(get_plugin_manager(), ReplicaURL.parse("file:///r"), options)
    assert A.secret_text() in found and A.secret_text().lower() in found


def test_without_the_age_extra_the_error_says_what_to_install(monkeypatch):
    import importlib.util

    import litestream_core.encryption as encryption

    real = importlib.util.find_spec
    monkeypatch.setattr(
        encryption.importlib.util,
        "find_spec",
        lambda name: None if name == "bech32" else real(name),
    )
    text = config(f"age:\n  identities: [{A.secret_text()}]")
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="t.yml")
    assert "encrypted replicas need bech32, which is not installed" in info.value.one_line()
    assert "pip install 'litestream-core[age]'" in info.value.one_line()
