"""Cold-start proxy: how long each function's handler module takes to import from the build.

For every function of template.yaml: a fresh python3.13 process per measurement imports the
handler module from `.aws-sam/build/<Function>/`, with the layer's `python/` dir and a stand-in
for the runtime's boto3 behind it (Lambda's order: /var/task, /opt/python, /var/runtime; see
scripts/local_runtime.py), and the CPU time of the import alone is kept (not the interpreter's
start). A bare `import boto3` is measured in the same rounds, and each function is shown as a multiple of
it. Next to each handler, in the same rounds, its third-party floor: a fresh process that runs
only the import statements of boto3, botocore, pydantic, pynamodb and aws_lambda_powertools
that our loaded code makes at import time (derived, not listed: the modules of ours the handler
import leaves in sys.modules are parsed, their module-level imports kept, TYPE_CHECKING blocks
and imports inside functions left out), and our own code's overhead as a percentage over that
floor: what our modules and everything else they load cost; the floor's process then imports
the handler, and what that adds is shown too, over the floor it followed (same-process + %:
the same quantity without two processes' noise). Twice: with the build's bytecode,
and with none (PYTHONPYCACHEPREFIX pointing at an empty
directory, which is what a build without .pyc costs on a read-only file system, every cold
start). Then the size of each function and of the layer, unzipped and zipped. Prints figures,
never pass/fail. Builds first (`scripts/sam-check build`) when there is no build; without
python3.13, or still without a build, it says what is missing (SKIPPED) and exits 0.

    .venv/bin/python -m bench.cold_start [--runs N] [--no-source-only] [--json]   (or `make bench-cold-start`)

`--first-invocation` also measures a cost of the container's first invocations that the import
does not show: the CPU of the first DynamoDB client of each PynamoDB connection (one per model,
and TransactWrite's), in a fresh python3.13 process with the build's layer (no request is
made: creating the client is the cost, a session's endpoint rules and service model loaded).

Figures are for this machine (x86_64; the layer's few compiled extensions are loaded from this
machine's builds): Lambda's arm64 CPUs differ, the proportions are what carry over.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tests.support.template import load_template

ROOT = Path(__file__).resolve().parents[1]
SAM_CHECK = ROOT / "scripts" / "sam-check"
BUILD = ROOT / ".aws-sam" / "build"
RUNTIME = ROOT / ".aws-sam" / "lambda-runtime"
NATIVE = ROOT / ".aws-sam" / "host-native"

# CPU time of the importing process, not wall time: on this shared 2-core machine wall time
# mostly measured the other processes (the same import varied 2-3x between rounds). An import
# from a warm page cache is CPU-bound, so its CPU time is what a quiet machine's wall time is.
TIMED = """import sys, time
sys.path[:0] = {path!r}
t = time.process_time()
{statements}
print((time.process_time() - t) * 1000)
"""

# The floor, and then in the same process the handler's import: what our code adds beyond
# the floor, measured against the floor it followed rather than against another process's
# (on this shared machine the floors alone moved by 15-20 ms between runs; two processes'
# least figures subtracted carried both processes' luck).
TIMED_SPLIT = """import sys, time
sys.path[:0] = {path!r}
t = time.process_time()
{statements}
floor = (time.process_time() - t) * 1000
t = time.process_time()
import {module}
print(floor, (time.process_time() - t) * 1000)
"""

# Which of the loaded modules are ours: the files of the handler import that live in the
# function's directory or in the layer's livechat package.
OURS = """import json, sys
sys.path[:0] = {path!r}
import {module}
roots = {roots!r}
print(json.dumps(sorted({{f for m in list(sys.modules.values())
                         if (f := getattr(m, "__file__", None)) and f.startswith(tuple(roots))}})))
"""

# The first clients of PynamoDB's connections in a fresh process: the first one, then the next
# ones (a whole chat touches 7 in tests/integration/test_shared_session.py).
FIRST_CLIENTS = """import sys, time
sys.path[:0] = {path!r}
from livechat.store import tables
tables.bind()
connections = [m._get_connection().connection for m in tables.ALL_MODELS[:{count} - 1]] + [tables.connection()]
t = time.process_time()
connections[0].client
first = time.process_time() - t
t = time.process_time()
for c in connections[1:]:
    c.client
