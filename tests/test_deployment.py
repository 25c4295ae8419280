"""The deployment recipes shipped in packaging/ work as docs/deployment.md says.

- the systemd unit passes ``systemd-analyze verify`` (with ``ExecStart`` pointed at this
  environment's ``litestream``), and in any case parses with the keys the guide
  promises (``Restart=always``, the hardening options) and a command our CLI accepts;
- the container entrypoint runs for real against a file replica: the first start has
  no backup and the application creates the database; after the volume is lost the
  next start restores it before the application runs; the application's exit status
  is the container's;
- the Kubernetes manifests parse, their config loads, and every ``litestream``
  command in them is one our CLI accepts.
"""

from __future__ import annotations

import configparser
import importlib
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from litestream_core.cli import COMMANDS
from litestream_core.cli.goflags import go_args
from litestream_core.config import parse_config

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
UNIT = PACKAGING / "systemd" / "litestream.service"
ENTRYPOINT = PACKAGING / "container" / "entrypoint.sh"
LITESTREAM = Path(sys.executable).with_name("litestream")

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "CapabilityBoundingSet": "",
    "SystemCallArchitectures": "native",
}


def accepts(argv: list[str]) -> click.Command:
    """Our command for ``litestream ARGV...``, after checking its flags parse."""
    assert argv[0] in COMMANDS, f"not a litestream command: {argv}"
    command: click.Command = importlib.import_module(COMMANDS[argv[0]][0]).command
    args = go_args(command, argv[1:])
    with command.make_context(argv[0], args) as _ctx:
        pass
    return command


def flag_value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# -- systemd -----------------------------------------------------------------------------


def unit_sections() -> dict[str, dict[str, list[str]]]:
    """Each section's keys with every value given (a key may repeat, as systemd allows)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_systemd_unit_has_restart_always_hardening_and_a_command_we_accept() -> None:
    configparser.ConfigParser(strict=False, interpolation=None).read_string(UNIT.read_text())
    sections = unit_sections()
    assert set(sections) == {"Unit", "Service", "Install"}
    service = sections["Service"]
    assert service["Restart"] == ["always"]
    for key, value in HARDENING.items():
        assert service.get(key) == [value], f"{key}={value} missing"
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]
    exec_start = shlex.split(service["ExecStart"][0])
    assert Path(exec_start[0]).name == "litestream"
    accepts(exec_start[1:])
    assert flag_value(exec_start, "-config") == "/etc/litestream.yml"


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # the parse above is then the whole check
        return
    unit = tmp_path / "litestream.service"
    text = UNIT.read_text()
    exec_start = shlex.split(unit_sections()["Service"]["ExecStart"][0])
    unit.write_text(text.replace(exec_start[0], str(LITESTREAM)))
    proc = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [line for line in proc.stderr.splitlines() if "litestream.service" in line]
    assert proc.returncode == 0 and not problems, proc.stderr


# -- The container entrypoint ------------------------------------------------------------

APP = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE IF NOT EXISTS starts (n INTEGER)")
n = db.execute("SELECT count(*) FROM starts").fetchone()[0] + 1
db.execute("INSERT INTO starts VALUES (?)", (n,))
db.commit()
db.close()
print("start", n)
sys.exit(int(sys.argv[2]))
"""


