"""A client generated from /api/v1/openapi.json by openapi-python-client
(requirements-dev.txt) walks the seeds' flow against the Procfile's web and
worker, with no hand-written request: the generated code makes every call,
and what it parses comes back typed (its Enum classes, datetimes).

The seeds' flow: [003]'s health check and campaign, [001]'s customers, its
scheduled campaign that a send fills, its two previews, then a start, the
send seen through, and the campaign's recipients and history.
"""

import importlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from enum import Enum
from types import ModuleType

import httpx
import pytest

from app.auth.models import Role
from tests.api import make_token
from tests.factories import make_user
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

PACKAGE = "generated_dispatcher_client"
# No formatting hooks (ruff over the output): they take time and change nothing a test reads.
GENERATOR_CONFIG = (
    f"package_name_override: {PACKAGE}\nproject_name_override: generated-dispatcher-client\npost_hooks: []\n"
)
PEOPLE = [
    {"phone": "+254712345678", "first_name": "Alice", "last_name": "Johnson", "location": "Nairobi",
     "preferred_product": "Premium Package"},
    {"phone": "0712 000002", "first_name": "Brian", "last_name": "Kamau", "location": "Kisumu"},
    {"phone": "0712 000003", "first_name": "Zawadi", "last_name": "Otieno", "location": "Mombasa"},
]  # fmt: skip


@pytest.fixture
def generate(tmp_path, monkeypatch):
    """Generates the client for a document into tmp_path and imports it;
    forgets its modules afterwards."""

    def generated(document: bytes) -> ModuleType:
        (tmp_path / "openapi.json").write_bytes(document)
        (tmp_path / "generator.yaml").write_text(GENERATOR_CONFIG)
        command = [
            *(sys.executable, "-m", "openapi_python_client", "generate"),
            *("--path", str(tmp_path / "openapi.json"), "--output-path", str(tmp_path / "client")),
            *("--config", str(tmp_path / "generator.yaml")),
        ]
        made = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stdout + made.stderr
        # A document the generator reads only in part still generates, with a warning.
        assert "Warning" not in made.stdout + made.stderr, made.stdout + made.stderr
        monkeypatch.syspath_prepend(str(tmp_path / "client"))
        return importlib.import_module(PACKAGE)

    yield generated
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


def operation(tag: str, operation_id: str) -> ModuleType:
    """The generated module for one operation, e.g. ("campaigns", "list_campaigns")."""
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")