print(first * 1000, (time.process_time() - t) * 1000, len({{id(c.session) for c in connections}}))
"""

# What a handler may take for free: the runtime's boto3 and the libraries every handler is
# built on (issue 15's floor). Anything else our code loads at import counts as our overhead.
FLOOR_PACKAGES = ("boto3", "botocore", "pydantic", "pynamodb", "aws_lambda_powertools")


def skipped(why: str) -> None:
    """A missing prerequisite is a figure not measured, said plainly, not a failure: `make
    bench` goes on (benches never pass or fail)."""
    print(f"cold_start: SKIPPED: {why}; nothing measured")
    sys.exit(0)


def python313() -> str:
    found = subprocess.run([str(SAM_CHECK), "python313"], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        skipped("python3.13 not found (pyenv root's versions/3.13*/bin or PATH): the handlers are built and "
                "imported with Lambda's runtime version")
    return str(Path(found.stdout.strip()) / "python3.13")


def ensure_build() -> None:
    if (BUILD / "CommonLayer").is_dir() and (NATIVE / ".installed").is_file():
        return
    print("cold_start: no build in .aws-sam/build: running scripts/sam-check build (make sam-build)", file=sys.stderr)
    if subprocess.run([str(SAM_CHECK), "build"], check=False).returncode != 0:
        skipped("scripts/sam-check build failed (see above)")
    if not (BUILD / "CommonLayer").is_dir() or not (NATIVE / ".installed").is_file():
        skipped("still no build in .aws-sam/build (see sam-check's SKIPPED line above)")


def functions(build: Path) -> dict[str, str]:
    """Handler module per function of template.yaml that `build` holds."""
    resources = load_template(ROOT / "template.yaml")["Resources"]
    return {name: r["Properties"]["Handler"].rsplit(".", 1)[0] for name, r in sorted(resources.items())
            if r["Type"] == "AWS::Serverless::Function" and (build / name).is_dir()}


def lambda_path(build: Path, function_id: str) -> list[Path]:
    return [build / function_id, NATIVE, build / "CommonLayer" / "python", RUNTIME]


def template_environment(function_id: str) -> dict[str, str]:
    """The variables template.yaml gives the function (Globals', then its own) that are plain
    strings: Lambda sets them before the handler's import, and some change what it loads
    (PYDANTIC_DISABLE_PLUGINS, Powertools' settings). References to resources are left out."""
    template = load_template(ROOT / "template.yaml")
    own = template["Resources"].get(function_id, {}).get("Properties", {})
    variables = {**template["Globals"]["Function"].get("Environment", {}).get("Variables", {}),
                 **own.get("Environment", {}).get("Variables", {})}
    return {name: value for name, value in variables.items() if isinstance(value, str)}


def run_python(python: str, code: str, path: list[Path], function_id: str, pycache_prefix: str | None) -> str:
    """Last line of stdout of `code` in a fresh python3.13 with Lambda's environment."""
    env = {"PATH": os.environ["PATH"], "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_LAMBDA_FUNCTION_NAME": function_id, "LAMBDA_TASK_ROOT": str(path[0]),
           **template_environment(function_id)}
    if pycache_prefix:
        env |= {"PYTHONPYCACHEPREFIX": pycache_prefix, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([python, "-s", "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"cold_start: {code.splitlines()[2:4]} for {function_id} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def import_ms(python: str, statements: str, path: list[Path], function_id: str, pycache_prefix: str | None,
              *, then: str | None = None) -> list[float]:
    """CPU ms of `statements`; with `then` (a module), also of importing it afterwards."""
    if then is None:
        code = TIMED.format(path=[str(p) for p in path], statements=statements)
    else:
        code = TIMED_SPLIT.format(path=[str(p) for p in path], statements=statements, module=then)
    return [float(figure) for figure in run_python(python, code, path, function_id, pycache_prefix).split()]


def _import_time_statements(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """The import statements a module runs when it is imported: not those in functions, nor
    under `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                found += _import_time_statements(node.body) + _import_time_statements(node.orelse)
        elif isinstance(node, ast.Try | ast.ClassDef | ast.With):
            found += _import_time_statements(node.body)
    return found


def floor_statements(python: str, build: Path, function_id: str, module: str) -> str:
    """The floor of one handler: its loaded code's import-time imports of FLOOR_PACKAGES."""
    path = lambda_path(build, function_id)
    roots = [str(build / function_id), str(build / "CommonLayer" / "python" / "livechat")]
    files = json.loads(run_python(python, OURS.format(path=[str(p) for p in path], module=module, roots=roots),
                                  path, function_id, None))
    statements: set[str] = set()
    for file in files:
        for node in _import_time_statements(ast.parse(Path(file).read_text(encoding="utf-8")).body):
            if isinstance(node, ast.ImportFrom):
                if node.level == 0 and (node.module or "").split(".")[0] in FLOOR_PACKAGES:
                    # Names only: what an `as` binds does not change what is loaded.
                    statements.add(f"from {node.module} import {', '.join(a.name for a in node.names)}")
            else:
                statements |= {f"import {a.name}" for a in node.names if a.name.split(".")[0] in FLOOR_PACKAGES}
    return "\n".join(sorted(statements))


def measure(python: str, runs: int, pycache_prefix: str | None,
            targets: dict[str, tuple[str, list[Path], str | None]]) -> dict[str, float]:
    """Least import time (ms) per target (statements, sys.path, then a module or None; a
    target with a module also gives `<name> then`), rounds interleaved: the other processes of
    a shared machine only ever add time, so the least disturbed round is the figure (as timeit
    advises); the median still moved by a quarter between runs."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, (statements, path, then) in targets.items():
            figures = import_ms(python, statements, path, name.removesuffix(" floor"), pycache_prefix,
                                 then=then)
            for key, figure in zip((name, f"{name} then"), figures, strict=False):
                samples.setdefault(key, []).append(figure)
    return {name: min(values) for name, values in samples.items()}


def first_clients(python: str, build: Path, runs: int, count: int = 7) -> tuple[float, float, int]:
    """Least CPU ms of the first PynamoDB connection's client and of the next count - 1, and
    the number of botocore sessions they used, in fresh processes (least of `runs`)."""
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "LIVECHAT_TABLE_NAME": "bench"}
    path = [str(build / "CommonLayer" / "python"), str(NATIVE), str(RUNTIME)]
    samples = []
    for _ in range(runs):
        done = subprocess.run([python, "-s", "-c", FIRST_CLIENTS.format(path=path, count=count)],
                              env={"PATH": os.environ["PATH"], "AWS_REGION": "us-east-1"} | env,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"cold_start: first clients failed:\n{done.stderr[-3000:]}")
        first, rest, sessions = done.stdout.split()
        samples.append((float(first), float(rest), int(sessions)))
    return min(s[0] for s in samples), min(s[1] for s in samples), samples[0][2]


def sizes(directory: Path) -> tuple[int, int]:
    """Bytes unzipped and zipped (deflate, as sam deploy uploads it)."""
    raw = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in directory.rglob("*") if p.is_file()):
            raw += file.stat().st_size
            archive.write(file, file.relative_to(directory))
    return raw, buffer.getbuffer().nbytes


def mb(n: int) -> str:
    return f"{n / 1e6:8.2f} MB" if n >= 100_000 else f"{n / 1e3:8.1f} kB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per figure (the least is kept); default 5")
    parser.add_argument("--no-source-only", action="store_true", help="skip the measurement without .pyc")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--first-invocation", action="store_true", help="also the first DynamoDB clients of"
                        " PynamoDB's connections (a cost of the first invocations, not of the import)")
    parser.add_argument("--build", type=Path, help="another `sam build` directory (e.g. a copy of an earlier"
                        " build, to compare); default .aws-sam/build")
    args = parser.parse_args()

    python = python313()  # first: without it there is nothing to build with either
    ensure_build()
    result: dict[str, dict[str, object]] = {}
    build = args.build or BUILD
    handlers = functions(build)
    floors = {fid: floor_statements(python, build, fid, module) for fid, module in handlers.items()}
    targets: dict[str, tuple[str, list[Path], str | None]] = {
        fid: (f"import {module}", lambda_path(build, fid), None) for fid, module in handlers.items()}
    targets |= {f"{fid} floor": (floors[fid], lambda_path(build, fid), module) for fid, module in handlers.items()}
    targets["import boto3"] = ("import boto3", [RUNTIME], None)
    with tempfile.TemporaryDirectory(prefix="no-pyc-") as empty:
        modes = {"pyc": None} if args.no_source_only else {"pyc": None, "no pyc": empty}
        times = {mode: measure(python, args.runs, prefix, targets) for mode, prefix in modes.items()}

    print(f"Import time (CPU) of each handler module, ms (least of {args.runs} fresh python3.13 processes);"
          " x = multiple of a bare `import boto3` measured in the same rounds")
    header = "".join(f"{mode + ' ms':>12}{'x':>7}" for mode in times)
    slowdown = "  no pyc / pyc" if len(times) == 2 else ""
    print(f"{'':26}{header}{slowdown}")
    for name in [*handlers, "import boto3"]:
        row = ""
        for mode, figures in times.items():
            row += f"{figures[name]:12.0f}{figures[name] / figures['import boto3']:7.2f}"
            result.setdefault(name, {})[f"{mode} ms"] = round(figures[name], 1)
        if len(times) == 2:
            row += f"{times['no pyc'][name] / times['pyc'][name]:14.1f}"
        print(f"{name:26}{row}")

    print(f"\nOur code over the third-party floor (the handler's own imports of {', '.join(FLOOR_PACKAGES)},"
          " in the same rounds): + % = (handler - floor) / floor, handler in a process of its own;"
          " same-process + % = what the handler's import added after the floor, in the floor's process")
    print(f"{'':26}" + "".join(f"{mode + ' floor ms':>16}{'handler ms':>12}{'+ %':>7}{'after floor ms':>16}"
                               f"{'same-process + %':>18}" for mode in times))
    for fid in handlers:
        row = ""
        for mode, figures in times.items():
            floor, handler, after = figures[f"{fid} floor"], figures[fid], figures[f"{fid} floor then"]
            row += (f"{floor:16.0f}{handler:12.0f}{(handler - floor) / floor * 100:7.0f}{after:16.1f}"
                    f"{after / floor * 100:18.0f}")
            result[fid] |= {f"{mode} floor ms": round(floor, 1),
                            f"{mode} over floor %": round((handler - floor) / floor * 100, 1),
                            f"{mode} after floor ms": round(after, 1),
                            f"{mode} over floor, same process %": round(after / floor * 100, 1)}
        print(f"{fid:26}{row}")
        result[fid]["floor"] = floors[fid].splitlines()

    print("\nBuilt size (unzipped, zipped)")
    for directory in [*(build / fid for fid in handlers), build / "CommonLayer"]:
        raw, zipped = sizes(directory)
        result.setdefault(directory.name, {}).update({"bytes": raw, "zipped bytes": zipped})
        print(f"{directory.name:26}{mb(raw)}  {mb(zipped)}")
    if args.first_invocation:
        first, rest, sessions = first_clients(python, build, args.runs)
        result["first PynamoDB clients"] = {"first ms": round(first, 1), "next 6 ms": round(rest, 1),
                                            "botocore sessions": sessions}
        print(f"\nFirst DynamoDB client of 7 PynamoDB connections (CPU, least of {args.runs} fresh processes):"
              f" the first {first:.0f} ms, the next 6 {rest:.0f} ms together; {sessions} botocore session(s)")
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
