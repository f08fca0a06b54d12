"""The throwaway Postgres server the destination tests run against."""

from __future__ import annotations

import os

import dlt
import psycopg2

from tests.postgres_server import PostgresServer


def test_each_test_gets_an_empty_database_and_the_environment_points_at_it(
    postgres_url: str,
) -> None:
    assert os.environ["DESTINATION__POSTGRES__CREDENTIALS"] == postgres_url
    assert os.environ["APPTSYNC__DESTINATION"] == "postgres"
    with psycopg2.connect(postgres_url) as con, con.cursor() as cur:
        cur.execute(
            "select count(*) from information_schema.tables "
            "where table_schema not in ('pg_catalog', 'information_schema')"
        )
        assert cur.fetchone() == (0,)
        cur.execute("create table marker (id int)")


def test_a_second_test_does_not_see_the_first_ones_tables(postgres_url: str) -> None:
    with psycopg2.connect(postgres_url) as con, con.cursor() as cur:
        cur.execute("select to_regclass('public.marker') is null")
        assert cur.fetchone() == (True,)


def test_the_server_refuses_a_wrong_password(postgres_server: PostgresServer) -> None:
    wrong = postgres_server.url().replace(postgres_server.password, "not-the-password")
    try:
        psycopg2.connect(wrong).close()
    except psycopg2.OperationalError as exc:
        assert "password authentication failed" in str(exc)
    else:
        raise AssertionError("the server accepted a wrong password")


def test_dlt_loads_into_it_with_the_credentials_from_the_environment(postgres_url: str) -> None:
    pipeline = dlt.pipeline("pg_fixture", destination="postgres", dataset_name="probe")
    pipeline.run([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], table_name="items")
    with psycopg2.connect(postgres_url) as con, con.cursor() as cur:
        cur.execute("select id, name from probe.items order by id")
        assert cur.fetchall() == [(1, "a"), (2, "b")]