# The wait for the send polls the campaign: many requests, none of which is what is tested.
@pytest.mark.stack(API_RATE_LIMIT="100000 per minute")
# Healthy means every process runs.
@pytest.mark.scheduler
@pytest.mark.reconciler
def test_a_generated_client_walks_the_seeds_flow(live_stack, generate):
    token = make_token(make_user(Role.OPERATOR, email="integrator@example.com"))
    served = httpx.get(f"{live_stack}/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert served.status_code == 200
    client_package = generate(served.content)
    models = importlib.import_module(f"{PACKAGE}.models")
    # An answer the document does not declare raises, rather than parsing as None.
    api = client_package.AuthenticatedClient(base_url=live_stack, token=token, raise_on_unexpected_status=True)
    anyone = client_package.Client(base_url=live_stack, raise_on_unexpected_status=True)

    # Once the processes just started have each reported.
    wait_for(lambda: httpx.get(f"{live_stack}/readyz", timeout=10).status_code == 200, 60, "the stack to be ready")
    health = operation("health", "get_health").sync(client=anyone)
    assert health.status is models.HealthStatus.HEALTHY
    assert health.checks.workers.status is models.HealthStatus.HEALTHY

    create_customer = operation("customers", "create_customer")
    customers = []
    for person in PEOPLE:
        made = create_customer.sync_detailed(client=api, body=models.CustomerIn.from_dict(person))
        assert made.status_code == 201 and isinstance(made.parsed, models.CustomerOut)
        assert made.headers["Location"] == f"/api/v1/customers/{made.parsed.id}"
        customers.append(made.parsed)
    alice = customers[0]
    assert (alice.phone, alice.preferred_product) == ("+254712345678", "Premium Package")

    # [001]: a campaign scheduled a little ahead, which a send fills with customers who wait for it.
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    summer = models.CampaignIn(
        name="Summer Sale 2025",
        channel=models.Channel.SMS,
        base_template="Hi {first_name}, check out {preferred_product} in {location}!",
        scheduled_at=at,
    )
    created = operation("campaigns", "create_campaign").sync_detailed(client=api, body=summer, idempotency_key="seed-1")
    campaign = created.parsed
    assert created.status_code == 201 and campaign.status is models.CampaignStatus.SCHEDULED
    assert campaign.scheduled_at == at and campaign.started_at is None
    assert created.headers["Location"] == f"/api/v1/campaigns/{campaign.id}"
    replayed = operation("campaigns", "create_campaign").sync_detailed(
        client=api, body=summer, idempotency_key="seed-1"
    )
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.parsed.id == campaign.id

    send = operation("sending", "send_campaign")
    queued = send.sync(campaign.id, client=api, body=models.SendIn(customer_ids=[c.id for c in customers]))
    assert (queued.messages_queued, queued.status) == (3, models.SendStatus.SCHEDULED)

    preview = operation("sending", "preview_campaign")
    basic = preview.sync(campaign.id, client=api, body=models.PreviewIn(customer_id=alice.id))
    assert basic.rendered_message == "Hi Alice, check out Premium Package in Nairobi!"
    override = "Hi {first_name}, special offer just for you in {location}!"
    special = preview.sync(
        campaign.id, client=api, body=models.PreviewIn(customer_id=alice.id, override_template=override)
    )
    assert (special.rendered_message, special.used_template) == (
        "Hi Alice, special offer just for you in Nairobi!",
        override,
    )
    assert special.customer.last_name == "Johnson"

    # No body: the start takes none.
    started = operation("sending", "start_campaign").sync(campaign.id, client=api)
    assert (started.messages_queued, started.status) == (3, models.SendStatus.SENDING)

    get_campaign = operation("campaigns", "get_campaign")
    wait_for(
        lambda: get_campaign.sync(campaign.id, client=api).status is models.CampaignStatus.SENT, 60, "a sent campaign"
    )
    done = get_campaign.sync(campaign.id, client=api)
    assert (done.stats.total, done.stats.sent, done.stats.pending) == (3, 3, 0)
    assert isinstance(done.finished_at, datetime) and done.finished_at >= done.started_at

    recipients = operation("recipients", "list_recipients")
    listed = recipients.sync(campaign.id, client=api, status=models.RecipientStatusFilter.SENT, page_size=2)
    assert listed.pagination.total_count == 3 and len(listed.data) == 2
    assert {r.status for r in listed.data} == {models.RecipientStatus.SENT}
    assert listed.data[0].rendered_content == "Hi Alice, check out Premium Package in Nairobi!"
    one = operation("recipients", "get_recipient").sync(campaign.id, listed.data[0].id, client=api)
    assert [a.outcome for a in one.attempt_log] == [models.AttemptOutcome.SENT]

    events = operation("campaigns", "list_campaign_events").sync(campaign.id, client=api).data
    assert [e.action for e in events][:2] == [models.Action.CAMPAIGN_CREATED, models.Action.CAMPAIGN_SCHEDULED]
    assert models.Action.CAMPAIGN_COMPLETED in [e.action for e in events]
    assert {e.via for e in events} >= {models.Via.API, models.Via.DISPATCHER}
    assert all(isinstance(e.via, Enum) and isinstance(e.at, datetime) for e in events)

    # [003]'s list, with its filters.
    found = operation("campaigns", "list_campaigns").sync(
        client=api, page=1, page_size=10, channel=models.Channel.SMS, status=models.CampaignStatus.SENT
    )
    assert [c.id for c in found.data] == [campaign.id]
    assert (found.pagination.page, found.pagination.total_pages) == (1, 1)

    # [003]: a second send is 409, parsed as the problem it is.
    again = send.sync_detailed(campaign.id, client=api, body=models.SendIn(customer_ids=[alice.id]))
    assert again.status_code == 409 and isinstance(again.parsed, models.ProblemOut)
    assert "Campaign already processed" in again.parsed.detail
