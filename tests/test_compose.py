"""The production compose file: valid YAML, consistent with the code (every command a real
`ravao` sub-command with real options, every RAVAO_* variable a setting, every topic
declared, every health check a real one), and safe by default (no default password,
nothing but the gateway, the web and Grafana published, and those on loopback). Docker cannot run
here; this reads the file as compose would (YAML, merge keys and anchors resolved)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline.settings import Settings

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_the_clickhouse_password_must_be_set_and_has_no_default() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    uses = re.findall(r"\$\{CLICKHOUSE_PASSWORD([^}]*)\}", text)
    assert uses and all(use.startswith(":?") for use in uses), uses
    assert "change-me" not in text


def test_only_the_gateway_the_web_and_grafana_are_published_and_only_on_loopback() -> None:
    services = compose()["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert published == {"gateway": ["127.0.0.1:8080:8080"], "web": ["127.0.0.1:8090:8090"],
                         "grafana": ["127.0.0.1:3000:3000"]}
    assert compose()["networks"]["backend"]["internal"] is True
    for name in ("kafka", "clickhouse", "worker", "sink"):
        assert services[name]["networks"] == ["backend"], name


def test_the_gateway_trusts_the_forwarded_address_of_the_edge_bridge_only() -> None:
    gateway = compose()["services"]["gateway"]
    edge = compose()["networks"]["edge"]["ipam"]["config"][0]
    assert gateway["environment"]["RAVAO_GATEWAY_TRUSTED_PROXIES"] == edge["gateway"]


# --- the file against the code: commands, variables, topics -------------------------------
# Each check returns what it finds wrong (empty: nothing); the real file gives nothing, and
# each mutated copy below makes exactly its check complain.

RAVAO_IMAGE = "ravao:latest"
TOPIC_LIKE = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")  # scans.raw, registry.venues, alerts.decisions
INTERPOLATED = re.compile(r"\$\{(RAVAO_[A-Z0-9_]+)")


def ravao_services(spec: dict) -> dict[str, dict]:
    """The services that run the ravao image (its entry point is `ravao`)."""
    return {name: s for name, s in spec["services"].items() if s.get("image") == RAVAO_IMAGE}


def command_problems(spec: dict) -> list[str]:
    """Every ravao service's command must parse as `ravao` would: sub-commands down the
    Typer app's groups, then only options that command has (and a value for each that
    takes one), and no more arguments than it takes."""
    import typer.main  # (Typer carries its own click: tell groups and options by their attributes)

    from pipeline.cli import app

    root = typer.main.get_command(app)
    problems = []
    for name, service in ravao_services(spec).items():
        words = list(service.get("command") or [])
        command, path = root, ["ravao"]
        while hasattr(command, "commands") and words and not words[0].startswith("-"):
            sub = command.commands.get(words[0])
            if sub is None:
                problems.append(f"{name}: `{' '.join(path)} {words[0]}` is not a command")
                break
            command, path = sub, path + [words.pop(0)]
        else:
            if hasattr(command, "commands") and not command.invoke_without_command and words != ["--help"]:
                problems.append(f"{name}: `{' '.join(path)}` needs a sub-command")
            options = {opt: p for p in command.params if p.param_type_name == "option" for opt in p.opts + p.secondary_opts}
            arguments = [p for p in command.params if p.param_type_name == "argument"]
            positional = 0
            while words:
                word = words.pop(0)
                if word == "--help":
                    continue
                if word.startswith("-"):
                    option = options.get(word.split("=", 1)[0])
                    if option is None:
                        problems.append(f"{name}: `{' '.join(path)}` has no option {word}")
                    elif not option.is_flag and "=" not in word and not words:
                        problems.append(f"{name}: {word} needs a value")
                    elif not option.is_flag and "=" not in word:
                        words.pop(0)
                else:
                    positional += 1
            if positional > sum(1 if a.nargs == 1 else 99 for a in arguments):
                problems.append(f"{name}: `{' '.join(path)}` takes {len(arguments)} argument(s), given {positional}")
    return problems


def variable_problems(spec: dict, text: str) -> list[str]:
    """Every RAVAO_* variable set in a service, or read from the host's environment, must be
    a setting (or a setting's <NAME>_FILE, read by `FileSecretsSource`)."""
    from pipeline.settings import ENV_PREFIX

    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    known |= {name + "_FILE" for name in known}
    used = {(service_name, var) for service_name, service in spec["services"].items()
            for var in (service.get("environment") or {}) if var.startswith(ENV_PREFIX)}
    used |= {("${...}", var) for var in INTERPOLATED.findall(text)}
    return [f"{where}: {var} is not a setting" for where, var in sorted(used) if var not in known]


def strings_in(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return [str(value)] if value is not None else []


def topic_problems(spec: dict) -> list[str]:
    """Every topic a ravao service names (a word like `scans.raw` anywhere in its command,
    environment or health check, as ravao's dotted topics are spelt) must be declared in
    `pipeline.topics` (with that service's RAVAO_TOPIC_PREFIX)."""
    from pipeline.topics import topics_for

    problems = []
    for name, service in ravao_services(spec).items():
        prefix = str((service.get("environment") or {}).get("RAVAO_TOPIC_PREFIX", ""))
        declared = {t.name for t in topics_for(Settings(topic_prefix=prefix)).all()}
        families = {t.split(".", 1)[0] for t in declared if "." in t}
        for word in {w for s in strings_in(service) for w in re.split(r"[\s,=\"']+", s)}:
            if TOPIC_LIKE.match(word) and word.split(".", 1)[0] in families and word not in declared:
                problems.append(f"{name}: topic {word} is not declared in pipeline/topics.py")
    return problems


def health_check_problems(spec: dict) -> list[str]:
    """A health check that runs `deploy/healthcheck.py NAME` needs that script and that check."""
    import runpy

    checks = runpy.run_path(str(COMPOSE.parent / "deploy" / "healthcheck.py"))["CHECKS"]
    problems = []
    for name, service in spec["services"].items():
        test = (service.get("healthcheck") or {}).get("test") or []
        if "deploy/healthcheck.py" in test:
            check = test[test.index("deploy/healthcheck.py") + 1:]
            if check[:1] != [] and check[0] not in checks or len(check) != 1:
                problems.append(f"{name}: deploy/healthcheck.py has no check {check}")
    return problems


def test_every_command_is_a_real_subcommand_with_real_options() -> None:
    assert {"worker", "sink", "alerts", "web", "gateway", "topics", "migrate"} <= set(ravao_services(compose()))
    assert command_problems(compose()) == []


def test_every_ravao_variable_is_a_known_setting() -> None:
    assert variable_problems(compose(), COMPOSE.read_text(encoding="utf-8")) == []


def test_every_topic_named_is_declared() -> None:
    spec = compose()
    assert topic_problems(spec) == []
    spec["services"]["worker"]["command"] += ["scans.raw"]  # a declared one passes
    assert topic_problems(spec) == []


def test_every_health_check_script_exists() -> None:
    assert health_check_problems(compose()) == []


def test_web_and_alerts_wait_for_the_topics_and_tables_and_have_health_checks() -> None:
    services = compose()["services"]
    for name in ("web", "alerts"):
        service = services[name]
        assert service["command"][0] == name
        assert service["depends_on"]["kafka"] == {"condition": "service_healthy"}, name
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert service["depends_on"]["topics"] == {"condition": "service_completed_successfully"}, name
        assert service["environment"]["RAVAO_CLICKHOUSE_URL"].startswith("http://ravao:"), name
        assert service["healthcheck"]["test"][:3] == ["CMD", "python", "deploy/healthcheck.py"], name
    web = services["web"]
    assert web["environment"]["RAVAO_WEB_HOST"] == "0.0.0.0"
    assert web["ports"] == [f"127.0.0.1:{web['environment']['RAVAO_WEB_PORT']}:{web['environment']['RAVAO_WEB_PORT']}"]
    assert web["environment"]["RAVAO_GATEWAY_TRUSTED_PROXIES"] == compose()["networks"]["edge"]["ipam"]["config"][0]["gateway"]
    assert services["alerts"]["environment"]["RAVAO_ALERTS_HEARTBEAT_FILE"]


def _mutated(change) -> tuple[dict, str]:
    text = COMPOSE.read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    return change(spec, text)


def _set(spec: dict, service: str, key: str, value) -> dict:
    spec["services"][service][key] = value
    return spec


MUTATIONS = {
    "a made-up command": (command_problems, lambda s, t: (_set(s, "sink", "command", ["sinks"]), t)),
    "a made-up sub-command": (command_problems, lambda s, t: (_set(s, "topics", "command", ["kafka", "topic"]), t)),
    "a made-up option": (command_problems, lambda s, t: (_set(s, "worker", "command", ["worker", "--nmae", "w1"]), t)),
    "an option without its value": (command_problems, lambda s, t: (_set(s, "worker", "command", ["worker", "--name"]), t)),
    "a group without its sub-command": (command_problems, lambda s, t: (_set(s, "topics", "command", ["kafka"]), t)),
    "a made-up variable": (variable_problems, lambda s, t: (
        _set(s, "web", "environment", {**s["services"]["web"]["environment"], "RAVAO_WEB_PROT": "8090"}), t)),
    "a made-up variable read from the host": (variable_problems, lambda s, t: (
        s, t.replace("${RAVAO_RETENTION_DAYS:-30}", "${RAVAO_RETENTION_DAY:-30}"))),
    "a made-up topic": (topic_problems, lambda s, t: (
        _set(s, "worker", "command", ["worker", "--name", "w1", "scans.rejected"]), t)),
    "a made-up topic in a variable": (topic_problems, lambda s, t: (
        _set(s, "alerts", "environment", {**s["services"]["alerts"]["environment"], "X": "registry.venuez"}), t)),
    "a made-up health check": (health_check_problems, lambda s, t: (
        _set(s, "web", "healthcheck", {"test": ["CMD", "python", "deploy/healthcheck.py", "webb"]}), t)),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_each_check_fails_on_a_mutated_copy(mutation: str) -> None:
    check, change = MUTATIONS[mutation]
    spec, text = _mutated(change)
    problems = check(spec, text) if check is variable_problems else check(spec)
    assert problems, f"{check.__name__} did not notice {mutation}"