def run_entrypoint(work: Path, status: int) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{LITESTREAM.parent}:/usr/bin:/bin",
        "LITESTREAM_CONFIG": str(work / "litestream.yml"),
        "HOME": str(work),
    }
    return subprocess.run(
        [str(ENTRYPOINT), sys.executable, str(work / "app.py"), str(work / "data" / "app.db"),
         str(status)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_container_entrypoint_restores_then_replicates_around_the_app(
    tmp_path: Path, go_litestream: Path
) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "data").mkdir()
    (tmp_path / "litestream.yml").write_text(
        f"dbs:\n  - path: {tmp_path / 'data' / 'app.db'}\n"
        f"    replica:\n      url: file://{tmp_path / 'replica'}\n"
    )
    first = run_entrypoint(tmp_path, 0)
    assert first.returncode == 0, first.stderr
    assert "start 1" in first.stdout  # no backup yet: the application made the database

    shutil.rmtree(tmp_path / "data")  # the container's volume is lost
    (tmp_path / "data").mkdir()
    second = run_entrypoint(tmp_path, 3)
    assert "start 2" in second.stdout, second.stderr  # restored before the app ran
    assert second.returncode == 3  # the application's exit status

    restored = tmp_path / "restored.db"
    subprocess.run(
        [str(LITESTREAM), "restore", "-o", str(restored), f"file://{tmp_path / 'replica'}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    rows = sqlite3.connect(restored).execute("SELECT n FROM starts ORDER BY n").fetchall()
    assert rows == [(1,), (2,)]  # the second start's commit reached the replica
    by_go = tmp_path / "by-go.db"  # and Go Litestream restores the same
    subprocess.run(
        [str(go_litestream), "restore", "-o", str(by_go), f"file://{tmp_path / 'replica'}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert sqlite3.connect(by_go).execute("SELECT n FROM starts ORDER BY n").fetchall() == rows


def test_container_entrypoint_needs_an_application() -> None:
    proc = subprocess.run([str(ENTRYPOINT)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_dockerfile_installs_the_entrypoint_it_runs() -> None:
    lines = (PACKAGING / "container" / "Dockerfile").read_text().splitlines()
    copies = {line.split()[-1]: line.split()[1] for line in lines if line.startswith("COPY ")}
    entrypoint = next(line for line in lines if line.startswith("ENTRYPOINT "))
    target = yaml.safe_load(entrypoint.removeprefix("ENTRYPOINT "))[0]
    assert copies[target] == "entrypoint.sh"
    assert "pip install" in "\n".join(lines) and "litestream-core" in "\n".join(lines)


# -- Kubernetes --------------------------------------------------------------------------


def manifests() -> dict[str, Any]:
    found = {}
    for path in sorted((PACKAGING / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            found[doc["kind"]] = doc
    return found


def test_kubernetes_manifests_parse_and_their_commands_are_ours() -> None:
    docs = manifests()
    assert set(docs) == {"ConfigMap", "StatefulSet"}
    config = parse_config(docs["ConfigMap"]["data"]["litestream.yml"], expand=False)
    (db,) = config.dbs
    spec = docs["StatefulSet"]["spec"]
    assert spec["replicas"] == 1  # one writer, one replicator
    pod = spec["template"]["spec"]
    restore, sidecar = pod["initContainers"]
    assert sidecar["restartPolicy"] == "Always"  # a native sidecar
    for container in (restore, sidecar):
        assert container["command"] == ["litestream"]
        accepts(container["args"])
        config_path = Path(flag_value(container["args"], "-config"))
        mounts = {m["name"]: Path(m["mountPath"]) for m in container["volumeMounts"]}
        assert config_path.parent == mounts["litestream-config"]
        assert db.path.parent == mounts["data"]
    assert restore["args"][0] == "restore"
    assert {"-if-db-not-exists", "-if-replica-exists"} <= set(restore["args"])
    assert restore["args"][-1] == str(db.path)
    assert sidecar["args"][0] == "replicate"
    app = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert Path(app["data"]) == db.path.parent


def test_kubernetes_init_container_restore_does_what_the_guide_says(tmp_path: Path) -> None:
    """The init container's own arguments, with its paths moved under tmp_path: nothing
    to restore lets the pod start, an empty volume gets the database back, and a volume
    that holds it is left alone."""
    docs = manifests()
    (restore, _sidecar) = docs["StatefulSet"]["spec"]["template"]["spec"]["initContainers"]
    text = docs["ConfigMap"]["data"]["litestream.yml"]
    (db,) = parse_config(text, expand=False).dbs
    volume = tmp_path / "volume"
    volume.mkdir()
    replica = tmp_path / "replica"
    config = tmp_path / "litestream.yml"
    config.write_text(
        f"dbs:\n  - path: {volume / db.path.name}\n    replica:\n      url: file://{replica}\n"
    )
    mapped = {str(db.path): str(volume / db.path.name), flag_value(restore["args"], "-config"):
              str(config)}  # fmt: skip
    argv = [LITESTREAM, *(mapped.get(a, a) for a in restore["args"])]

    def init_container() -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    first = init_container()  # a first start: no backup yet
    assert first.returncode == 0, first.stderr
    assert not (volume / db.path.name).exists()

    source = tmp_path / "source.db"
    app = sqlite3.connect(source)
    app.execute("PRAGMA journal_mode=WAL")
    app.execute("CREATE TABLE t (x)")
    app.execute("INSERT INTO t VALUES ('kept')")
    app.commit()
    app.close()
    subprocess.run([LITESTREAM, "replicate", "-once", str(source), f"file://{replica}"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip

    second = init_container()  # an empty volume: restored
    assert second.returncode == 0, second.stderr
    restored = sqlite3.connect(volume / db.path.name)
    assert restored.execute("SELECT x FROM t").fetchall() == [("kept",)]
    restored.execute("INSERT INTO t VALUES ('local')")
    restored.commit()
    restored.close()

    third = init_container()  # the volume holds the database: left alone
    assert third.returncode == 0, third.stderr
    rows = sqlite3.connect(volume / db.path.name).execute("SELECT x FROM t").fetchall()
    assert rows == [("kept",), ("local",)]
