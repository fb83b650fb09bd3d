"""Plugins through the entry-point group `inboxbot.plugins`: the example package registers a
condition and an action that rules, `rules add`, `simulate` and the engine use; a broken plugin
is left out, logged, and reported by `check`, and never stops the engine from building."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from inboxbot import plugins
from inboxbot.cli.app import app
from inboxbot.core.rules import REGISTRY, Registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inboxbot-ordernumber"
ENV = {
    "INBOXBOT_IMAP_PASSWORD": "x",
    "INBOXBOT_SMTP_PASSWORD": "x",
    "INBOXBOT_CONFIG": None,
    "NO_COLOR": "1",
}
ORDER_MAIL = (
    b"From: Anna <anna@customer.example>\r\nTo: support@shop.example\r\n"
    b"Subject: Where is order 123456?\r\nMessage-ID: <o1@customer.example>\r\n"
    b"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nHello, my order #123456 has not arrived.\r\n"
)


def entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=plugins.GROUP)


@pytest.fixture(autouse=True)
def example_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))


@pytest.fixture
def fake_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A module of test plugins, good and bad, importable as `fake_inboxbot_plugins`."""
    module = ModuleType("fake_inboxbot_plugins")

    def raises(registry: Registry) -> None:
        registry.condition("half_registered")(lambda v, c, r: lambda t: (True, ""))
        raise RuntimeError("cannot reach the licence server\nsecond line")

    def replaces(registry: Registry) -> None:
        registry.condition("from")(lambda v, c, r: lambda t: (True, ""))

    def exits(_registry: Registry) -> None:
        sys.exit(3)

    def vip_everything(registry: Registry) -> None:
        registry.classifier("shout")(lambda base: Shouting(base))

    module.raises = raises  # type: ignore[attr-defined]
    module.replaces = replaces  # type: ignore[attr-defined]
    module.exits = exits  # type: ignore[attr-defined]
    module.not_callable = 42  # type: ignore[attr-defined]
    module.classifier = vip_everything  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    yield module


