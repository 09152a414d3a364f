"""`make docs`: the dbt docs site generated on a copy of the warehouse (never the live file),
with no TRADING_HOME set by hand, naming every model; and served on loopback only."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from threading import Thread

import dagster as dg
import pytest

from assets.dbt_models import dbt_models
from tests.conftest import REPO_ROOT
from tests.dbt.test_dbt_project import seed_warehouse
from trading_pipelines.dbt import DBT_PROJECT, dbt_resource
from trading_pipelines.dbt_docs import (
    DocsError,
    copy_warehouse,
    docs_server,
    generate,
    port_from_env,
)

pytestmark = pytest.mark.integration


def project_models() -> set[str]:
    nodes = json.loads(DBT_PROJECT.manifest_path.read_text())["nodes"]
    return {key for key, node in nodes.items() if node["resource_type"] == "model"}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_fresh_checkout_generates_the_docs_without_trading_home(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_")}
    dagster_manifest = DBT_PROJECT.manifest_path.stat().st_mtime_ns
    result = subprocess.run(
        [sys.executable, "-m", "trading_pipelines.dbt_docs", "generate"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    target = tmp_path / ".trading" / "dbt_docs" / "target"
    assert "no warehouse yet" in result.stdout
    assert (target / "index.html").is_file()
    manifest = json.loads((target / "manifest.json").read_text())
    models = {k for k, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    assert models == project_models()
    site = (target / "static_index.html").read_text()
    assert all(key.rsplit(".", 1)[-1] in site for key in models)
    catalog = json.loads((target / "catalog.json").read_text())
    assert "source.trading_pipelines.raw.ohlcv" in catalog["sources"]
    assert not (tmp_path / ".trading" / "warehouse.duckdb").exists()  # nothing made up live
    assert DBT_PROJECT.manifest_path.stat().st_mtime_ns == dagster_manifest


@pytest.mark.slow
def test_the_docs_of_a_built_warehouse_come_from_a_copy_and_name_every_model(
    trading_home,
) -> None:
    seed_warehouse(trading_home)
    assert dg.materialize([dbt_models], resources={"dbt": dbt_resource()}).success
    live = trading_home / "warehouse.duckdb"
    before = digest(live)
    target = generate(trading_home)
    assert target == trading_home / "dbt_docs" / "target"
    assert digest(live) == before  # the live file is read as bytes only
    catalog = json.loads((target / "catalog.json").read_text())
    assert project_models() <= set(catalog["nodes"]), project_models() - set(catalog["nodes"])
    signals = catalog["nodes"]["model.trading_pipelines.fct_signals"]
    assert "score" in {c.lower() for c in signals["columns"]}
    assert (target / "index.html").is_file()
    assert "fct_trade_journal" in (target / "static_index.html").read_text()
    profile = (trading_home / "dbt_docs" / "profiles.yml").read_text()
    assert str(trading_home / "dbt_docs" / "warehouse.duckdb") in profile

    server = docs_server(target, 0)
    host, port = server.server_address[:2]
    worker = Thread(target=server.serve_forever, daemon=True)
    worker.start()
    try:
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/catalog.json", timeout=10) as page:
            assert "model.trading_pipelines.fct_signals" in json.loads(page.read())["nodes"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_warehouse_that_cannot_be_copied_whole_is_a_clear_error(tmp_path) -> None:
    live = tmp_path / "warehouse.duckdb"
    live.write_bytes(b"not a duckdb file" * 100)
    with pytest.raises(DocsError, match=r"could not copy .* in 5 attempts"):
        copy_warehouse(live, tmp_path / "docs" / "warehouse.duckdb")
    assert not (tmp_path / "docs" / "warehouse.duckdb").exists()


@pytest.mark.parametrize("value", ["", "abc", "0", "65536", "-1", "80.5"])
def test_a_bad_docs_port_names_the_variable(value) -> None:
    with pytest.raises(DocsError, match="TRADING_DOCS_PORT"):
        port_from_env({"TRADING_DOCS_PORT": value})


def test_the_docs_port_defaults_to_8081() -> None:
    assert port_from_env({}) == 8081
    assert port_from_env({"TRADING_DOCS_PORT": "9000"}) == 9000


def test_make_docs_serves_with_the_module(repo_root) -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndocs:", 1)[1].split("\n\n", 1)[0]
    assert "trading_pipelines.dbt_docs serve" in recipe
