"""The console as a browser uses it, over HTTP: a cookie-keeping client and the form tokens."""

from __future__ import annotations

import re

import httpx

from tests.support.server import scaled

PASSWORD = "correct horse battery staple"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no CSRF field in the page"
    return found.group(1)


def nonce_of(html: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


class Browser:
    """A cookie-keeping client, as a browser is to the console."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=scaled(20), follow_redirects=False)

    async def setup(self, link: str, password: str = PASSWORD) -> httpx.Response:
        path = link[link.index("/console/setup/") :]
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        return await self.http.post(
            path, data={"password": password, "repeat": password, "csrf": csrf_of(page.text)}
        )

    async def login(self, name: str, password: str = PASSWORD, next: str = "/console") -> httpx.Response:
        page = await self.http.get("/console/login")
        data = {"name": name, "password": password, "csrf": csrf_of(page.text), "next": next}
        return await self.http.post("/console/login", data=data)

    async def form(self, page_path: str, action: str, **fields: str) -> httpx.Response:
        page = await self.http.get(page_path)
        assert page.status_code == 200, page.status_code
        return await self.http.post(action, data={"csrf": csrf_of(page.text), **fields})

    async def aclose(self) -> None:
        await self.http.aclose()
