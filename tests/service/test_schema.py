"""database/init.sql and create-app-role.sh: constraints, sample data, sequences, privileges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg2
import pytest
from psycopg2 import errors

from launchers.database import create_app_role
from launchers.postgres import PostgresServer
from tests.support.database import ApplicationDatabase


def test_sample_data_has_the_promised_shape(query: Any) -> None:
    counts = query(
        """SELECT (SELECT count(*) FROM users) AS users,
                  (SELECT count(*) FROM products) AS products,
                  (SELECT count(DISTINCT category) FROM products) AS categories,
                  (SELECT count(*) FROM orders) AS orders"""
    )
    assert counts == [{"users": 4, "products": 10, "categories": 4, "orders": 8}]


def test_sequences_continue_after_the_explicit_ids(query: Any) -> None:
    user = query(
        "INSERT INTO users (username, email) VALUES ('seq', 'seq@example.com') RETURNING id"
    )
    product = query(
        "INSERT INTO products (name, category, price) VALUES ('p', 'c', 1) RETURNING id"
    )
    order = query(
        "INSERT INTO orders (user_id, product_id, quantity, unit_price, total_price) "
        "VALUES (1, 1, 1, 1, 1) RETURNING id"
    )
    assert (user[0]["id"], product[0]["id"], order[0]["id"]) == (5, 11, 9)


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("UPDATE products SET price = -0.01 WHERE id = 1", errors.CheckViolation),
        ("UPDATE products SET stock = -1 WHERE id = 1", errors.CheckViolation),
        ("UPDATE orders SET quantity = 0 WHERE id = 1", errors.CheckViolation),
        ("UPDATE orders SET status = 'lost' WHERE id = 1", errors.CheckViolation),
        ("UPDATE orders SET total_price = 1 WHERE id = 1", errors.CheckViolation),
        ("UPDATE orders SET user_id = 99 WHERE id = 1", errors.ForeignKeyViolation),
        ("UPDATE orders SET product_id = 99 WHERE id = 1", errors.ForeignKeyViolation),
        ("UPDATE users SET username = 'ALICE' WHERE id = 2", errors.UniqueViolation),
        (
            "UPDATE users SET email = 'alice@example.com' WHERE id = 2",
            errors.UniqueViolation,
        ),
        ("UPDATE users SET email = 'Bob@example.com' WHERE id = 2", errors.CheckViolation),
        ("DELETE FROM users WHERE id = 1", errors.ForeignKeyViolation),
    ],
)
def test_constraints_hold_even_without_the_services(query: Any, sql: str, error: type) -> None:
    with pytest.raises(error):
        query(sql)


def test_filtered_columns_are_indexed(query: Any) -> None:
    rows = query("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'")
    definitions = " ".join(row["indexdef"] for row in rows)
    for column in (
        "products USING btree (category)",
        "orders USING btree (user_id)",
        "orders USING btree (status)",
        "orders USING btree (product_id)",
    ):
        assert column in definitions


def test_the_application_role_has_dml_only(database: ApplicationDatabase) -> None:
    connection = psycopg2.connect(
        host=database.host,
        port=database.port,
        dbname=database.name,
        user=database.user,
        password=database.password,
        connect_timeout=2,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM orders")
            assert cursor.fetchone() == (8,)
        connection.rollback()
        with pytest.raises(errors.InsufficientPrivilege), connection.cursor() as cursor:
            cursor.execute("CREATE TABLE intruder (id int)")
        connection.rollback()
        with pytest.raises(errors.InsufficientPrivilege), connection.cursor() as cursor:
            cursor.execute("DROP TABLE orders")
    finally:
        connection.close()


def test_role_script_is_idempotent_and_rotates_the_password(
    postgres_server: PostgresServer, database: ApplicationDatabase, tmp_path: Path
) -> None:
    password_file = tmp_path / "password"
    for password in ("first-password", "second-password"):
        password_file.write_text(password + "\n")
        create_app_role(postgres_server, password_file, database.name, "rotation_check")
    connection = psycopg2.connect(
        host=database.host,
        port=database.port,
        dbname=database.name,
        user="rotation_check",
        password="second-password",
        connect_timeout=2,
    )
    connection.close()


def test_role_script_without_a_password_file_fails_clearly(
    postgres_server: PostgresServer, database: ApplicationDatabase, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError, match="APP_DB_PASSWORD_FILE"):
        create_app_role(postgres_server, tmp_path / "missing", database.name, "never_created")
