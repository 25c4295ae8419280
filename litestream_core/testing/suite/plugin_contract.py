"""The plugin's packaging: entry point, cheap import, declared schemes and settings.

These tests do no backend I/O. They load the plugin with the core's own loader
(``litestream_core.plugins.get_plugin_manager`` in strict mode), so a plugin passes
here exactly when ``litestream`` itself would accept it: core version range,
hookimpls matching the hookspecs, a valid registration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pytest

from litestream_core.testing.suite._base import SuiteBase

GROUP = "litestream.plugins"

# Loads the plugin as `litestream` does, builds the registry (which reads the declared
# settings), and reports which of the given modules got imported along the way.
_PROBE = """
import json, sys
from litestream_core.plugins import get_plugin_manager, replica_client_registry
pm = get_plugin_manager(only={sys.argv[1]}, strict=True)
for spec in replica_client_registry(pm).values():
    if spec.settings is not None:
        spec.settings.describe()
print(json.dumps(sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)))
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
        """The plugin alone, loaded by the core's loader; any load problem raises."""
        from litestream_core.plugins import get_plugin_manager

        self._entry_point()
        return get_plugin_manager(only={self.plugin_name or ""}, strict=True)

    def _own_specs(self) -> dict[str, Any]:
        from litestream_core.plugins import replica_client_registry

        registry = replica_client_registry(self._manager())
        return {s: spec for s, spec in registry.items() if spec.plugin == self.plugin_name}

    def test_entry_point_exists(self) -> None:
        ep = self._entry_point()
        assert ep.value.split(":")[0], "entry point names no module"

    def test_plugin_import_is_light(self) -> None:
        """`litestream --help` must not pay for SDK imports (boto3 alone is about 1 s)."""
        ep = self._entry_point()
        assert ep.name == self.plugin_name
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        probe = [sys.executable, "-c", _PROBE, ep.name, json.dumps(self.heavy_modules)]
        proc = subprocess.run(probe, capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, f"loading the plugin failed:\n{proc.stderr}"
        imported = json.loads(proc.stdout.strip().splitlines()[-1])
        assert imported == [], (
            f"importing and registering plugin {ep.name!r} imported {imported}; "
            "import SDKs inside the client factory instead"
        )

    def test_plugin_registers_declared_schemes(self) -> None:
        assert sorted(self._own_specs()) == sorted(self.schemes), (
            f"plugin {self.plugin_name!r} registers {sorted(self._own_specs())}, "
            f"the suite expects {sorted(self.schemes)}"
        )

    def test_plugin_settings_are_usable(self) -> None:
        """Declared keys must be listable and their defaults must pass their own checks."""
        for scheme, spec in self._own_specs().items():
            if spec.settings is None:
                continue
            infos = spec.settings.describe()
            assert all(info.help for info in infos), f"{scheme}: every key needs a help text"
            spec.settings.from_options({})

    def test_plugin_hookimpls_match_hookspecs(self) -> None:
        """A misspelled hook name or argument would otherwise be silently ignored."""
        pm = self._manager()  # strict: an unknown hook raises here
        assert pm.get_hookcallers(pm.get_plugin(self.plugin_name)), "plugin implements no hook"
