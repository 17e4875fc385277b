"""The deployment files (Dockerfile, docker-compose, Kubernetes, .env.example) agree with the code.

Docker is not available here, so nothing is built; instead every command, module path,
URL, environment variable and cross-reference in the files is checked against the
project, and the entrypoint script is executed with stubs for the servers it starts.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.http.request import validate_host
from django.urls import resolve

from kefu import views
from tests.deploy._deployfiles import (
    APP_COMPOSE_SERVICES,
    COMPOSE_VARS,
    DEPLOY,
    ENTRYPOINT,
    ENTRYPOINT_VARS,
    K8S,
    ROOT,
    RUNTIME_VARS,
    compose,
    dockerfile_instructions,
    entrypoint_roles,
    env_example_lines,
    env_example_names,
    k8s_docs,
    k8s_objects,
    load_yaml_docs,
    pod_containers,
    run_entrypoint,
    settings_env_names,
)

PROBE_VIEWS = {"/healthz": views.healthz, "/readyz": views.readyz, "/metrics": views.metrics}


# --- Parsing ---------------------------------------------------------------------------


def test_every_yaml_file_parses_to_mappings():
    files = sorted(DEPLOY.rglob("*.yml")) + sorted(DEPLOY.rglob("*.yaml"))
    assert len(files) >= 12, files
    for path in files:
        docs = load_yaml_docs(path)
        assert docs, f"{path} is empty"
        assert all(isinstance(doc, dict) for doc in docs), path


def test_every_k8s_object_is_namespaced_to_kefu_and_well_formed():
    for path, doc in k8s_docs():
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path
        if doc["kind"] in ("Namespace", "Kustomization"):
            continue
        assert doc["metadata"].get("namespace") == "kefu", (path, doc["metadata"])
    kinds = [doc["kind"] for _, doc in k8s_docs()]
    for kind in (
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Job",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PersistentVolumeClaim",
    ):
        assert kind in kinds, kind


def test_kustomization_lists_every_manifest_but_the_secret_example_and_the_job():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    for name in listed:
        assert (K8S / name).is_file(), name
    expected = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml", "migrate-job.yaml"}
    assert listed == expected


# --- Environment variables ---------------------------------------------------------------


def test_settings_reads_the_variables_the_parser_finds():
    # Guards the AST parser itself: a parser that finds nothing would pass every test below.
    names = settings_env_names()
    assert {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "METRICS_TOKEN"} <= names
    assert len(names) >= 30


def test_every_variable_settings_reads_is_documented_in_env_example():
    missing = settings_env_names() - env_example_names()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_every_env_example_variable_is_read_somewhere():
    unknown = env_example_names() - settings_env_names() - ENTRYPOINT_VARS - COMPOSE_VARS
    assert not unknown, f".env.example documents variables nothing reads: {sorted(unknown)}"
    entrypoint = ENTRYPOINT.read_text()
    for name in ENTRYPOINT_VARS:
        assert f"${{{name}" in entrypoint, name
    compose_text = (DEPLOY / "docker-compose.yml").read_text()
    for name in COMPOSE_VARS:
        assert f"${{{name}" in compose_text, name


def test_every_env_example_variable_has_a_comment():
    described = False
    undocumented = []
    for line in env_example_lines():
        if not line.strip():
            described = False
        elif re.match(r"^#?\s?[A-Z][A-Z0-9_]*=", line):
            if not described:
                undocumented.append(line)
        elif line.startswith("#"):
            described = True
    assert not undocumented, undocumented


def _dockerfile_env_names() -> set[str]:
    _, instructions = dockerfile_instructions()
    names: set[str] = set()
    for ins in instructions:
        if ins.keyword == "ENV":
            names |= set(re.findall(r"([A-Z][A-Z0-9_]*)=", ins.value))
        if ins.keyword == "RUN" and "export " in ins.value:
            exported = ins.value.split("export ", 1)[1].split("&&", 1)[0]
            names |= set(re.findall(r"([A-Z][A-Z0-9_]*)=", exported))
    return names


def _compose_app_env_names() -> set[str]:
    services = compose()["services"]
    return {name for service in APP_COMPOSE_SERVICES for name in services[service]["environment"]}


def _k8s_env_names() -> set[str]:
    names = set(k8s_objects("ConfigMap")["kefu-config"]["data"])
    names |= set(k8s_objects("Secret")["kefu-secrets"]["stringData"])
    for kind in ("Deployment", "Job"):
        for doc in k8s_objects(kind).values():
            for container in pod_containers(doc):
                names |= {item["name"] for item in container.get("env", [])}
    return names


@pytest.mark.parametrize("source", ["Dockerfile", "docker-compose", "k8s"])
def test_every_variable_the_deployment_sets_is_read(source):
    names = {"Dockerfile": _dockerfile_env_names, "docker-compose": _compose_app_env_names, "k8s": _k8s_env_names}[
        source
    ]()
    assert names
    unread = names - settings_env_names() - ENTRYPOINT_VARS - RUNTIME_VARS
    assert not unread, f"{source} sets variables nothing reads: {sorted(unread)}"


def test_k8s_pods_take_their_environment_from_the_shipped_config_and_secret():
    config_maps, secrets = k8s_objects("ConfigMap"), k8s_objects("Secret")
    for kind in ("Deployment", "Job"):
        for name, doc in k8s_objects(kind).items():
            for container in pod_containers(doc):
                refs = container.get("envFrom", [])
                assert {"configMapRef": {"name": "kefu-config"}} in refs, name
                assert {"secretRef": {"name": "kefu-secrets"}} in refs, name
                for ref in refs:
                    if "configMapRef" in ref:
                        assert ref["configMapRef"]["name"] in config_maps
                    if "secretRef" in ref:
                        assert ref["secretRef"]["name"] in secrets
    data = config_maps["kefu-config"]["data"]
    assert all(isinstance(value, str) for value in data.values()), "ConfigMap values must be strings"
    assert data["DEBUG"] == "false"
    # Credentials belong in the Secret, never in the ConfigMap.
    assert not {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "METRICS_TOKEN"} & set(data)


# --- Images ------------------------------------------------------------------------------


def _assert_pinned(image: str) -> None:
    name, _, tag = image.rpartition(":")
    assert name and "/" not in tag, f"{image} has no tag"
    assert tag != "latest" and re.search(r"\d", tag), f"{image} is not pinned to a version"


def test_every_image_is_pinned():
    images = []
    args, instructions = dockerfile_instructions()
    stages = {ins.stage for ins in instructions}
    for ins in instructions:
        if ins.keyword == "FROM":
            ref = ins.value.split()[0]
            ref = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], ref)
            if ref not in stages:
                images.append(ref)
    for name, service in compose()["services"].items():
        image = service["image"]
        images.append(re.sub(r"\$\{\w+:-([^}]+)\}", r"\1", image))  # default of ${KEFU_IMAGE:-...}
    for kind in ("Deployment", "Job"):
        for doc in k8s_objects(kind).values():
            images += [container["image"] for container in pod_containers(doc)]
    assert len(images) >= 12
    for image in images:
        _assert_pinned(image)
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for image in kustomization["images"]:
        assert image["newTag"] != "latest"


# --- Dockerfile --------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_and_runs_as_a_non_root_user():
    _, instructions = dockerfile_instructions()
    froms = [ins for ins in instructions if ins.keyword == "FROM"]
    assert len(froms) >= 2
    assert "slim" in froms[-1].value and "python" in froms[-1].value.lower() or froms[-1].value.startswith("${")
    final = froms[-1].value.split()[-1]
    final_stage = [ins for ins in instructions if ins.stage == final]
    users = [ins.value for ins in final_stage if ins.keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    # No compiler in the runtime stage: build tools are installed only in the builder.
    runtime_runs = " ".join(ins.value for ins in final_stage if ins.keyword == "RUN")
    assert "build-essential" not in runtime_runs and "gcc" not in runtime_runs
    all_runs = " ".join(ins.value for ins in instructions if ins.keyword == "RUN")
    assert "pip wheel" in all_runs and "-r requirements.txt" in all_runs
    assert "collectstatic --noinput" in all_runs and "compilemessages" in all_runs
    # Every stage a COPY --from refers to exists.
    stage_names = {ins.stage for ins in froms}
    for ins in instructions:
        if match := re.search(r"--from=(\S+)", ins.value):
            assert match.group(1) in stage_names, ins.value


def test_dockerfile_copies_files_that_exist_and_its_commands_exist():
    _, instructions = dockerfile_instructions()
    for ins in instructions:
        if ins.keyword == "COPY" and "--from" not in ins.value:
            sources = [part for part in ins.value.split()[:-1] if not part.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), source
    commands = get_commands()
    for ins in instructions:
        for command in re.findall(r"manage\.py (\w+)", ins.value):
            assert command in commands, command
    entry = next(ins for ins in reversed(instructions) if ins.keyword == "ENTRYPOINT")
    path = yaml.safe_load(entry.value)[0]
    local = ROOT / Path(path).relative_to("/app")
    assert local.is_file() and os.access(local, os.X_OK), local
    cmd = next(ins for ins in reversed(instructions) if ins.keyword == "CMD")
    assert yaml.safe_load(cmd.value)[0] in entrypoint_roles()


def test_dockerfile_healthcheck_probes_healthz_with_an_allowed_host():
    _, instructions = dockerfile_instructions()
    health = next(ins for ins in instructions if ins.keyword == "HEALTHCHECK")
    script = re.search(r"/app/(deploy/\S+\.py)", health.value).group(1)
    text = (ROOT / script).read_text()
    assert "/healthz" in text and '"Host"' in text
    assert resolve("/healthz").func is views.healthz


def test_healthcheck_script_picks_a_host_that_django_allows():
    spec = importlib.util.spec_from_file_location("kefu_healthcheck", DEPLOY / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    probe_host = module.probe_host

    for allowed in ("kefu.example.com", ".example.com,other.org", "*,kefu.example.com", " kefu.example.com , x"):
        host = probe_host(allowed)
        assert validate_host(host, [h.strip() for h in allowed.split(",")]), (allowed, host)
    assert probe_host("") == "localhost"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context():
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for entry in (".env", ".git", ".venv", "var", "staticfiles"):
        assert entry in ignored, entry


# --- Entrypoint --------------------------------------------------------------------------


def test_entrypoint_web_role_starts_daphne_on_the_asgi_application(tmp_path):
    from daphne.cli import CommandLineInterface

    [call] = run_entrypoint(tmp_path, "web")
    assert call[0] == "daphne"
    options = CommandLineInterface().parser.parse_args(call[1:])  # exits on an unknown option
    assert (options.host, options.port) == ("0.0.0.0", 8000)
    assert not options.proxy_headers, "the app parses X-Forwarded-For itself (KEFU_TRUSTED_PROXIES)"
    module, attr = options.application.split(":")
    assert module == settings.ASGI_APPLICATION.rsplit(".", 1)[0]
    assert callable(getattr(importlib.import_module(module), attr))

    [call] = run_entrypoint(tmp_path, "web", PORT="8123")
    assert CommandLineInterface().parser.parse_args(call[1:]).port == 8123


def test_entrypoint_uvicorn_role_is_valid_uvicorn_usage(tmp_path):
    import uvicorn

    [call] = run_entrypoint(tmp_path, "web-uvicorn", UVICORN_WORKERS="3")
    assert call[0] == "uvicorn"
    ctx = uvicorn.main.make_context("uvicorn", call[1:])
    assert ctx.params["app"] == "kefu.asgi:application"
    assert ctx.params["workers"] == 3 and ctx.params["proxy_headers"] is False


def _celery_context(call: list[str]):
    from celery.app.utils import find_app
    from celery.bin.base import CLIContext

    assert call[0] == "celery" and call[1:3] == ["-A", "kefu"]
    app = find_app(call[2])
    assert app.main == "kefu"
    return CLIContext(app=app, no_color=True, workdir=None, quiet=True), call[3], call[4:]


def test_entrypoint_worker_role_consumes_the_default_queue(tmp_path):
    from celery.bin.worker import worker

    [call] = run_entrypoint(tmp_path, "worker", WORKER_CONCURRENCY="3", CELERY_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE)
    obj, command, args = _celery_context(call)
    assert command == "worker"
    params = worker.make_context("worker", args, obj=obj).params
    assert params["queues"] == [settings.CELERY_TASK_DEFAULT_QUEUE]
    assert params["concurrency"] == 3
    [call] = run_entrypoint(tmp_path, "worker")
    obj, command, args = _celery_context(call)
    assert worker.make_context("worker", args, obj=obj).params["queues"] == ["kefu"]  # the settings' default
    assert params["pool"].__module__ == "celery.concurrency.thread"  # bot turns are I/O bound
    [call] = run_entrypoint(tmp_path, "worker")
    assert worker.make_context("worker", _celery_context(call)[2], obj=obj).params["concurrency"] == 200


def test_entrypoint_beat_role_runs_celery_beat_with_a_writable_schedule(tmp_path):
    from celery.bin.beat import beat

    [call] = run_entrypoint(tmp_path, "beat")
    obj, command, args = _celery_context(call)
    assert command == "beat"
    params = beat.make_context("beat", args, obj=obj).params
    assert params["schedule"].startswith("/tmp/")  # the only writable path with a read-only root


def test_entrypoint_migrate_and_manage_roles_run_existing_commands(tmp_path):
    calls = run_entrypoint(tmp_path, "migrate")
    assert [call[:3] for call in calls] == [["python", "manage.py", "migrate"], ["python", "manage.py", "check"]]
    assert "--deploy" in calls[1]
    commands = get_commands()
    for call in calls:
        assert call[2] in commands
    [call] = run_entrypoint(tmp_path, "manage", "createsuperuser", "--noinput")
    assert call == ["python", "manage.py", "createsuperuser", "--noinput"]
    assert "createsuperuser" in commands


def test_deployments_only_use_roles_the_entrypoint_knows():
    roles = entrypoint_roles()
    assert {"web", "web-uvicorn", "worker", "beat", "migrate", "manage"} <= set(roles)
    used = {
        service["command"][0]
        for service in compose()["services"].values()
        if "command" in service and service.get("image", "").startswith("${KEFU_IMAGE")
    }
    for kind in ("Deployment", "Job"):
        for doc in k8s_objects(kind).values():
            used |= {container["args"][0] for container in pod_containers(doc)}
    assert used == {"web", "worker", "beat", "migrate"}


# --- docker-compose ----------------------------------------------------------------------


def test_compose_has_every_process_and_healthy_dependencies():
    services = compose()["services"]
    for name in (*APP_COMPOSE_SERVICES, "postgres", "redis", "proxy"):
        assert name in services, name
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("postgres", "redis", "web-1", "web-2", "worker"):
        assert "test" in services[name]["healthcheck"], name
    for name in ("web-1", "web-2", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["restart"] == "no"
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
    # Exactly one scheduler.
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_compose_app_services_share_services_and_media():
    services = compose()["services"]
    for name in APP_COMPOSE_SERVICES:
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        assert env["KEFU_TASKS_MODE"] == "celery"
        assert services[name]["env_file"][0]["path"] == "../.env"
    for name in ("web-1", "web-2", "worker"):
        assert "media:/app/var/media" in services[name]["volumes"]
        assert services[name]["environment"]["MEDIA_ROOT"] == "/app/var/media"


def test_compose_bind_mounts_exist():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)


def test_nginx_balances_over_the_compose_web_services_and_upgrades_websockets():
    conf = re.sub(r"#.*", "", (DEPLOY / "nginx" / "kefu.conf").read_text())
    services = compose()["services"]
    upstreams = re.findall(r"^\s*server ([\w.-]+):(\d+)", conf, re.MULTILINE)
    assert len(upstreams) >= 2
    for host, port in upstreams:
        assert host in services and services[host]["command"] == ["web"] and port == "8000"
    ws = re.search(r"location /ws/ \{(.*?)\}", conf, re.DOTALL).group(1)
    assert "proxy_set_header Upgrade $http_upgrade" in ws and "proxy_read_timeout 3600s" in ws
    assert "sticky" not in conf and "ip_hash" not in conf
    assert re.search(r"location = /metrics \{\s*return 404;", conf)
    # The proxy's X-Forwarded-For is believed only because its address is trusted.
    proxy_ip = services["proxy"]["networks"]["default"]["ipv4_address"]
    for name in ("web-1", "web-2"):
        assert proxy_ip in services[name]["environment"]["KEFU_TRUSTED_PROXIES"].split(",")


def test_compose_web_allows_the_internal_host_names_prometheus_uses():
    services = compose()["services"]
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    [job] = prometheus["scrape_configs"]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    for target in targets:
        host, port = target.split(":")
        assert host in services and port == "8000"
        allowed = services[host]["environment"]["ALLOWED_HOSTS"].split(",")
        assert host in allowed, (host, allowed)


def test_prometheus_scrapes_metrics_with_the_metrics_token():
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    [job] = prometheus["scrape_configs"]
    assert resolve(job["metrics_path"]).func is views.metrics
    assert job["authorization"]["type"] == "Bearer"
    compose_file = compose()
    service = compose_file["services"]["prometheus"]
    assert service["profiles"] == ["monitoring"]
    assert job["authorization"]["credentials_file"] == f"/run/secrets/{service['secrets'][0]}"
    assert compose_file["secrets"][service["secrets"][0]] == {"environment": "METRICS_TOKEN"}
    assert "METRICS_TOKEN" in settings_env_names()
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in service["volumes"]


def test_grafana_is_provisioned_with_the_compose_prometheus():
    services = compose()["services"]
    assert services["grafana"]["profiles"] == ["monitoring"]
    [datasource] = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in services["grafana"]["volumes"]


# --- Kubernetes --------------------------------------------------------------------------


def _probe_path_and_host(probe: dict) -> tuple[str, str | None]:
    http = probe["httpGet"]
    host = next((h["value"] for h in http.get("httpHeaders", []) if h["name"].lower() == "host"), None)
    return http["path"], host


def test_web_deployment_probes_resolve_and_send_an_allowed_host():
    web = k8s_objects("Deployment")["kefu-web"]
    assert web["spec"]["replicas"] == 2
    [container] = pod_containers(web)
    allowed = k8s_objects("ConfigMap")["kefu-config"]["data"]["ALLOWED_HOSTS"].split(",")
    paths = {}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        path, host = _probe_path_and_host(container[kind])
        paths[kind] = path
        assert resolve(path).func is PROBE_VIEWS[path]
        assert host and validate_host(host, allowed), (kind, host, allowed)
        assert container[kind]["httpGet"]["port"] in {p["name"] for p in container["ports"]}
    assert paths["readinessProbe"] == "/readyz" and paths["livenessProbe"] == "/healthz"
    # Probes come over plain HTTP: they must be exempt from the HTTPS redirect.
    for path in set(paths.values()):
        assert any(re.search(pattern, path.lstrip("/")) for pattern in _redirect_exempt())


def _redirect_exempt() -> list[str]:
    text = (ROOT / "kefu" / "settings.py").read_text()
    block = re.search(r"SECURE_REDIRECT_EXEMPT = \[(.*?)\]", text, re.DOTALL).group(1)
    return re.findall(r"r\"([^\"]+)\"", block)


def test_every_workload_has_resources_and_a_hardened_security_context():
    for kind in ("Deployment", "Job"):
        for name, doc in k8s_objects(kind).items():
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, name
            mounts_by_container = {}
            for container in pod["containers"]:
                resources = container["resources"]
                assert resources["requests"]["cpu"] and resources["requests"]["memory"], name
                assert resources["limits"]["memory"], name
                sc = container["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True, name
                mounts_by_container[container["name"]] = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                # A read-only root needs a writable /tmp (beat schedule, uploads, jieba cache).
                assert "/tmp" in mounts_by_container[container["name"]], name
            volumes = {v["name"]: v for v in pod["volumes"]}
            claims = k8s_objects("PersistentVolumeClaim")
            for mounts in mounts_by_container.values():
                for volume in mounts.values():
                    assert volume in volumes, (name, volume)
                    if "persistentVolumeClaim" in volumes[volume]:
                        assert volumes[volume]["persistentVolumeClaim"]["claimName"] in claims
                if "/app/var/media" in mounts:
                    assert k8s_objects("ConfigMap")["kefu-config"]["data"]["MEDIA_ROOT"] == "/app/var/media"


def test_web_and_worker_share_the_media_volume():
    deployments = k8s_objects("Deployment")
    claims = k8s_objects("PersistentVolumeClaim")
    for name in ("kefu-web", "kefu-worker"):
        pod = deployments[name]["spec"]["template"]["spec"]
        media = next(v for v in pod["volumes"] if v["name"] == "media")
        claim = claims[media["persistentVolumeClaim"]["claimName"]]
        assert "ReadWriteMany" in claim["spec"]["accessModes"]


def test_beat_is_a_single_replica_recreated_on_rollout():
    beat = k8s_objects("Deployment")["kefu-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert not any(
        h["spec"]["scaleTargetRef"]["name"] == "kefu-beat" for h in k8s_objects("HorizontalPodAutoscaler").values()
    )


def test_migrate_job_runs_the_migrate_role_once():
    job = k8s_objects("Job")["kefu-migrate"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert [c["args"] for c in pod["containers"]] == [["migrate"]]


def test_service_selects_the_web_pods():
    service = k8s_objects("Service")["kefu-web"]
    deployments = k8s_objects("Deployment")
    labels = deployments["kefu-web"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    for name in ("kefu-worker", "kefu-beat"):
        other = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert not service["spec"]["selector"].items() <= other.items(), name
    assert "sessionAffinity" not in service["spec"] or service["spec"]["sessionAffinity"] == "None"
    [port] = service["spec"]["ports"]
    [container] = pod_containers(deployments["kefu-web"])
    assert port["targetPort"] in {p["name"] for p in container["ports"]}


def test_ingress_routes_websockets_to_the_web_service_with_long_timeouts():
    ingress = k8s_objects("Ingress")["kefu"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    assert not any("affinity" in key for key in annotations), "sticky sessions are not needed"
    service = k8s_objects("Service")["kefu-web"]
    port_names = {p["name"] for p in service["spec"]["ports"]}
    [rule] = ingress["spec"]["rules"]
    allowed = k8s_objects("ConfigMap")["kefu-config"]["data"]["ALLOWED_HOSTS"].split(",")
    assert validate_host(rule["host"], allowed)
    paths = {p["path"]: p for p in rule["http"]["paths"]}
    assert "/ws/" in paths and "/" in paths
    for path in paths.values():
        backend = path["backend"]["service"]
        assert backend["name"] == "kefu-web" and backend["port"]["name"] in port_names
    # The WebSocket routes of the protocol live under /ws/.
    protocol = (ROOT / "docs" / "protocol.md").read_text()
    for ws_path in re.findall(r"`(/ws/[a-z/]+)`", protocol):
        assert ws_path.startswith("/ws/")
    origins = k8s_objects("ConfigMap")["kefu-config"]["data"]["CSRF_TRUSTED_ORIGINS"].split(",")
    assert f"https://{rule['host']}" in origins


def test_hpas_scale_web_and_worker_deployments():
    hpas = k8s_objects("HorizontalPodAutoscaler")
    deployments = k8s_objects("Deployment")
    targets = {h["spec"]["scaleTargetRef"]["name"]: h for h in hpas.values()}
    assert set(targets) == {"kefu-web", "kefu-worker"}
    for name, hpa in targets.items():
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment" and name in deployments
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert targets["kefu-web"]["spec"]["minReplicas"] >= 2


def test_worker_liveness_probe_pings_its_own_celery_node():
    worker = k8s_objects("Deployment")["kefu-worker"]
    [container] = pod_containers(worker)
    command = " ".join(container["livenessProbe"]["exec"]["command"])
    assert "celery -A kefu inspect ping" in command and "celery@$HOSTNAME" in command
    compose_test = " ".join(compose()["services"]["worker"]["healthcheck"]["test"])
    assert "celery -A kefu inspect ping" in compose_test and "celery@$$HOSTNAME" in compose_test


def test_deploy_doc_lists_every_setting_and_the_compose_and_entrypoint_variables():
    doc = (ROOT / "docs" / "deploy.md").read_text()
    missing = {name for name in settings_env_names() | ENTRYPOINT_VARS | COMPOSE_VARS if f"`{name}`" not in doc}
    assert not missing, f"add to docs/deploy.md: {sorted(missing)}"
