"""widget.js and inbox.js as the web function serves them: each the modules of
layers/common/livechat/web/ that livechat.api.pages.BUNDLES lists, put together without a
build step. Every module is listed, each script parses (node), and the widget, embedded on
other sites, defines nothing in their globals (once started it sets window.livechatWidget and
window.__livechatWidgetLoaded, on purpose)."""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from livechat.api import pages

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "layers" / "common" / "livechat" / "web"
PAGE_FOLDERS = {"widget.js": "widget", "inbox.js": "inbox"}
SHARED = "shared"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not installed: it checks that the served widget.js and inbox.js parse "
                    "(apt-get install nodejs)")
    return found


def modules_on_disk() -> set[str]:
    return {p.relative_to(WEB).as_posix() for p in WEB.glob("*/**/*") if p.is_file()}


# --- the manifest ---------------------------------------------------------------------------


def test_the_scripts_are_made_of_the_modules_of_their_page_and_the_shared_ones() -> None:
    assert set(pages.BUNDLES) == set(PAGE_FOLDERS)
    for name, modules in pages.BUNDLES.items():
        assert len(modules) == len(set(modules)), f"{name} lists a module twice"
        assert {m.split("/")[0] for m in modules} == {SHARED, PAGE_FOLDERS[name]}, name
        assert modules[-1] == f"{PAGE_FOLDERS[name]}/main.js", f"{name}: main.js starts the page, so it comes last"


def test_every_module_file_is_listed_and_every_listed_module_is_a_file() -> None:
    listed = [m for modules in pages.BUNDLES.values() for m in modules]

    orphans = modules_on_disk() - set(listed)
    missing = set(listed) - modules_on_disk()

    assert not orphans, f"module files that no script of pages.BUNDLES lists: {sorted(orphans)}"
    assert not missing, f"modules that pages.BUNDLES lists but web/ lacks: {sorted(missing)}"


def test_a_page_module_is_in_one_script_and_a_shared_module_in_every_script() -> None:
    # A shared/ module that only one page uses belongs in that page's folder.
    for module in sorted(modules_on_disk()):
        holders = {name for name, modules in pages.BUNDLES.items() if module in modules}
        expected = set(pages.BUNDLES) if module.startswith(SHARED + "/") else {
            name for name, folder in PAGE_FOLDERS.items() if module.startswith(folder + "/")}
        assert holders == expected, module


def test_no_file_in_web_has_the_name_of_a_script() -> None:
    assert not {p.name for p in WEB.iterdir()} & set(pages.BUNDLES)


def test_the_package_data_ships_every_module() -> None:
    # pyproject's package-data (non-editable installs); the layer's Makefile copies the folder.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["livechat"]

    for module in sorted(modules_on_disk()):
        path = f"web/{module}"
        assert any(fnmatch.fnmatch(path, g) and path.count("/") == g.count("/") for g in globs), path


# --- the served scripts -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(pages.BUNDLES))
def test_the_served_script_holds_its_modules_in_order_inside_one_function(name: str) -> None:
    served = pages.assets()[name].body
    assert served == pages.bundle(name)

    positions = [served.index((WEB / m).read_text(encoding="utf-8").rstrip()) for m in pages.BUNDLES[name]]
    assert positions == sorted(positions)
    code = "\n".join(line for line in served.splitlines() if not line.startswith((" *", "/*")))
    assert code.startswith('(function () {\n"use strict";') and code.endswith("})();")


@pytest.mark.parametrize("name", sorted(pages.BUNDLES))
def test_the_served_script_parses(name: str, tmp_path: Path) -> None:
    script = tmp_path / name
    script.write_text(pages.assets()[name].body, encoding="utf-8")

    checked = subprocess.run([node(), "--check", str(script)], capture_output=True, text=True, check=False)

    assert checked.returncode == 0, f"{name} does not parse:\n{checked.stderr}"


def test_each_module_parses_on_its_own() -> None:
    # So that a syntax error names its module, not a line of the served script. A .json
    # module is data (pages.bundle assigns it): JSON, not a script.
    modules = sorted(modules_on_disk())
    for data in (m for m in modules if m.endswith(".json")):
        json.loads((WEB / data).read_text(encoding="utf-8"))
    checks = [subprocess.run([node(), "--check", str(WEB / m)], capture_output=True, text=True, check=False)
              for m in modules if not m.endswith(".json")]

    failed = [c.stderr for c in checks if c.returncode != 0]
    assert not failed, "\n".join(failed)


# The widget where it finds no <script> tag of its own: everything is defined, nothing starts.
LEAK_CHECK = """
const vm = require("vm");
const fs = require("fs");
const document = { currentScript: null, querySelectorAll: () => [] };
const context = vm.createContext({ document, console });
context.window = context;
const before = new Set(Object.getOwnPropertyNames(context));
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), context);
console.log(JSON.stringify(Object.getOwnPropertyNames(context).filter((k) => !before.has(k))));
"""


def test_the_widget_leaks_nothing_into_the_host_pages_globals(tmp_path: Path) -> None:
    script = tmp_path / "widget.js"
    script.write_text(pages.assets()["widget.js"].body, encoding="utf-8")

    ran = subprocess.run([node(), "-e", LEAK_CHECK, str(script)], capture_output=True, text=True, check=False)

    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == []
