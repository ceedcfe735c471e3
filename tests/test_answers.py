"""No silent empty answers: the short codes and spellings people type find what the full URIs find
(resolved by the harvest's own vocabularies and aliases), and values outside a closed set (rating bands,
sources, a département no body lies in) are a 400 naming the parameter and the accepted values; the same
in the CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from fedcat.api.app import create_app
from fedcat.catalogue import Catalogue
from fedcat.cli import main

EU = "http://publications.europa.eu/resource/authority/"


@pytest.fixture(scope="module")
def client(demo) -> Iterator[TestClient]:
    config, data = demo
    catalogue = Catalogue.open(config, data, writer=False)
    try:
        yield TestClient(create_app(catalogue.store, catalogue.backend, catalogue.config))
    finally:
        catalogue.close()


def total(client: TestClient, **params: str) -> int:
    response = client.get("/api/datasets", params=params)
    assert response.status_code == 200, response.text
    return response.json()["total"]


@pytest.mark.parametrize(
    ("parameter", "uri", "spellings"),
    [
        ("theme", EU + "data-theme/TRAN", ["TRAN", "tran", "Transports"]),
        ("format", EU + "file-type/CSV", ["CSV", "csv", "text/csv"]),
        ("licence", EU + "licence/ETALAB_2_0", ["etalab-2.0", "lov2"]),
        ("language", EU + "language/FRA", ["fr", "FRA", "français"]),
    ],
)
def test_short_codes_find_what_the_uri_finds(client, parameter, uri, spellings):
    expected = total(client, **{parameter: uri})
    assert 0 < expected < 21 or parameter == "language"
    for spelling in spellings:
        assert total(client, **{parameter: spelling}) == expected, spelling


def refused(client: TestClient, url: str, parameter: str, *accepted: str) -> str:
    response = client.get(url)
    assert response.status_code == 400, response.text
    body = response.json()
    assert [e["parameter"] for e in body["errors"]] == [parameter]
    for value in accepted:
        assert value in body["detail"], body["detail"]
    return body["detail"]


def test_values_outside_closed_sets_are_400_with_the_accepted_values(client):
    refused(client, "/api/datasets?quality=great", "quality", "excellent", "good", "sufficient", "bad")
    refused(client, "/api/datasets?source=nope", "source", "'nope'", "ville-exemple", "metropole-exemple")
    refused(client, "/api/datasets?theme=ZZZ", "theme", "TRAN", "ENVI")
    refused(client, "/catalog?source=nope", "source", "ville-exemple")
    refused(client, "/api/quality?source=nope", "source", "ville-exemple")
    refused(client, "/api/audit?departement=999", "departement", "59")
    refused(client, "/api/audit?within=epci:123456789", "within", "epci:123456789")
    # what is known still answers
    assert total(client, quality="GOOD", source="ville-exemple") > 0
    assert client.get("/api/audit?departement=59").json()["total"] == 8 - 1  # all but the région


def test_the_cli_refuses_the_same_values(demo, capsys):
    config, data = demo
    common = ["--config", str(config), "--data-dir", str(data)]
    assert main(["quality", "--source", "nope", *common]) == 2
    err = capsys.readouterr().err
    assert "unknown source nope" in err and "ville-exemple" in err
    assert main(["audit", "--departement", "999", *common]) == 2
    err = capsys.readouterr().err
    assert "département '999'" in err and "59" in err
    with pytest.raises(SystemExit) as exit_:
        main(["validate", "--limit", "-1", *common])
    assert (
        exit_.value.code == 2 and "--limit: expected a whole number of at least 1" in capsys.readouterr().err
    )
