"""Checks of docker/ that no generic linter makes: the stack as vision_site needs it.

Run by docker/validate.sh, which installs what it needs. Usage:

    python docker/check_stack.py CONFIG_JSON

CONFIG_JSON is ``docker compose config --format json`` of compose.yaml, interpolated
with .env.example. Reads the project's files (settings, migrate.sh, Dockerfiles,
.dockerignore) from the repository this file sits in. Prints one line a check and
exits 1 when any fails. Standard library only, except the optional .dockerignore
check, which uses the ``docker`` package's own matcher when it is importable.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

DOCKER_DIR = Path(__file__).resolve().parent
ROOT = DOCKER_DIR.parent

DATABASES = ("leader", "shard1", "shard2", "shard3")
APP_SERVICES = ("migrate", "web", "worker", "beat")
SERVICES = (*DATABASES, "redis", *APP_SERVICES)
WORKER_COMMAND = (
    "celery -A vision_site worker -Q inference,default --concurrency 1 "
    "--prefetch-multiplier 1 -l INFO"
)
# Read by the settings but deliberately not passed by compose: their defaults are
# right inside the compose network (or the image sets them).
DEFAULTED_IN_CONTAINERS = {
    "CELERY_BROKER_URL",  # REDIS_URL
    "CELERY_RESULT_BACKEND",  # REDIS_URL
    "STATIC_ROOT",  # ENV of Dockerfile.web, where collectstatic wrote the files
    *(f"SHARD_{n}_FDW_{part}" for n in (1, 2, 3) for part in ("HOST", "PORT")),
}


def test_only(name: str) -> bool:
    """Variables of test runs (TEST_*): documented, never passed to the containers."""
    return name.startswith("TEST_")


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)

    def check(self, condition: bool, message: str) -> None:
        print(f"{'ok  ' if condition else 'FAIL'} {message}")
        if not condition:
            self.failures.append(message)


@dataclass(frozen=True)
class Url:
    scheme: str
    host: str
    port: int
    name: str
    user: str
    password: str


def parse_url(url: str) -> Url:
    parts = urlsplit(url)
    return Url(
        scheme=parts.scheme,
        host=parts.hostname or "",
        port=parts.port or 0,
        name=unquote(parts.path.lstrip("/")),
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    return dict(env)


def depends(service: dict[str, Any], name: str) -> str | None:
    dependency = (service.get("depends_on") or {}).get(name)
    return None if dependency is None else str(dependency.get("condition"))


def settings_variables() -> set[str]:
    """Names of the environment variables vision_site/settings.py reads."""
    source = (ROOT / "vision_site" / "settings.py").read_text(encoding="utf-8")
    names: set[str] = set()
    for name in re.findall(r"env_[a-z]+\(\s*f?\"([A-Za-z0-9_{}]+)\"", source):
        if "{_index}" in name:
            names.update(name.replace("{_index}", str(n)) for n in (1, 2, 3))
        else:
            names.add(name)
    return names


def gunicorn_variables() -> set[str]:
    source = (DOCKER_DIR / "gunicorn_conf.py").read_text(encoding="utf-8")
    return set(re.findall(r"\"(GUNICORN_[A-Z_]+)\"", source))


def documented_variables() -> set[str]:
    text = (DOCKER_DIR / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    return [str(item) for item in value] if isinstance(value, list) else []


def check_databases(report: Report, services: dict[str, Any]) -> None:
    volumes: list[str] = []
    for name in DATABASES:
        service = services[name]
        env = environment(service)
        report.check(service.get("image") == "postgres:15", f"{name}: image postgres:15")
        report.check(
            bool(env.get("POSTGRES_USER")) and bool(env.get("POSTGRES_DB")),
            f"{name}: POSTGRES_USER and POSTGRES_DB set",
        )
        report.check(bool(env.get("POSTGRES_PASSWORD")), f"{name}: POSTGRES_PASSWORD set")
        report.check(
            env.get("POSTGRES_HOST_AUTH_METHOD") in {"scram-sha-256", "md5"},
            f"{name}: password auth (scram-sha-256/md5) for TCP connections (postgres_fdw)",
        )
        data = [
            volume
            for volume in service.get("volumes") or []
            if volume.get("target") == "/var/lib/postgresql/data"
        ]
        report.check(
            len(data) == 1 and data[0].get("type") == "volume",
            f"{name}: named volume at /var/lib/postgresql/data",
        )
        volumes.extend(str(volume.get("source")) for volume in data)
        test = " ".join(service.get("healthcheck", {}).get("test") or [])
        report.check("pg_isready" in test, f"{name}: pg_isready health check")
        report.check("-h 127.0.0.1" in test, f"{name}: health check over TCP (not init's socket)")
        report.check("ports" not in service, f"{name}: not published on the host")
    report.check(len(set(volumes)) == len(DATABASES), "each database has its own volume")

    redis = services["redis"]
    test = " ".join(redis.get("healthcheck", {}).get("test") or [])
    report.check(str(redis.get("image", "")).startswith("redis:7"), "redis: image redis:7")
    report.check("redis-cli" in test and "ping" in test, "redis: redis-cli ping health check")
    report.check("ports" not in redis, "redis: not published on the host")


def check_app_environment(report: Report, services: dict[str, Any]) -> None:
    leader = environment(services["leader"])
    for name in APP_SERVICES:
        env = environment(services[name])
        report.check(env.get("VISION_ENV") == "production", f"{name}: VISION_ENV=production")
        report.check(
            bool(env.get("SECRET_KEY")) and bool(env.get("ALLOWED_HOSTS")),
            f"{name}: SECRET_KEY and ALLOWED_HOSTS set",
        )
        url = parse_url(str(env.get("DATABASE_URL", "")))
        report.check(
            url.scheme in {"postgres", "postgresql"}
            and (url.host, url.port) == ("leader", 5432)
            and url.name == leader.get("POSTGRES_DB")
            and url.user == leader.get("POSTGRES_USER")
            and url.password == leader.get("POSTGRES_PASSWORD"),
            f"{name}: DATABASE_URL = leader's database, user and password",
        )
        for n in (1, 2, 3):
            shard = environment(services[f"shard{n}"])
            url = parse_url(str(env.get(f"SHARD_{n}_URL", "")))
            report.check(
                (url.host, url.port) == (f"shard{n}", 5432)
                and url.name == shard.get("POSTGRES_DB") == f"vision_site_shard_{n}"
                and url.user == shard.get("POSTGRES_USER")
                and url.password == shard.get("POSTGRES_PASSWORD"),
                f"{name}: SHARD_{n}_URL = shard{n}'s database, user and password "
                "(also the leader's FDW user mapping)",
            )
            fdw_host = env.get(f"SHARD_{n}_FDW_HOST")
            report.check(
                fdw_host in {None, f"shard{n}"},
                f"{name}: SHARD_{n}_FDW_HOST unset or shard{n} (the leader's view)",
            )
        redis = parse_url(str(env.get("REDIS_URL", "")))
        report.check(
            (redis.scheme, redis.host) == ("redis", "redis"), f"{name}: REDIS_URL -> redis"
        )
        report.check(
            str(env.get("CELERY_TASK_ALWAYS_EAGER", "0")).lower() in {"0", "false", "no", "off"},
            f"{name}: CELERY_TASK_ALWAYS_EAGER off",
        )
        report.check("ports" not in services[name] or name == "web", f"{name}: no ports")


def check_order(report: Report, services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    for name in DATABASES:
        report.check(
            depends(migrate, name) == "service_healthy", f"migrate waits for {name} healthy"
        )
    report.check(str(migrate.get("restart", "no")) == "no", "migrate: restart no (one-shot)")
    for name in ("web", "worker", "beat"):
        report.check(
            depends(services[name], "migrate") == "service_completed_successfully",
            f"{name} waits for migrate completed successfully",
        )
        report.check(
            depends(services[name], "redis") == "service_healthy", f"{name} waits for redis"
        )

    command = " ".join(migrate.get("command") or [])
    report.check("docker/migrate.sh" in command, "migrate runs docker/migrate.sh")
    script = (DOCKER_DIR / "migrate.sh").read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines() if not line.strip().startswith("#")]
    settings = (ROOT / "vision_site" / "settings.py").read_text(encoding="utf-8")
    aliases_match = re.search(r"SHARD_ALIASES\s*=\s*\[([^\]]*)\]", settings)
    aliases = re.findall(r"\"(\w+)\"", aliases_match.group(1)) if aliases_match else []
    loop = next((i for i, line in enumerate(lines) if line.startswith("for alias in")), -1)
    shard_migrate = next(
        (i for i, line in enumerate(lines) if "manage.py migrate --database" in line), -1
    )
    leader_migrate = next(
        (
            i
            for i, line in enumerate(lines)
            if "manage.py migrate" in line and "--database" not in line
        ),
        -1,
    )
    looped = lines[loop].replace(";", " ").split()[3:-1] if loop >= 0 else []
    report.check(
        bool(aliases) and looped == aliases,
        f"migrate.sh loops over settings.SHARD_ALIASES {aliases} (got {looped})",
    )
    report.check(
        0 <= loop < shard_migrate < leader_migrate,
        "migrate.sh migrates every shard before the leader",
    )
    report.check(script.splitlines()[0].startswith("#!") and "set -eu" in script, "set -eu")


def check_web_and_worker(report: Report, services: dict[str, Any]) -> None:
    web, worker = services["web"], services["worker"]
    report.check(
        any(int(port.get("target", 0)) == 8000 for port in web.get("ports") or []),
        "web publishes container port 8000",
    )
    test = " ".join(web.get("healthcheck", {}).get("test") or [])
    probe = (DOCKER_DIR / "healthcheck.py").read_text(encoding="utf-8")
    urls = (ROOT / "vision_site" / "urls.py").read_text(encoding="utf-8")
    report.check(
        "docker/healthcheck.py" in test and '"/healthz"' in probe and 'path("healthz"' in urls,
        "web health check GETs /healthz, which vision_site/urls.py serves",
    )
    report.check(
        str(web.get("build", {}).get("dockerfile")) == "docker/Dockerfile.web"
        and str(worker.get("build", {}).get("dockerfile")) == "docker/Dockerfile.worker",
        "web builds Dockerfile.web, worker Dockerfile.worker",
    )
    for name in ("migrate", "beat"):
        report.check(services[name].get("image") == web.get("image"), f"{name} runs the web image")
    devices = worker.get("deploy", {}).get("resources", {}).get("reservations", {})
    devices = devices.get("devices") or []
    report.check(
        any(
            device.get("driver") == "nvidia"
            and int(device.get("count", 0)) == 1
            and "gpu" in (device.get("capabilities") or [])
            for device in devices
        ),
        "worker reserves one nvidia GPU (deploy.resources.reservations.devices)",
    )
    mounts = {}
    for name in ("web", "worker"):
        root = environment(services[name]).get("MEDIA_ROOT")
        found = [
            volume
            for volume in services[name].get("volumes") or []
            if volume.get("target") == root and volume.get("type") == "volume"
        ]
        mounts[name] = found[0].get("source") if found else None
    report.check(
        mounts["web"] is not None and mounts["web"] == mounts["worker"],
        f"web and worker share one media volume at MEDIA_ROOT ({mounts})",
    )


def check_documentation(report: Report, services: dict[str, Any]) -> None:
    documented = documented_variables()
    read = settings_variables()
    missing = sorted(read - documented)
    report.check(not missing, f"every variable settings.py reads is in .env.example {missing}")
    missing = sorted(gunicorn_variables() - documented)
    report.check(not missing, f"every GUNICORN_* of gunicorn_conf.py is documented {missing}")
    lines = (DOCKER_DIR / "compose.yaml").read_text(encoding="utf-8").splitlines()
    raw = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    # ${VAR} is interpolated by compose; $${VAR} is left to the container's shell.
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", raw))
    missing = sorted(interpolated - documented)
    report.check(not missing, f"every ${{VAR}} of compose.yaml is in .env.example {missing}")
    for name in ("worker", "beat", "migrate"):
        passed = set(environment(services[name]))
        missing = sorted(
            name for name in read - passed - DEFAULTED_IN_CONTAINERS if not test_only(name)
        )
        report.check(not missing, f"{name}: compose names every settings variable {missing}")
    passed = set(environment(services["web"]))
    wanted = (read | gunicorn_variables()) - DEFAULTED_IN_CONTAINERS - {"GUNICORN_BIND"}
    missing = sorted(name for name in wanted - passed if not test_only(name))
    report.check(not missing, f"web: compose names every settings/gunicorn variable {missing}")


def check_dockerfiles(report: Report) -> None:
    for kind in ("web", "worker"):
        path = DOCKER_DIR / f"Dockerfile.{kind}"
        steps = dockerfile_instructions(path)
        keywords = [keyword for keyword, _ in steps]
        froms = [arguments for keyword, arguments in steps if keyword == "FROM"]
        report.check(froms == ["python:3.11-slim"], f"Dockerfile.{kind}: FROM python:3.11-slim")
        users = [arguments for keyword, arguments in steps if keyword == "USER"]
        report.check(
            bool(users) and users[-1].split(":")[0] not in {"root", "0"},
            f"Dockerfile.{kind}: runs as a non-root user",
        )
        install = next(
            (i for i, (k, a) in enumerate(steps) if k == "RUN" and "-r /tmp/requirements.txt" in a),
            -1,
        )
        copy_all = next(
            (i for i, (k, a) in enumerate(steps) if k == "COPY" and a.split()[-2:] == [".", "."]),
            -1,
        )
        report.check(
            0 <= install < copy_all
            and "--mount=type=cache" in steps[install][1]
            and "source=requirements.txt" in steps[install][1],
            f"Dockerfile.{kind}: requirements (pip cache mount) installed before the code",
        )
        envs = " ".join(arguments for keyword, arguments in steps if keyword in {"ENV", "ARG"})
        report.check(
            "SECRET_KEY" not in envs and "DATABASE_URL" not in envs,
            f"Dockerfile.{kind}: no secrets in ENV/ARG",
        )
        report.check("HF_HUB_OFFLINE=1" in envs, f"Dockerfile.{kind}: HF_HUB_OFFLINE=1")
        report.check(keywords.count("CMD") == 1, f"Dockerfile.{kind}: one CMD")
        command = exec_form(next(a for k, a in steps if k == "CMD"))
        if kind == "web":
            collect = next(
                (i for i, (k, a) in enumerate(steps) if k == "RUN" and "collectstatic" in a), -1
            )
            report.check(
                copy_all < collect and "VISION_ENV=production" in steps[collect][1],
                "Dockerfile.web: collectstatic at build time, with production settings",
            )
            report.check(
                command[:1] == ["gunicorn"] and "vision_site.wsgi:application" in command,
                "Dockerfile.web: CMD gunicorn vision_site.wsgi:application",
            )
        else:
            report.check(
                " ".join(command) == WORKER_COMMAND, f"Dockerfile.worker: CMD {WORKER_COMMAND}"
            )
            report.check(
                "NVIDIA_VISIBLE_DEVICES=" in envs and "NVIDIA_DRIVER_CAPABILITIES=" in envs,
                "Dockerfile.worker: NVIDIA_VISIBLE_DEVICES and NVIDIA_DRIVER_CAPABILITIES",
            )
            capabilities = re.search(r"NVIDIA_DRIVER_CAPABILITIES=(\S+)", envs)
            report.check(
                capabilities is not None and "compute" in capabilities.group(1).split(","),
                "Dockerfile.worker: driver capability compute (CUDA)",
            )


def check_build_context(report: Report) -> None:
    try:
        build = importlib.import_module("docker.utils.build")
    except ImportError:
        print("skip .dockerignore check (the docker package is not installed)")
        return
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    matcher = build.PatternMatcher(patterns)
    keep = [
        "requirements.txt",
        "manage.py",
        "vision_site/settings.py",
        "docker/gunicorn_conf.py",
        "docker/healthcheck.py",
        "docker/migrate.sh",
    ]
    drop = [
        ".env",
        "docker/.env",
        ".venv/bin/python",
        ".git/HEAD",
        "media/upload.png",
        "var/grid.png",
        "staticfiles/staticfiles.json",
        "vision_site/__pycache__/settings.cpython-311.pyc",
        ".mypy_cache/3.11/x.json",
    ]
    excluded = sorted(path for path in keep if matcher.matches(path))
    report.check(not excluded, f".dockerignore keeps what the images need {excluded}")
    included = sorted(path for path in drop if not matcher.matches(path))
    report.check(not included, f".dockerignore drops secrets, .venv, .git, data {included}")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    config: dict[str, Any] = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    services: dict[str, Any] = config.get("services") or {}
    report = Report()
    missing = [name for name in SERVICES if name not in services]
    report.check(not missing, f"services {', '.join(SERVICES)} present {missing}")
    if missing:
        return 1
    check_databases(report, services)
    check_app_environment(report, services)
    check_order(report, services)
    check_web_and_worker(report, services)
    check_documentation(report, services)
    check_dockerfiles(report)
    check_build_context(report)
    print(f"check_stack: {len(report.failures)} failed")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
