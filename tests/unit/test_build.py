"""What `sam build` produces: a lean, precompiled layer and functions that import.

Checks .aws-sam/build (which `make test` builds first, through scripts/sam-check). Without it,
builds into a temporary directory when aws-sam-cli (.venv-sam) and python3.13 are present;
otherwise skips, saying what is missing. The handlers are imported with python3.13 as Lambda
lays the code out: the function, then the layer (/opt/python), then the runtime's boto3;
scripts/local_runtime.py provides that boto3 and this machine's builds of the layer's arm64
extensions.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.template import ROOT, load_template

pytestmark = pytest.mark.unit

SAM_CHECK = ROOT / "scripts" / "sam-check"
# What the python3.13 Lambda runtime ships: boto3 and its dependency closure.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")
# A .pyc's flags word (bytes 4-8): 0 timestamp, 1 unchecked hash, 3 checked hash.
UNCHECKED_HASH = 1


def python313() -> Path | None:
    found = subprocess.run([str(SAM_CHECK), "python313"], capture_output=True, text=True, check=False)
    return Path(found.stdout.strip()) / "python3.13" if found.returncode == 0 else None


@pytest.fixture(scope="module")
def interpreter() -> Path:
    found = python313()
    if found is None:
        pytest.skip("python3.13 not found (pyenv root's versions/3.13*/bin or PATH): cannot check the build")
    return found


@pytest.fixture(scope="module")
def build(interpreter: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    existing = ROOT / ".aws-sam" / "build"
    if (existing / "CommonLayer").is_dir() and (ROOT / ".aws-sam" / "host-native" / ".installed").is_file():
        yield existing
        return
    if not (ROOT / ".venv-sam" / "bin" / "sam").exists():
        pytest.skip("no .aws-sam/build and no aws-sam-cli in .venv-sam: run `make sam-build`")
    target = tmp_path_factory.mktemp("sam") / "build"
    subprocess.run([str(SAM_CHECK), "build"], env={**os.environ, "SAM_BUILD_DIR": str(target)},
                   check=True, capture_output=True, timeout=600)
    yield target


@pytest.fixture(scope="module")
def layer(build: Path) -> Path:
    return build / "CommonLayer" / "python"


def functions() -> dict[str, str]:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    return {name: r["Properties"]["Handler"] for name, r in resources.items()
            if r["Type"] == "AWS::Serverless::Function"}


def pyc_flags(pyc: Path) -> int:
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


def test_the_layer_carries_no_copy_of_what_the_runtime_provides(layer: Path) -> None:
    present = sorted(p.name for p in layer.iterdir()
                     if p.name.split("-")[0].removesuffix(".py").lower() in RUNTIME_PROVIDED
                     or p.name.lower().startswith(("python_dateutil-", "boto3-", "botocore-")))

    assert (layer / "livechat" / "__init__.py").is_file()
    assert (layer / "pynamodb").is_dir() and (layer / "aws_lambda_powertools").is_dir()
    assert present == []


def test_every_module_of_the_layer_has_unchecked_hash_bytecode_for_python313(layer: Path) -> None:
    sources = [p for p in layer.rglob("*.py") if "__pycache__" not in p.parts]
    missing = [str(p.relative_to(layer)) for p in sources
               if not (p.parent / "__pycache__" / f"{p.stem}.cpython-313.pyc").is_file()]
    livechat = sorted((layer / "livechat" / "__pycache__").glob("*.cpython-313.pyc"))

    assert len(sources) > 100
    assert missing == []
    assert {p.name.split(".")[0] for p in livechat} == {p.stem for p in (layer / "livechat").glob("*.py")}
    assert {pyc_flags(p) for p in livechat} == {UNCHECKED_HASH}
    assert not list(layer.rglob("*.cpython-311.pyc"))  # nothing of the host's interpreter


@pytest.mark.parametrize("function_id", sorted(functions()))
def test_each_function_is_precompiled_and_its_handler_imports_under_python313(
    build: Path, interpreter: Path, function_id: str
) -> None:
    code = build / function_id
    module, attribute = functions()[function_id].rsplit(".", 1)
    assert code.is_dir(), f"{function_id} is not in {build}: run `make sam-build`"
    pyc = code / "__pycache__" / f"{module}.cpython-313.pyc"
    assert pyc_flags(pyc) == UNCHECKED_HASH

    # Lambda's order: the function (/var/task), the layer (/opt/python), the runtime (/var/runtime).
    path = [str(code), str(build.parent / "host-native"), str(build / "CommonLayer" / "python"),
            str(build.parent / "lambda-runtime")]
    script = (f"import sys; sys.path[:0] = {path!r}\n"
              f"import {module}, boto3\n"
              f"assert callable({module}.{attribute})\n"
              f"assert {module}.__cached__ == {str(pyc)!r}, {module}.__cached__\n"
              f"print(boto3.__file__)\n")
    env = {"PATH": os.environ["PATH"], "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_LAMBDA_FUNCTION_NAME": function_id, "LAMBDA_TASK_ROOT": str(code)}
    done = subprocess.run([str(interpreter), "-s", "-E", "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(str(build.parent / "lambda-runtime"))
