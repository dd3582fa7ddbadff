"""Make a built layer importable on this machine, as the Lambda python3.13 runtime would see it.

Run by scripts/sam-check with python3.13 after `sam build`; used by tests/unit/test_build.py and
bench/cold_start.py. Two directories next to the build directory, neither deployed:

- lambda-runtime/: boto3 and its dependencies, standing in for the runtime's /var/runtime
  (the layer does not carry them any more). On sys.path after the layer, as in Lambda.
- host-native/: the layer's distributions that contain compiled extensions, installed for this
  machine's platform at the same versions (the layer's are built for arm64 Linux and need not
  load here). On sys.path before the layer; everything else is imported from the layer itself.

    python3.13 scripts/local_runtime.py BUILD_DIR
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def native_distributions(site: Path) -> list[str]:
    """`name==version` of each distribution in `site` installed from a platform wheel."""
    found = set()
    for info in site.glob("*.dist-info"):
        wheel = (info / "WHEEL").read_text(encoding="utf-8").splitlines()
        if any(line.startswith("Tag: ") and not line.endswith("-any") for line in wheel):
            meta = dict(line.partition(": ")[::2] for line in
                        (info / "METADATA").read_text(encoding="utf-8").splitlines()[:10])
            found.add(f"{meta['Name']}=={meta['Version']}")
    return sorted(found)


def install(target: Path, requirements: list[str], stamp_text: str) -> None:
    stamp = target / ".installed"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == stamp_text:
        return
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if requirements:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "--root-user-action=ignore", "--target", str(target),
                        *requirements], check=True)
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
                        "unchecked-hash", str(target)], check=True, stdout=subprocess.DEVNULL)
    stamp.write_text(stamp_text, encoding="utf-8")


def main() -> None:
    build = Path(sys.argv[1])
    root = build.parent
    # With its dependencies: --no-deps would leave botocore out. Not pinned: the runtime's boto3
    # moves with each runtime update.
    install(root / "lambda-runtime", ["boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six",
                                      "urllib3"], "boto3")
    native = native_distributions(build / "CommonLayer" / "python")
    install(root / "host-native", native, "\n".join(native))
    print(f"local_runtime: {root / 'lambda-runtime'} (boto3); {root / 'host-native'}: {', '.join(native) or 'none'}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
