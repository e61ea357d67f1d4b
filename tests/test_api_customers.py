"""POST/GET /api/v1/customers and GET /customers/{id} (contract B.3, B.4)."""

from app.audit import AuditEvent
from app.auth.models import Role
from app.extensions import db
from tests.api import api_client, assert_problem

ALICE = {
    "phone": "0712 345678",
    "first_name": "Alice",
    "last_name": "Johnson",
    "location": "Nairobi",
    "preferred_product": "Premium Package",
}


def test_create_normalizes_the_phone_and_answers_201_with_location(app):
    api = api_client(app)
    response = api.post("/api/v1/customers", json=ALICE)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["phone"] == "+254712345678"
    assert body["email"] == "" and body["attributes"] == {}
    assert body["created_at"].endswith("Z")
    assert response.headers["Location"] == f"/api/v1/customers/{body['id']}"
    assert api.get(response.headers["Location"]).get_json() == body
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.contact_id == body["id"]))
    assert event.via == "api" and event.actor_id == api.user.id
    assert event.actor_label == f"{api.user.email} via API"


def test_an_email_only_customer_has_an_empty_phone_and_attributes_come_back(app):
    api = api_client(app)
    body = api.post(
        "/api/v1/customers", json={"email": "Bob@Example.com", "first_name": None, "attributes": {"plan": "gold"}}
    ).get_json()
    assert body["phone"] == "" and body["email"] == "bob@example.com"
    assert body["first_name"] == "" and body["attributes"] == {"plan": "gold"}


def test_neither_phone_nor_email_is_400_on_phone(app):
    body = assert_problem(api_client(app).post("/api/v1/customers", json={"first_name": "X"}), 400, "invalid-request")
    assert body["errors"][0]["field"] == "phone"


def test_an_invalid_phone_or_email_is_400_naming_it(app):
    api = api_client(app)
    assert assert_problem(api.post("/api/v1/customers", json={"phone": "12"}), 400)["errors"][0]["field"] == "phone"
    assert assert_problem(api.post("/api/v1/customers", json={"email": "bob@"}), 400)["errors"][0]["field"] == "email"


def test_the_same_normalized_phone_or_email_is_409(app):
    api = api_client(app)
    assert api.post("/api/v1/customers", json=ALICE).status_code == 201
    again = assert_problem(api.post("/api/v1/customers", json={"phone": "+254 712 345 678"}), 409, "conflict")
    assert again["errors"][0]["field"] == "phone"
    assert api.post("/api/v1/customers", json={"email": "c@example.com"}).status_code == 201
    other = assert_problem(api.post("/api/v1/customers", json={"email": "C@EXAMPLE.com"}), 409)
    assert other["errors"][0]["field"] == "email"


def test_fields_of_200_characters_are_kept_and_201_are_refused(app):
    api = api_client(app)
    assert api.post("/api/v1/customers", json={"phone": "0712000001", "location": "x" * 200}).status_code == 201
    refused = assert_problem(api.post("/api/v1/customers", json={"phone": "0712000002", "location": "x" * 201}), 400)
    assert refused["errors"][0]["field"] == "location"


def test_attribute_keys_must_be_lowercase_words_and_values_strings(app):
    api = api_client(app)
    assert_problem(api.post("/api/v1/customers", json={"phone": "0712000003", "attributes": {"Plan": "x"}}), 400)
    assert_problem(api.post("/api/v1/customers", json={"phone": "0712000003", "attributes": {"plan": 1}}), 400)


def test_viewers_may_read_but_not_create(app):
    viewer = api_client(app, Role.VIEWER)
    assert_problem(viewer.post("/api/v1/customers", json=ALICE), 403, "forbidden")
    assert viewer.get("/api/v1/customers").status_code == 200


def test_list_is_newest_first_and_finds_by_normalized_phone(app):
    api = api_client(app)
    ids = [api.post("/api/v1/customers", json={"phone": f"07120000{n:02}"}).get_json()["id"] for n in range(3)]
    listed = api.get("/api/v1/customers").get_json()
    assert [c["id"] for c in listed["data"]] == ids[::-1]
    assert listed["pagination"] == {"page": 1, "page_size": 20, "total_count": 3, "total_pages": 1}
    for typed in ("+254712000001", "0712000001", " 254712000001"):
        found = api.get("/api/v1/customers", query_string={"phone": typed}).get_json()
        assert [c["id"] for c in found["data"]] == [ids[1]], typed
    assert api.get("/api/v1/customers?phone=nonsense").get_json()["data"] == []


def test_an_unknown_or_out_of_range_customer_is_404(app):
    api = api_client(app)
    assert_problem(api.get("/api/v1/customers/999"), 404, "not-found")
    assert_problem(api.get("/api/v1/customers/0"), 404)
    assert_problem(api.get("/api/v1/customers/99999999999999999999"), 404)
    assert_problem(api.get("/api/v1/customers/-1"), 404)


def test_the_list_takes_the_contacts_list_s_filters(app):
    api = api_client(app)
    made = [
        {"phone": "0712000010", "location": "Nairobi", "attributes": {"plan": "gold"}},
        {"phone": "0712000011", "location": "Nairobi", "preferred_product": "Tea", "attributes": {"plan": "silver"}},
        {"phone": "0712000012", "location": "Mombasa", "attributes": {"plan": "gold", "tier": "2"}},
    ]
    ids = [api.post("/api/v1/customers", json=body).get_json()["id"] for body in made]

    def found(query: str) -> list[int]:
        answer = api.get(f"/api/v1/customers?{query}")
        assert answer.status_code == 200, answer.get_json()
        return [c["id"] for c in answer.get_json()["data"]]

    assert found("location=Nairobi") == [ids[1], ids[0]]
    assert found("location=Nairobi&preferred_product=Tea") == [ids[1]]
    assert found("attributes.plan=gold") == [ids[2], ids[0]]
    assert found("attributes.PLAN=gold&attributes.tier=2") == [ids[2]]
    assert found("attributes.plan=Gold") == []  # values match exactly
    assert api.get("/api/v1/customers?location=Nairobi").get_json()["pagination"]["total_count"] == 2
    refused = assert_problem(api.get("/api/v1/customers?attributes.pl-an=gold"), 400)
    assert refused["errors"][0]["field"] == "attributes"
