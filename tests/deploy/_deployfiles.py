"""Readers for the deployment files, shared by the deploy tests.

Docker cannot run in the test environment, so the tests check what the files say
against the code they start: YAML is parsed, the Dockerfile is split into
instructions, the entrypoint is executed with recording stubs in place of the servers.
"""

from __future__ import annotations

import ast
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
ENTRYPOINT = DEPLOY / "docker-entrypoint.sh"
ENV_EXAMPLE = ROOT / ".env.example"

# Variables the deployment sets or documents that kefu/settings.py does not read, each
# with the file that does read it (checked by the tests, so the lists cannot go stale).
ENTRYPOINT_VARS = {"PORT", "WORKER_CONCURRENCY", "UVICORN_WORKERS"}
COMPOSE_VARS = {
    "POSTGRES_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
    "KEFU_IMAGE",
    "KEFU_HTTP_PORT",
    "PROMETHEUS_PORT",
    "GRAFANA_PORT",
}
# Read by Python, Django's bootstrap or the shell, never by settings.
RUNTIME_VARS = {
    "PATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "DJANGO_SETTINGS_MODULE",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}

APP_COMPOSE_SERVICES = ("web-1", "web-2", "worker", "beat", "migrate")


def settings_env_names() -> set[str]:
    """Every NAME in env.xxx("NAME", ...) / env("NAME") calls of kefu/settings.py."""
    tree = ast.parse((ROOT / "kefu" / "settings.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        func = node.func
        is_env = (isinstance(func, ast.Name) and func.id == "env") or (
            isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env"
        )
        if is_env and isinstance(node.args[0].value, str):
            names.add(node.args[0].value)
    return names


ASSIGNMENT = re.compile(r"^#?\s?([A-Z][A-Z0-9_]*)=")


def env_example_lines() -> list[str]:
    return ENV_EXAMPLE.read_text().splitlines()


def env_example_names() -> set[str]:
    return {m.group(1) for line in env_example_lines() if (m := ASSIGNMENT.match(line))}


def env_example_active() -> dict[str, str]:
    """The uncommented NAME=value lines."""
    out = {}
    for line in env_example_lines():
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
    return out


def load_yaml_docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def k8s_docs() -> list[tuple[Path, dict]]:
    """Kubernetes objects (kustomization.yaml is a build file, not an object)."""
    paths = [p for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"]
    return [(path, doc) for path in paths for doc in load_yaml_docs(path)]


def k8s_objects(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_docs() if doc.get("kind") == kind}


def pod_containers(doc: dict) -> list[dict]:
    return doc["spec"]["template"]["spec"]["containers"]


# --- Dockerfile ----------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    value: str
    stage: str


def dockerfile_instructions(path: Path = DEPLOY / "Dockerfile") -> tuple[dict[str, str], list[Instruction]]:
    """(global ARG defaults, instructions) with line continuations and comments removed."""
    logical: list[str] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    args: dict[str, str] = {}
    instructions: list[Instruction] = []
    stage = ""
    for line in logical:
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stage and "=" in value:
            name, default = value.split("=", 1)
            args[name.strip()] = default.strip()
        if keyword == "FROM":
            parts = value.split()
            stage = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(instructions))
        instructions.append(Instruction(keyword, value.strip(), stage))
    return args, instructions


# --- Entrypoint --------------------------------------------------------------------------

STUB = """#!/bin/sh
printf '%s' "$(basename "$0")" >> "$KEFU_STUB_LOG"
for arg in "$@"; do printf '\\t%s' "$arg" >> "$KEFU_STUB_LOG"; done
printf '\\n' >> "$KEFU_STUB_LOG"
"""
STUBBED = ("daphne", "uvicorn", "celery", "python")


def entrypoint_roles() -> list[str]:
    """The case labels of the entrypoint's role switch."""
    text = ENTRYPOINT.read_text()
    return [label for label in re.findall(r"^\s{2}([a-z][a-z-]*)\)\s*$", text, re.MULTILINE)]


def run_entrypoint(tmp_path: Path, *args: str, **env: str) -> list[list[str]]:
    """Run the real entrypoint with stubs for the programs it starts; their argv lists."""
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    for name in STUBBED:
        stub = stubs / name
        stub.write_text(STUB)
        stub.chmod(0o755)
    log = tmp_path / f"calls-{'-'.join(args) or 'default'}.log"
    log.write_text("")
    environment = {"PATH": f"{stubs}:/usr/bin:/bin", "KEFU_STUB_LOG": str(log), **env}
    result = subprocess.run(  # noqa: S603
        ["/bin/sh", str(ENTRYPOINT), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in log.read_text().splitlines()]


def free_port_in_range(start: int = 8600, end: int = 8700) -> int:
    from tests.liveserver import free_port_in

    return free_port_in(range(start, end))
