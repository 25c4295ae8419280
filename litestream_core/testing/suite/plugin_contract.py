"""The plugin's packaging: entry point, cheap import, declared schemes, valid hookimpls.

These tests do no backend I/O. They use pluggy with ``litestream_core.hookspecs``
directly, so they check the plugin against the hook specifications alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pytest

from litestream_core.testing.suite._base import SuiteBase

GROUP = "litestream.plugins"

# Loads the entry point, runs its registration hook, and reports which of the given
# modules got imported along the way.
_PROBE = """
import json, sys
from importlib.metadata import entry_points
import pluggy
from litestream_core import hookspecs
(ep,) = entry_points(group=sys.argv[1], name=sys.argv[2])
pm = pluggy.PluginManager("litestream")
pm.add_hookspecs(hookspecs)
pm.register(ep.load(), name=sys.argv[2])
pm.hook.litestream_register_replica_clients(register=lambda *a, **k: None)
print(json.dumps(sorted(m for m in json.loads(sys.argv[3]) if m in sys.modules)))
"""


class PluginContractTests(SuiteBase):
    def _entry_point(self) -> EntryPoint:
        if self.plugin_name is None:
            pytest.skip("plugin_name not set: this suite subclass tests no plugin")
        found = entry_points(group=GROUP, name=self.plugin_name)
        assert found, f"no entry point {self.plugin_name!r} in group {GROUP!r}; is it installed?"
        (ep,) = found
        return ep

    def _manager(self) -> Any:
        import pluggy

        from litestream_core import hookspecs

        pm = pluggy.PluginManager("litestream")
        pm.add_hookspecs(hookspecs)
        pm.register(self._entry_point().load(), name=self.plugin_name)
        return pm

    def test_entry_point_exists(self) -> None:
        ep = self._entry_point()
        assert ep.value.split(":")[0], "entry point names no module"

    def test_plugin_import_is_light(self) -> None:
        """`litestream --help` must not pay for SDK imports (boto3 alone is about 1 s)."""
        ep = self._entry_point()
        assert ep.name == self.plugin_name
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        probe = [sys.executable, "-c", _PROBE, GROUP, ep.name, json.dumps(self.heavy_modules)]
        proc = subprocess.run(probe, capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, f"loading the plugin failed:\n{proc.stderr}"
        imported = json.loads(proc.stdout.strip().splitlines()[-1])
        assert imported == [], (
            f"importing and registering plugin {ep.name!r} imported {imported}; "
            "import SDKs inside the client factory instead"
        )

    def test_plugin_registers_declared_schemes(self) -> None:
        registered: dict[str, Callable[..., Any]] = {}

        def register(scheme: str, factory: Callable[..., Any], **options: Any) -> None:
            assert isinstance(scheme, str)
            assert scheme not in registered, f"scheme {scheme!r} registered twice"
            assert callable(factory), f"factory for {scheme!r} is not callable"
            assert set(options) <= {"description", "override", "aliases", "parse_url"}
            assert isinstance(options.get("description", ""), str)
            registered[scheme] = factory

        self._manager().hook.litestream_register_replica_clients(register=register)
        assert sorted(registered) == sorted(self.schemes)

    def test_plugin_hookimpls_match_hookspecs(self) -> None:
        """A misspelled hook name or argument would otherwise be silently ignored."""
        pm = self._manager()
        pm.check_pending()
        assert pm.get_hookcallers(pm.get_plugin(self.plugin_name)), "plugin implements no hook"
