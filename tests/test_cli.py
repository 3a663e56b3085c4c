"""The command line, operations endpoints and packaging, as a new user meets them."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx

from tests.support.client import Api, LiveReader
from tests.support.server import CHECKOUT, ServerProcess, incidents_command, scaled

TOKEN = re.compile(r"^[0-9a-f]{8}\.[0-9a-f]{8}\.[A-Za-z0-9_-]{40,}$")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*incidents_command(), *args], capture_output=True, text=True, cwd=cwd, timeout=scaled(60)
    )


def test_operator_add_prints_the_token_alone_on_stdout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    done = run("operator", "add", "ZZIC", "--admin", "--backend", url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert TOKEN.match(done.stdout.strip()), done.stdout
    assert done.stdout.count("\n") == 1
    assert "admin" in done.stderr
    assert "ZZIC" in done.stderr

    again = run("operator", "add", "ZZIC", "--backend", url, cwd=tmp_path)
    assert again.returncode == 1
    assert again.stdout == ""
    assert "exists already" in again.stderr


def test_operator_token_works_and_is_stored_hashed(tmp_path: Path) -> None:
    db = tmp_path / "ops.db"
    url = f"sqlite:///{db}"
    token = run("operator", "add", "desk", "--backend", url, cwd=tmp_path).stdout.strip()
    secret = token.split(".")[2]
    assert secret.encode() not in db.read_bytes()
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or secret.encode() not in wal.read_bytes()
    with ServerProcess(url) as server:
        good = httpx.post(
            f"{server.url}/api/incidents", json={"title": "t"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert good.status_code == 201
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        bad = httpx.post(
            f"{server.url}/api/incidents", json={"title": "t"}, headers={"Authorization": f"Bearer {forged}"}
        )
        assert bad.status_code == 401


def test_default_backend_is_a_file_under_data(tmp_path: Path) -> None:
    done = run("operator", "add", "desk", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "incidents.db").exists()


def test_unknown_backend_is_a_clear_error(tmp_path: Path) -> None:
    done = run("operator", "add", "x", "--backend", "mysql://nope", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown backend URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_redis_is_a_clear_error(tmp_path: Path) -> None:
    done = run("operator", "add", "x", "--backend", "redis://127.0.0.1:1/0", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "127.0.0.1:1" in done.stderr


def test_serve_on_an_empty_store_says_how_to_get_in(tmp_path: Path) -> None:
    with ServerProcess(f"sqlite:///{tmp_path / 'empty.db'}") as server:
        log = server.log()
    assert f"http://127.0.0.1:{server.port}/" in log
    assert "incidents operator add NAME --admin" in log
    assert "sqlite:///" in log


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found is not None, f"{name} missing"
    return float(found.group(1))


async def test_healthz_and_metrics(api: Api, sqlite_server: ServerProcess) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    assert (await api.http.get("/readyz")).json() == {"status": "ready"}
    incident = await api.create()
    reader = await LiveReader.open(sqlite_server.ws_url(""), incident, since=0)
    assert (await api.post(incident, "counted")).status_code == 201
    await reader.until_seq(2)
    answer = await api.http.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert metric(text, 'incidents_live_connections{transport="websocket"}') >= 1
    assert metric(text, 'incidents_events_appended_total{type="update.posted"}') >= 1
    assert metric(text, "incidents_deliveries_total") >= 1
    assert metric(text, "incidents_slow_consumers_closed_total") >= 0
    assert metric(text, 'incidents_backend_seconds_count{op="append"}') >= 2
    await reader.close()


async def test_pages_render_from_the_installed_package(api: Api) -> None:
    incident = await api.create()
    assert (await api.post(incident, "第一次播报：**工作人员已前往现场**")).status_code == 201
    home = (await api.http.get("/")).text
    page = await api.http.get(f"/incidents/{incident}")
    assert page.status_code == 200
    assert f'href="/incidents/{incident}?lang=zh-CN"' in home
    assert "<strong>工作人员已前往现场</strong>" in page.text
    css = await api.http.get("/static/site.css")
    assert css.status_code == 200
    assert "font" in css.text
    missing = await api.http.get("/incidents/nope0000")
    assert missing.status_code == 404


def test_checkout_entry_point_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(CHECKOUT / "incidents.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0
    assert "serve" in done.stdout
    assert "operator" in done.stdout


def test_wheel_carries_templates_static_and_entry_point(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(CHECKOUT)],
        check=True,
        timeout=scaled(300),
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "incidents.py" in names
    assert "broadcaster/templates/incident.html" in names
    assert "broadcaster/static/site.css" in names
    assert "broadcaster/app.py" in names
    assert "broadcaster/demo/zzic-2010.json" in names  # the demo's script, read at run time
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "incidents = incidents:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
