"""The Kubernetes Job, CronJob and Helm chart in deploy/: they parse, validate against the Kubernetes API
schemas (kubernetes-validate), use the platform's services and secrets, and configure chmigrate the way its
settings read them (the same variables, a password only from a secret, the image's user and writable /tmp).

The chart is rendered by a small renderer of the few template forms it uses (values, quote, include with
nindent, if, define); a template form outside them fails the test, so the chart cannot grow past what is
checked here without this test growing too. Helm itself is not installed here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from chmigrate.settings import load

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "chmigrate"
SECRETS = {"backend-clickhouse-auth": "password", "backend-postgresql-auth": "password"}


# -- a renderer for the chart's template forms -------------------------------------------------------------

def _lookup(path: str, ctx: dict[str, Any]) -> Any:
    value: Any = ctx
    for part in path.lstrip(".").split("."):
        value = value[part]
    return value


def _expr(expr: str, ctx: dict[str, Any], defines: dict[str, str]) -> str:
    expr = expr.strip()
    if m := re.fullmatch(r'include "([\w.]+)" \. \| nindent (\d+)', expr):
        body = _render(defines[m[1]], ctx, defines).strip("\n")
        pad = " " * int(m[2])
        return "\n" + "\n".join(pad + line if line.strip() else "" for line in body.splitlines())
    if m := re.fullmatch(r"(\.[\w.]+)( \| quote)?", expr):
        value = _lookup(m[1], ctx)
        return '"' + str(value).replace('"', '\\"') + '"' if m[2] else str(value)
    raise AssertionError(f"template form not understood by this test: {{{{ {expr} }}}}")


def _render(text: str, ctx: dict[str, Any], defines: dict[str, str]) -> str:
    def if_block(m: re.Match[str]) -> str:
        return m[2] if _lookup(m[1], ctx) else ""

    text = re.sub(r"\{\{- if (\.[\w.]+) \}\}(.*?)\{\{- end \}\}", if_block, text, flags=re.S)
    text = re.sub(r"\s*\{\{-(.*?)\}\}", lambda m: _expr(m[1], ctx, defines), text)
    return re.sub(r"\{\{(.*?)\}\}", lambda m: _expr(m[1], ctx, defines), text)


def render_chart(overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for key, value in (overrides or {}).items():
        target = values
        *parents, last = key.split(".")
        for p in parents:
            target = target[p]
        target[last] = value
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    ctx = {"Values": values, "Release": {"Name": "backend", "Namespace": "backend"}, "Chart": chart}
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    defines = {m[1]: m[2] for m in re.finditer(r'\{\{- define "([\w.]+)" \}\}(.*?)\{\{- end \}\}', helpers, re.S)}
    assert defines and not re.sub(r'\{\{- define "[\w.]+" \}\}.*?\{\{- end \}\}', "", helpers, flags=re.S).strip()
    docs: list[dict[str, Any]] = []
    for template in sorted((CHART / "templates").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(_render(template.read_text(), ctx, defines)) if d]
    return docs


def plain_manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


# -- what every workload must hold ---------------------------------------------------------------------------

def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return dict(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return dict(doc["spec"]["template"]["spec"])


def job_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"])


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def dockerfile_user() -> str:
    return re.search(r"^USER (\S+)", (REPO / "Dockerfile").read_text(), re.M)[1]  # type: ignore[index]


def check_workload(doc: dict[str, Any]) -> None:
    name = f"{doc['kind']} {doc['metadata']['name']}"
    job = job_spec(doc)
    assert isinstance(job["backoffLimit"], int) and isinstance(job["activeDeadlineSeconds"], int), name
    spec = pod_spec(doc)
    assert spec["restartPolicy"] == "Never", name
    uid, gid = dockerfile_user().split(":")
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert (str(spec["securityContext"]["runAsUser"]), str(spec["securityContext"]["runAsGroup"])) == (uid, gid)
    tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    for c in containers(doc):
        where = f"{name} container {c['name']}"
        requests = c["resources"]["requests"]
        assert requests["cpu"] and requests["memory"] and c["resources"]["limits"]["memory"], where
        assert c["securityContext"]["readOnlyRootFilesystem"] is True, where
        assert {m["mountPath"]: m["name"] for m in c["volumeMounts"]}.get("/tmp") in tmp_volumes, where
        env = {e["name"]: e for e in c["env"]}
        for var, secret in (("CLICKHOUSE_PASSWORD", "backend-clickhouse-auth"),
                            ("PGPASSWORD", "backend-postgresql-auth")):
            ref = env[var]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (secret, SECRETS[secret]), where
        assert "backend-clickhouse.backend:8123" in env["CHMIGRATE_CLICKHOUSE_URL"]["value"], where
        assert "backend-postgresql.backend:5432" in env["CHMIGRATE_POSTGRES_URL"]["value"], where
        check_settings(env, where)


def check_settings(env: dict[str, dict[str, Any]], where: str) -> None:
    """chmigrate reads this environment as meant: both servers, the passwords from the secrets, nothing
    embedded, and no password written in the manifest."""
    values = {k: e["value"] for k, e in env.items() if "value" in e}
    secret_values = {k: f"secret-of-{k}" for k, e in env.items() if "valueFrom" in e}
    settings = load({}, env={**values, **secret_values}, cwd=REPO)
    assert settings.clickhouse_url and settings.clickhouse_url.startswith("http://default@backend-clickhouse"), where
    assert settings.postgres_url and "backend-postgresql" in settings.postgres_url, where
    assert settings.clickhouse_password == "secret-of-CLICKHOUSE_PASSWORD", where
    assert settings.postgres_password == "secret-of-PGPASSWORD", where
    assert set(settings.secrets) <= set(secret_values.values()), where  # every password came from a secret


def check_args_are_commands(doc: dict[str, Any]) -> None:
    for c in containers(doc):
        r = subprocess.run([sys.executable, "-m", "chmigrate", *c["args"], "--help"], capture_output=True, text=True)
        assert r.returncode == 0, (c["args"], r.stderr)


# -- tests ---------------------------------------------------------------------------------------------------

def test_plain_job_runs_up_then_verify_with_the_platform_secrets() -> None:
    docs = {d["kind"]: d for d in plain_manifests()}
    job = docs["Job"]
    check_workload(job)
    spec = pod_spec(job)
    assert [c["args"] for c in spec["initContainers"]] == [["up"]]
    assert [c["args"] for c in spec["containers"]] == [["verify"]]
    check_args_are_commands(job)


def test_plain_cronjob_checks_drift_on_a_schedule() -> None:
    cron = {d["kind"]: d for d in plain_manifests()}["CronJob"]
    check_workload(cron)
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert len(cron["spec"]["schedule"].split()) == 5
    assert [c["args"][0] for c in containers(cron)] == ["verify"]
    check_args_are_commands(cron)


def test_helm_hook_runs_before_install_and_upgrade() -> None:
    docs = render_chart()
    hooks = [d for d in docs if d["kind"] == "Job"]
    assert len(hooks) == 1
    annotations = hooks[0]["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    check_workload(hooks[0])
    assert [c["args"] for c in containers(hooks[0])] == [["up"], ["verify"]]
    crons = [d for d in docs if d["kind"] == "CronJob"]
    assert len(crons) == 1
    check_workload(crons[0])


def test_helm_drift_check_can_be_switched_off_and_values_flow_through() -> None:
    docs = render_chart({"driftCheck.enabled": False, "image.tag": "9.9.9", "job.backoffLimit": 0})
    assert [d["kind"] for d in docs] == ["Job"]
    assert {c["image"] for c in containers(docs[0])} == {"ghcr.io/example/chmigrate:9.9.9"}
    assert docs[0]["spec"]["backoffLimit"] == 0


def test_no_password_is_written_in_any_manifest() -> None:
    for path in [*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.tpl")]:
        text = path.read_text()
        assert not re.search(r"://[^/@\s:]+:[^/@\s]+@", text), f"{path}: a URL with a password"
        for m in re.finditer(r"^\s*(?:- )?name: (\w*PASSWORD\w*)\s*$", text, re.M):
            after = text[m.end():m.end() + 80]
            assert "valueFrom" in after, f"{path}: {m[1]} is not read from a secret"


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    kv = pytest.importorskip("kubernetes_validate")
    docs = plain_manifests() + render_chart()
    assert len(docs) == 4
    for doc in docs:
        kv.validate(doc, "1.30", strict=True)
