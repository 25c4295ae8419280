"""Keys never show: a config with its secret key inline, replicated at debug level with
metrics and the control socket on, then inspected with every command that reads it."""

from __future__ import annotations

import subprocess
import urllib.request
from pathlib import Path

from litestream_core.encryption.keys import Identity
from litestream_core.testing.e2e import OUR_LITESTREAM, App, Replicate, wait_for
from litestream_core.testing.servers import free_port


def run(*args: str) -> str:
    proc = subprocess.run([str(OUR_LITESTREAM), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_no_command_log_or_metric_shows_a_key(tmp_path):
    key, other = Identity.generate(), Identity.generate()
    secrets = [key.secret_text(), other.secret_text()]
    db, replica, sock = tmp_path / "app.db", tmp_path / "replica", tmp_path / "ls.sock"
    port = free_port()
    config = tmp_path / "litestream.yml"
    config.write_text(
        f"""
addr: 127.0.0.1:{port}
logging: {{level: debug}}
socket: {{enabled: true, path: {sock}}}
levels: [{{interval: 1s}}]
dbs:
  - path: {db}
    monitor-interval: 50ms
    replica:
      url: file://{replica}
      sync-interval: 100ms
      age:
        recipients: [{key.recipient}]
        identities: [{key.secret_text()}, "{other.secret_text()}"]
"""
    )
    app = App(db)
    app.write(10)
    replicate = Replicate(config, tmp_path / "replicate.log")
    try:
        wait_for(lambda: any((replica / "ltx" / "1").glob("*.ltx")), "no L1 file in 30 s")
        app.write(5)
        shown = [urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()]
        shown += [run("list", "-socket", str(sock)), run("info", "-socket", str(sock))]
        shown += [run("list", "-socket", str(sock), "-json")]
        shown += [run("status", "-config", str(config))]
        shown += [run("databases", "-config", str(config), "-positions")]
        shown += [run("ltx", "-config", str(config), str(db))]
        shown += [run("verify", "-config", str(config), str(db))]
        shown += [run("query", "-config", str(config), str(db), "PRAGMA litestream_txid")]
    finally:
        replicate.stop()
        app.close()
    shown += [replicate.output(), run("plugins", "-all")]
    shown += [run("restore", "-config", str(config), "-o", str(tmp_path / "out.db"), str(db))]
    assert "litestream_" in shown[0] and "DEBUG" in replicate.output().upper()
    text = "\n".join(shown)
    for secret in secrets:
        body = secret.split("-1", 1)[1]
        assert body not in text.upper(), "a secret key was shown"
    assert Path(tmp_path / "out.db").exists()
