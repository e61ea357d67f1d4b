"""/api/v1/openapi.json as integrators' tools read it: it passes redocly's lint
(``redocly.yaml``), and says what a client generator needs to write a client
one would keep: stable operation ids, each enum once, the headers the API
sends, optional bodies where none is needed, plain query parameters.

The generated client itself walks the seeds' flow in test_api_generated_client.py.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app.auth.models import Role
from tests.api import api_client

ROOT = Path(__file__).resolve().parent.parent
REDOCLY = ROOT / "node_modules" / ".bin" / "redocly"

OPERATIONS = {
    ("get", "/api/v1/health"): "getHealth",
    ("post", "/api/v1/customers"): "createCustomer",
    ("get", "/api/v1/customers"): "listCustomers",
    ("get", "/api/v1/customers.csv"): "exportCustomers",
    ("get", "/api/v1/customers/{customer_id}"): "getCustomer",
    ("post", "/api/v1/campaigns"): "createCampaign",
    ("get", "/api/v1/campaigns"): "listCampaigns",
    ("get", "/api/v1/campaigns/{campaign_id}"): "getCampaign",
    ("get", "/api/v1/campaigns/{campaign_id}/events"): "listCampaignEvents",
    ("post", "/api/v1/campaigns/{campaign_id}/send"): "sendCampaign",
    ("post", "/api/v1/campaigns/{campaign_id}/start"): "startCampaign",
    ("post", "/api/v1/campaigns/{campaign_id}/personalized-preview"): "previewCampaign",
    ("post", "/api/v1/campaigns/{campaign_id}/recipients"): "addRecipients",
    ("get", "/api/v1/campaigns/{campaign_id}/recipients"): "listRecipients",
    ("get", "/api/v1/campaigns/{campaign_id}/recipients.csv"): "exportRecipients",
    ("get", "/api/v1/campaigns/{campaign_id}/recipients/{recipient_id}"): "getRecipient",
    ("post", "/api/v1/campaigns/{campaign_id}/pause"): "pauseCampaign",
    ("post", "/api/v1/campaigns/{campaign_id}/resume"): "resumeCampaign",
    ("post", "/api/v1/campaigns/{campaign_id}/cancel"): "cancelCampaign",
    ("post", "/api/v1/campaigns/{campaign_id}/retry-failed"): "retryFailed",
}
BODY_LESS = ("/start", "/pause", "/resume", "/cancel", "/retry-failed")


@pytest.fixture
def document(app) -> dict:
    return api_client(app, Role.VIEWER).get("/api/v1/openapi.json").get_json()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def walk(node, at: str = "#"):
    """Every object of the document, with where it is."""
    if isinstance(node, dict):
        yield at, node
        for key, value in node.items():
            yield from walk(value, f"{at}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from walk(value, f"{at}/{n}")


def test_the_document_passes_redocly_lint(document, tmp_path):
    if shutil.which("node") is None:
        pytest.skip("node is not installed, so @redocly/cli cannot run (CI has it: make test runs npm ci)")
    assert REDOCLY.exists(), "@redocly/cli is missing: run npm ci (package.json pins it)"
    written = tmp_path / "openapi.json"
    written.write_text(json.dumps(document))
    # No telemetry and no update check: the lint reads the file and nothing else.
    quiet = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1"}
    linted = subprocess.run(
        [REDOCLY, "lint", written, "--format=json"], cwd=ROOT, env=quiet, capture_output=True, text=True, timeout=120
    )
    report = json.loads(linted.stdout)
    problems = [
        f"{p['severity']} {p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}" for p in report["problems"]
    ]
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, "\n".join(problems)
    assert linted.returncode == 0, linted.stderr


def test_each_operation_has_a_stable_verb_first_id_a_summary_and_a_description(document):
    found = {(method, path): operation["operationId"] for method, path, operation in operations(document)}
    assert found == OPERATIONS
    for _, _, operation in operations(document):
        assert operation["summary"] and operation["description"], operation["operationId"]
        assert "``" not in operation["description"]


def test_each_enum_is_one_component_that_every_use_refers_to(document):
    schemas = document["components"]["schemas"]
    enums = {name for name, schema in schemas.items() if "enum" in schema}
    assert enums == {
        "CampaignStatus", "SendStatus", "Channel", "RecipientStatus", "RecipientStatusFilter",
        "AttemptOutcome", "Action", "Via", "HealthStatus",
    }  # fmt: skip
    inline = [at for at, node in walk(document) if "enum" in node and at.rpartition("/")[2] not in enums]
    # Only the Idempotent-Replayed header's single value is written where it is used.
    assert inline == ["#/components/headers/Idempotent-Replayed/schema"]
    refs = {
        "CampaignOut": {"status": "CampaignStatus", "channel": "Channel"},
        "SendOut": {"status": "SendStatus"},
        "RetryOut": {"status": "CampaignStatus"},
        "RecipientOut": {"status": "RecipientStatus"},
        "RecipientDetailOut": {"status": "RecipientStatus"},
        "AttemptOut": {"outcome": "AttemptOutcome"},
        "EventOut": {"via": "Via", "action": "Action"},
        "CampaignIn": {"channel": "Channel"},
    }
    for model, fields in refs.items():
        for field, enum in fields.items():
            assert schemas[model]["properties"][field]["$ref"] == f"#/components/schemas/{enum}", (model, field)
    assert set(schemas["SendStatus"]["enum"]) == {"sending", "scheduled", "sent"}
    assert {"skipped"} <= set(schemas["RecipientStatus"]["enum"])
    assert {"inbound", "scheduler", "dispatcher"} <= set(schemas["Via"]["enum"])


def test_query_parameters_are_plain_optional_values_and_have_no_schemas_of_their_own(document):
    for _, _, operation in operations(document):
        for parameter in operation["parameters"]:
            if parameter.get("in") == "query":
                schema = parameter["schema"]
                assert "anyOf" not in schema and schema.get("default", "absent") is not None, parameter
                assert not parameter["required"] and parameter["description"]
    listed = document["paths"]["/api/v1/campaigns"]["get"]["parameters"]
    assert {p["name"]: p["schema"].get("$ref", p["schema"].get("type")) for p in listed} == {
        "page": "integer",
        "page_size": "integer",
        "channel": "#/components/schemas/Channel",
        "status": "#/components/schemas/CampaignStatus",
    }
    assert not {"PageQuery", "CampaignQuery", "CustomerQuery", "RecipientQuery"} & set(
        document["components"]["schemas"]
    )


def test_scheduled_at_is_a_date_time_inside_its_nullable_union(document):
    field = document["components"]["schemas"]["CampaignIn"]["properties"]["scheduled_at"]
    assert {"type": "string", "format": "date-time"} in field["anyOf"]


def test_body_less_controls_take_an_optional_body_and_the_others_need_theirs(document):
    bodies = {
        path: operation["requestBody"]["required"]
        for _, path, operation in operations(document)
        if "requestBody" in operation
    }
    assert len(bodies) == 10
    for path, required in bodies.items():
        assert required == (not path.endswith(BODY_LESS)), path


def test_answers_declare_the_headers_the_api_sends(document):
    def headers(method: str, path: str, status: str) -> set[str]:
        return set(document["paths"][path][method]["responses"][status].get("headers", {}))

    rate = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    assert headers("post", "/api/v1/campaigns", "201") == {"Location", "Idempotent-Replayed", *rate}
    assert headers("post", "/api/v1/customers", "201") == {"Location", "Idempotent-Replayed", *rate}
    assert headers("post", "/api/v1/campaigns/{campaign_id}/send", "202") == {"Idempotent-Replayed", *rate}
    assert headers("get", "/api/v1/campaigns", "200") == rate
    assert headers("get", "/api/v1/customers.csv", "200") == {"Content-Disposition", *rate}
    for _, _, operation in operations(document):
        answers = operation["responses"]
        assert set(answers["405"]["headers"]) == {"Allow"}
        if operation["operationId"] != "getHealth":
            assert set(answers["401"]["headers"]) == {"WWW-Authenticate"}
            assert set(answers["429"]["headers"]) == {"Retry-After", *rate}
    for name, header in document["components"]["headers"].items():
        assert header["description"] and header["schema"], name


def test_health_declares_no_400_and_only_what_can_refuse_a_query_does(document):
    paths = document["paths"]
    assert "400" not in paths["/api/v1/health"]["get"]["responses"]
    assert "400" not in paths["/api/v1/campaigns/{campaign_id}"]["get"]["responses"]
    assert "400" in paths["/api/v1/campaigns"]["get"]["responses"]
    assert "400" in paths["/api/v1/campaigns/{campaign_id}/recipients"]["get"]["responses"]


def test_the_exports_answer_csv_and_take_the_listings_filters_without_paging(document):
    for path in ("/api/v1/customers.csv", "/api/v1/campaigns/{campaign_id}/recipients.csv"):
        ok = document["paths"][path]["get"]["responses"]["200"]
        assert ok["content"] == {"text/csv": {"schema": {"type": "string"}}}
        assert "byte-order mark" in ok["description"]
    recipients = document["paths"]["/api/v1/campaigns/{campaign_id}/recipients.csv"]["get"]["parameters"]
    assert [p["name"] for p in recipients if p["in"] == "query"] == ["status", "q"]
    customers = document["paths"]["/api/v1/customers.csv"]["get"]["parameters"]
    assert [p["name"] for p in customers if p["in"] == "query"] == ["location", "preferred_product", "q"]


def test_the_document_names_its_server_licence_and_tags(document):
    assert document["servers"] == [{"url": "/", "description": "This server"}]
    assert document["info"]["license"]["name"]
    assert all(tag["description"] for tag in document["tags"])