class Shouting:
    """A classifier wrapper: everything in capitals is urgent."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def classify(self, subject: str, body: str, language: str) -> Any:
        from dataclasses import replace

        verdict = self.base.classify(subject, body, language)
        return replace(verdict, urgent=True) if subject.isupper() else verdict


BROKEN = [
    entry("missing", "no_such_module_xyz:register"),
    entry("raises", "fake_inboxbot_plugins:raises"),
    entry("replaces", "fake_inboxbot_plugins:replaces"),
    entry("exits", "fake_inboxbot_plugins:exits"),
    entry("notcallable", "fake_inboxbot_plugins:not_callable"),
]
GOOD = entry("ordernumber", "inboxbot_ordernumber:register")


def installed_as(monkeypatch: pytest.MonkeyPatch, entries: Sequence[EntryPoint]) -> None:
    """Make the process see these entry points as the installed plugins."""
    monkeypatch.setattr(plugins, "discover", lambda: list(entries))
    plugins.installed.cache_clear()


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    plugins.installed.cache_clear()
    yield
    plugins.installed.cache_clear()  # later tests see the real (empty) set again


# --- loading --------------------------------------------------------------------------------


def test_the_example_plugin_loads_into_a_copy_of_the_registry() -> None:
    loaded = plugins.load_plugins(REGISTRY, [GOOD])
    assert loaded.loaded == ("ordernumber",) and loaded.failures == ()
    assert "order_number" in loaded.registry.conditions
    assert "tag_order" in loaded.registry.actions
    assert "order_number" not in REGISTRY.conditions  # built-ins untouched


def test_broken_plugins_are_left_out_and_logged(
    fake_plugins: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="inboxbot"):
        loaded = plugins.load_plugins(REGISTRY, [*BROKEN, GOOD])
    assert loaded.loaded == ("ordernumber",)
    reasons = {f.name: f.error for f in loaded.failures}
    assert set(reasons) == {"missing", "raises", "replaces", "exits", "notcallable"}
    assert reasons["missing"].startswith("ModuleNotFoundError")
    assert reasons["raises"] == "RuntimeError: cannot reach the licence server"
    assert "replace the condition 'from'" in reasons["replaces"]
    assert reasons["exits"] == "SystemExit: 3"
    assert "not callable" in reasons["notcallable"]
    assert "half_registered" not in loaded.registry.conditions  # nothing half-registered
    assert loaded.registry.conditions["from"] is REGISTRY.conditions["from"]
    assert caplog.text.count("failed to load") == 5


def test_classifier_plugins_wrap_the_engine_classifier(
    fake_plugins: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inboxbot.app import build_engine
    from inboxbot.cli.setup import write_skeleton
    from inboxbot.config import load_config

    monkeypatch.setenv("INBOXBOT_IMAP_PASSWORD", "x")
    list(write_skeleton(tmp_path / "shop"))
    installed_as(monkeypatch, [entry("shout", "fake_inboxbot_plugins:classifier")])
    engine = build_engine(load_config(tmp_path / "shop" / "config.toml"))
    assert isinstance(engine.classifier, Shouting)


def test_a_failing_classifier_wrapper_is_skipped() -> None:
    registry = REGISTRY.copy()

    def boom(_base: Any) -> Any:
        raise ValueError("no model")

    registry.classifier("boom")(boom)
    registry.classifier("useless")(lambda base: object())
    base = Shouting(None)
    assert plugins.wrap_classifier(base, registry) is base


# --- through the command line ---------------------------------------------------------------


def invoke(args: Sequence[str]) -> Result:
    return CliRunner(env=ENV).invoke(app, list(args))


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    assert invoke(["init", str(tmp_path / "shop")]).exit_code == 0
    return tmp_path / "shop"


def run(shop: Path, *args: str) -> Result:
    return invoke([*args, "--config", str(shop / "config.toml")])


def test_check_lists_loaded_plugins(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed_as(monkeypatch, [GOOD])
    result = run(shop, "check", "--offline")
    assert result.exit_code == 0, result.output
    assert "ok    plugins: ordernumber" in result.output


def test_check_reports_a_broken_plugin_and_the_engine_still_builds(
    shop: Path, monkeypatch: pytest.MonkeyPatch, fake_plugins: ModuleType
) -> None:
    installed_as(monkeypatch, [entry("raises", "fake_inboxbot_plugins:raises"), GOOD])
    result = run(shop, "check", "--offline")
    assert result.exit_code == 1
    fails = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1
    assert "plugin 'raises' (fake_inboxbot_plugins:raises)" in fails[0]
    assert "cannot reach the licence server" in fails[0]
    assert "ok    rules:" in result.output  # the rest of the check ran
    preview = run(shop, "replies", "preview", "ack")  # builds the full engine
    assert preview.exit_code == 0, preview.output


def test_rules_add_and_simulate_with_the_example_plugin(
    shop: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    installed_as(monkeypatch, [GOOD])
    result = run(
        shop, "rules", "add", "order numbers", "--when", "order_number=true",
        "--then", "tag_order=true", "--before", "acknowledge",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    mail = tmp_path / "order.eml"
    mail.write_bytes(ORDER_MAIL)
    result = run(shop, "simulate", str(mail), "--json", "--at", "2026-11-23T10:00+01:00")
    assert result.exit_code == 0, result.output
    [message] = json.loads(result.stdout)
    assert "order numbers" in message["rules"]
    assert {"type": "tag", "keyword": "$Order-123456"} in [
        {k: v for k, v in a.items() if k in ("type", "keyword")} for a in message["actions"]
    ]
    tested = run(shop, "rules", "test", str(mail), "--json")
    trace = next(t for t in json.loads(tested.stdout) if t["rule"] == "order numbers")
    assert trace["matched"] and trace["conditions"][0]["saw"] == "123456"


def test_without_the_plugin_its_rules_are_refused(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed_as(monkeypatch, [])
    result = run(shop, "rules", "add", "o", "--when", "order_number=true", "--then", "tag=o")
    assert result.exit_code == 1
    assert "unknown condition 'order_number'" in result.output


def test_the_example_packages_own_tests_pass() -> None:
    """The example is a separate package with its own tests; run them as its users would."""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE)],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


def test_the_example_declares_its_entry_point() -> None:
    import tomllib

    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"][plugins.GROUP] == {
        "ordernumber": "inboxbot_ordernumber:register"
    }
