"""Calling the JSON API in tests: a person with a token, and a client that sends it."""

from dataclasses import dataclass

from flask.testing import FlaskClient

from app.audit import Via
from app.auth.models import Role, User
from app.extensions import db
from app.tokens import models as tokens
from tests.factories import make_user


@dataclass
class ApiClient:
    client: FlaskClient
    token: str
    user: User

    def _headers(self, headers: dict | None) -> dict:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path: str, headers: dict | None = None, **kwargs):
        return self.client.get(path, headers=self._headers(headers), **kwargs)

    def post(self, path: str, json=None, headers: dict | None = None, **kwargs):
        if json is not None:
            kwargs["json"] = json
        return self.client.post(path, headers=self._headers(headers), **kwargs)


def make_token(user: User, name: str = "test") -> str:
    issued = tokens.create(user, name, actor=user, via=Via.WEB)
    db.session.commit()
    return issued.secret


def api_client(app, role: Role = Role.OPERATOR, email: str | None = None) -> ApiClient:
    user = make_user(role, email=email or f"api-{role.value}@example.com")
    return ApiClient(app.test_client(), make_token(user), user)


def assert_problem(response, status: int, slug: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"].startswith("https://campaign-dispatcher.example/problems/")
    if slug:
        assert body["type"].endswith("/" + slug)
    assert body["title"] and body["detail"]
    return body
