"""The deployment files in ``deploy/`` as far as they can be checked without Docker,
Render or Railway: they parse, name only real settings, real routes and real
commands, carry no default credential, run as an unprivileged user; the systemd units
pass ``systemd-analyze verify`` where Debian's systemd tools are installed. The
operations guides link only to pages that exist."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from apiflask import APIFlask

from strongroom.cli import main
from strongroom.settings import Settings, unknown_environment_names

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GUIDES = ROOT / "docs" / "operations"
MY_GUIDES = ("install.md", "upgrade.md", "scaling.md", "incidents.md", "maintenance.md")
SETTING = re.compile(r"STRONGROOM_[A-Z0-9_]*[A-Z0-9]")
SECRETS = {
    "STRONGROOM_SECRET_KEY", "STRONGROOM_MASTER_KEYS", "STRONGROOM_LEDGER_SIGNING_KEY",
    "STRONGROOM_S3_SECRET_ACCESS_KEY", "STRONGROOM_S3_ACCESS_KEY_ID", "STRONGROOM_METRICS_TOKEN",
    "STRONGROOM_SENTRY_DSN",
}  # fmt: skip


def read(name: str) -> str:
    return (DEPLOY / name).read_text(encoding="utf-8")


def setting_files() -> list[Path]:
    deploy = [p for p in DEPLOY.rglob("*") if p.is_file()]
    return sorted(deploy + [GUIDES / name for name in MY_GUIDES])


@pytest.mark.parametrize("path", setting_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_setting_named_is_real(path: Path) -> None:
    names = set(SETTING.findall(path.read_text(encoding="utf-8")))
    # A name followed by "_*" in prose ("STRONGROOM_S3_*") is a family, not a setting.
    text = path.read_text(encoding="utf-8")
    families = {n for n in names if f"{n}_*" in text}
    unknown = unknown_environment_names(dict.fromkeys(names - families, ""))
    assert unknown == [], f"{path.name} names settings that do not exist"
    known = {f"STRONGROOM_{field.upper()}" for field in Settings.model_fields}
    for family in families:
        assert any(k.startswith(f"{family}_") for k in known), family


def command_exists(words: list[str]) -> bool:
    """Whether ``strongroom WORDS...`` names a command of the CLI."""
    assert words[0] == "strongroom", words
    command: click.Command = main
    for word in words[1:]:
        if word.startswith("-") or not isinstance(command, click.Group):
            break
        found = command.commands.get(word)
        if found is None:
            return False
        command = found
    return not isinstance(command, click.Group)


# --- Dockerfile ---------------------------------------------------------------------


def final_stage() -> list[str]:
    lines = read("Dockerfile").replace("\\\n", " ").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    return [line for line in lines[starts[-1] :] if line and not line.startswith("#")]


def instruction(stage: list[str], name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in stage if line.split(None, 1)[0] == name]


def test_the_image_runs_unprivileged_with_a_real_health_check(app: APIFlask) -> None:
    stage = final_stage()
    (user,) = instruction(stage, "USER")
    assert user.split(":")[0] not in {"root", "0"}
    assert "--system --uid 10001 --gid strongroom" in " ".join(instruction(stage, "RUN"))
    (health,) = instruction(stage, "HEALTHCHECK")
    urls = re.findall(r"http://127\.0\.0\.1:(\d+)(/[a-z]+)", health)
    assert urls == [("8000", "/healthz")]
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    assert "/healthz" in routes
    (cmd,) = instruction(stage, "CMD")
    words = json.loads(cmd)
    assert words[:2] == ["strongroom", "serve"]
    assert words[words.index("--port") + 1] == "8000"
    env = " ".join(instruction(stage, "ENV"))
    assert "STRONGROOM_MODE=production" in env
    assert "STRONGROOM_DATA_DIR=/var/lib/strongroom" in env
    assert instruction(stage, "VOLUME") == ['["/var/lib/strongroom"]']


def test_the_image_copies_only_what_exists_and_is_not_ignored() -> None:
    ignore = read("Dockerfile.dockerignore")
    for line in read("Dockerfile").splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            *sources, _dest = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), source
                assert f"!{source}" in ignore or f"!{source}/**" in ignore, source


# --- compose ------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(read("compose.yaml"))
    return loaded


def test_compose_runs_migrations_and_creates_the_bucket_before_the_app() -> None:
    services = compose()["services"]
    assert {"app", "migrate", "maintenance", "postgres", "redis", "minio", "minio-init"} <= set(
        services
    )
    app = services["app"]
    assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert app["depends_on"]["minio-init"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["command"] == ["strongroom", "db", "upgrade"]
    assert "mc mb --ignore-existing local/strongroom" in services["minio-init"]["entrypoint"][2]
    assert app["environment"]["STRONGROOM_S3_BUCKET"] == "strongroom"
    assert app["ports"] == ["127.0.0.1:8000:8000"]  # behind the TLS proxy, never bare
    assert "maintenance run" in " ".join(services["maintenance"]["command"])
    for name in ("app", "migrate", "maintenance"):
        assert services[name]["environment"]["STRONGROOM_MODE"] == "production"
        assert services[name]["env_file"] == ["strongroom.env"]


def test_compose_has_no_default_credentials() -> None:
    text = "\n".join(
        line for line in read("compose.yaml").splitlines() if not line.lstrip().startswith("#")
    )
    substitutions = re.findall(r"(?<!\$)\$\{([^}]*)\}", text)
    assert substitutions
    for substitution in substitutions:
        assert re.fullmatch(r"[A-Z0-9_]+:\?[^}]+", substitution), substitution
    env = compose()["services"]["app"]["environment"]
    for name in SECRETS & set(env):
        assert str(env[name]).startswith("${"), name
    for example in ("compose.env.example", "strongroom.env.example"):
        for line in read(example).splitlines():
            name, _, value = line.partition("=")
            if line and not line.startswith("#") and (name in SECRETS or "PASSWORD" in name):
                assert value == "", f"{example}: {name} must be empty"
    assigned = {line.partition("=")[0] for line in read("compose.env.example").splitlines()}
    assert set(re.findall(r"\$\{([A-Z0-9_]+):\?", text)) <= assigned


# --- Render and Railway ---------------------------------------------------------------


def test_render_blueprint(app: APIFlask) -> None:
    blueprint = yaml.safe_load(read("render.yaml"))
    (group,) = blueprint["envVarGroups"]
    variables = {v["key"]: v for v in group["envVars"]}
    for name in SECRETS & set(variables):
        assert set(variables[name]) - {"key"} in ({"sync"}, {"generateValue"}), name
    assert variables["STRONGROOM_MODE"]["value"] == "production"
    services = {s["name"]: s for s in blueprint["services"]}
    web, cron = services["strongroom"], services["strongroom-maintenance"]
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    assert web["healthCheckPath"] in routes
    assert command_exists(shlex.split(web["preDeployCommand"]))
    assert command_exists(shlex.split(cron["dockerCommand"]))
    assert (ROOT / web["dockerfilePath"]).is_file()


def test_railway_configs(app: APIFlask) -> None:
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    web = json.loads(read("railway.json"))
    assert web["deploy"]["healthcheckPath"] in routes
    assert (ROOT / web["build"]["dockerfilePath"]).is_file()
    for command in web["deploy"]["preDeployCommand"]:
        assert command_exists(shlex.split(command))
    assert "exec strongroom serve" in web["deploy"]["startCommand"]
    cron = json.loads(read("railway-maintenance.json"))
    assert command_exists(shlex.split(cron["deploy"]["startCommand"]))
    assert len(cron["deploy"]["cronSchedule"].split()) == 5
    for line in read("Procfile").splitlines():
        command = line.partition(":")[2].split()
        assert command_exists(command), line


# --- systemd --------------------------------------------------------------------------

UNITS = ("strongroom.service", "strongroom-maintenance.service", "strongroom-maintenance.timer")


def unit(name: str) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for line in read(f"systemd/{name}").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            keys.setdefault(key, []).append(value)
    return keys


@pytest.mark.parametrize("name", UNITS[:2])
def test_units_are_hardened(name: str) -> None:
    keys = unit(name)
    assert keys["User"] == ["strongroom"]
    assert keys["NoNewPrivileges"] == ["yes"]
    assert keys["ProtectSystem"] == ["strict"]
    assert keys["ReadWritePaths"] == ["/var/lib/strongroom"]
    assert keys["EnvironmentFile"] == ["/etc/strongroom/strongroom.env"]
    assert "STRONGROOM_MODE=production" in keys["Environment"]
    (start,) = keys["ExecStart"]
    assert command_exists(["strongroom", *shlex.split(start)[1:]])


def test_the_server_restarts_and_the_timer_starts_maintenance() -> None:
    assert unit("strongroom.service")["Restart"] == ["on-failure"]
    assert unit("strongroom-maintenance.service")["Type"] == ["oneshot"]
    assert unit("strongroom-maintenance.timer")["OnCalendar"] == ["hourly"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """Debian's verifier, on copies that point at this virtualenv's strongroom (the
    real path, /opt/strongroom/.venv, does not exist on a test machine)."""
    binary = str(Path(sys.executable).parent / "strongroom")
    for name in UNITS:
        text = read(f"systemd/{name}").replace("/opt/strongroom/.venv/bin/strongroom", binary)
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / n) for n in UNITS)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # unknown keys are only warned about


# --- the guides -----------------------------------------------------------------------


@pytest.mark.parametrize("name", MY_GUIDES)
def test_guides_link_only_to_pages_that_exist(name: str) -> None:
    text = (GUIDES / name).read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
    assert links, name
    for link in links:
        assert (GUIDES / link).resolve().exists(), f"{name} links to missing {link}"
