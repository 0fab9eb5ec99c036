"""`python -m scripts.plan` on a throwaway repository: each kind of edit plans exactly what it
changes, in every format, without a secret in any of them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from scripts.plan import main
from stackplan.diff import Action, Plan
from stackplan.render import COMMENT_LIMIT, Heading, render_markdown
from tests.support.plan_checkout import FAKE_SECRETS, FAKE_TLS, Checkout, every_format, git

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/image:Image"
NETWORK = "docker:index/network:Network"


def steps_of(plan: Plan) -> set[tuple[str, str, str]]:
    return {(step.action.value, step.type, step.name) for step in plan.steps}


def set_config(checkout: Checkout, key: str, old: str, new: str) -> None:
    checkout.edit(
        "Pulumi.dev.yaml",
        lambda text: text.replace(f"microstack:{key}: {old}\n", f"microstack:{key}: {new}\n"),
    )


def assert_no_secret(outputs: dict[str, str]) -> None:
    for name, text in outputs.items():
        for fake in FAKE_SECRETS:
            assert fake not in text, f"{name} output shows a secret ({fake}...)"


def test_no_change_plans_nothing_in_every_format(checkout: Checkout) -> None:
    plan, heading = checkout.plan()

    assert plan.steps == () and plan.unchanged > 20
    outputs = every_format(plan, heading)
    assert "No changes." in outputs["text"] and "No changes." in outputs["markdown"]
    assert json.loads(outputs["json"])["steps"] == []
    assert_no_secret(outputs)


def test_edit_to_one_service_rebuilds_its_image_and_replaces_its_container_only(
    checkout: Checkout,
) -> None:
    checkout.edit("services/product-service/requirements.txt", lambda text: text + "# edit\n")

    plan, heading = checkout.plan()

    assert steps_of(plan) == {
        ("update", IMAGE, "products-image"),
        ("replace", CONTAINER, "products-1"),
        ("replace", CONTAINER, "products-2"),
    }
    for container in (step for step in plan.steps if step.type == CONTAINER):
        assert container.delete_before_replace
        assert "image" in container.replaced_by
    outputs = every_format(plan, heading)
    assert "products" in outputs["markdown"] and "delete before replace" in outputs["markdown"]
    assert_no_secret(outputs)


def test_servicekit_edit_reaches_every_service_through_the_base_image(checkout: Checkout) -> None:
    checkout.edit("services/servicekit/requirements.txt", lambda text: text + "# edit\n")

    plan, _ = checkout.plan()

    services = ("users", "products", "orders")
    assert steps_of(plan) == {("update", IMAGE, "servicekit-image")} | {
        ("update", IMAGE, f"{name}-image") for name in services
    } | {("replace", CONTAINER, f"{name}-{n}") for name in services for n in (1, 2)}


def test_memory_change_updates_exactly_the_affected_containers_in_place(
    checkout: Checkout,
) -> None:
    set_config(checkout, "serviceMemoryMb", "256", "384")

    plan, heading = checkout.plan()

    assert steps_of(plan) == {
        ("update", CONTAINER, f"{name}-{n}")
        for name in ("users", "products", "orders")
        for n in (1, 2)
    }
    for step in plan.steps:
        (change,) = step.changes
        assert (change.path, change.old, change.new, change.effect) == (
            "memory",
            256,
            384,
            "update",
        )
    assert "memory: 256 => 384" in every_format(plan, heading)["text"]


def test_redis_memory_also_rewrites_its_config_file_so_redis_is_replaced(
    checkout: Checkout,
) -> None:
    set_config(checkout, "redisMemoryMb", "128", "192")

    plan, heading = checkout.plan()

    assert steps_of(plan) == {("replace", CONTAINER, "redis")}
    (step,) = plan.steps
    # maxmemory lives in the uploaded redis.conf, which holds the password: a secret change.
    assert step.replaced_by == ("uploads",)
    assert "uploads: [secret] changed" in every_format(plan, heading)["text"]
    assert_no_secret(every_format(plan, heading))


def test_publishing_postgres_adds_a_network_and_replaces_postgres(checkout: Checkout) -> None:
    set_config(checkout, "publishPostgres", "false", "true")

    plan, heading = checkout.plan()

    assert steps_of(plan) == {
        ("create", NETWORK, "published-network"),
        ("replace", CONTAINER, "postgres"),
    }
    postgres = next(step for step in plan.steps if step.name == "postgres")
    assert set(postgres.replaced_by) == {"networksAdvanced", "ports"}
    ports = next(change for change in postgres.changes if change.path == "ports")
    assert ports.new == [{"external": 5432, "internal": 5432, "ip": "127.0.0.1", "protocol": "tcp"}]
    assert_no_secret(every_format(plan, heading))


def test_a_resource_no_longer_declared_is_deleted(checkout: Checkout) -> None:
    set_config(checkout, "publishRedis", "false", "true")
    base = checkout.commit("publish redis")
    set_config(checkout, "publishRedis", "true", "false")

    plan, _ = checkout.plan(base=base)

    assert steps_of(plan) == {
        ("delete", NETWORK, "published-network"),
        ("replace", CONTAINER, "redis"),
    }


def test_a_renamed_logical_resource_is_a_delete_and_a_create(checkout: Checkout) -> None:
    checkout.edit(
        "infra/network.py", lambda text: text.replace('f"{logical}-network"', 'f"{logical}-net"')
    )

    plan, _ = checkout.plan()

    changed = steps_of(plan)
    for logical in ("frontend", "backend"):
        assert ("delete", NETWORK, f"{logical}-network") in changed
        assert ("create", NETWORK, f"{logical}-net") in changed
    # Their containers take the new networks' names only once those exist: a real preview
    # shows them as replaced too.
    assert {name for action, kind, name in changed if kind == CONTAINER} == {
        "postgres", "redis", "gateway",
        *(f"{name}-{n}" for name in ("users", "products", "orders") for n in (1, 2)),
    }  # fmt: skip


def test_a_rename_with_an_alias_to_the_old_name_changes_nothing(checkout: Checkout) -> None:
    checkout.edit(
        "infra/network.py",
        lambda text: text.replace('f"{logical}-network"', 'f"{logical}-net"').replace(
            "opts=moved_under(self),",
            "opts=pulumi.ResourceOptions(\n"
            '                parent=self, aliases=[pulumi.Alias(name=f"{logical}-network")]\n'
            "            ),",
        ),
    )

    plan, _ = checkout.plan()

    assert plan.steps == ()


def test_a_base_whose_program_fails_plans_every_resource_as_created(checkout: Checkout) -> None:
    checkout.edit(
        "infra/program.py",
        lambda text: text.replace(
            '    """Declare every resource',
            '    raise RuntimeError("broken on purpose")\n    """Declare',
        ),
    )
    base = checkout.commit("break the program")
    git(checkout.root, "revert", "--no-edit", "HEAD")

    plan, heading = checkout.plan(base=base)

    assert {step.action for step in plan.steps} == {Action.CREATE}
    assert plan.unchanged == 0
    (note,) = plan.notes
    assert "base: the program fails" in note and "broken on purpose" in note
    outputs = every_format(plan, heading)
    assert "broken on purpose" in outputs["markdown"]
    assert len(outputs["markdown"]) < COMMENT_LIMIT
    assert_no_secret(outputs)


def test_own_tls_secrets_in_stack_config_are_never_printed(checkout: Checkout) -> None:
    block = "".join(f"  {key}: {json.dumps(value)}\n" for key, value in FAKE_TLS.items())
    checkout.edit("Pulumi.dev.yaml", lambda text: text + block)

    plan, heading = checkout.plan()

    gateway = next(step for step in plan.steps if step.name == "gateway")
    assert gateway.action is Action.REPLACE
    assert any(change.secret for change in gateway.changes)
    outputs = every_format(plan, heading)
    assert "[secret] changed" in outputs["text"]
    assert_no_secret(outputs)


def run_cli(checkout: Checkout, capsys: pytest.CaptureFixture[str], *arguments: str) -> Any:
    code = main(["--repository", str(checkout.root), *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_detailed_exit_codes(checkout: Checkout, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(checkout, capsys, "--detailed-exitcode")[0] == 0
    set_config(checkout, "logLevel", "INFO", "DEBUG")
    assert run_cli(checkout, capsys, "--detailed-exitcode")[0] == 2
    assert run_cli(checkout, capsys)[0] == 0


def test_config_error_at_head_is_one_line_naming_the_key(
    checkout: Checkout, capsys: pytest.CaptureFixture[str]
) -> None:
    set_config(checkout, "logLevel", "INFO", "LOUD")

    code, out, err = run_cli(checkout, capsys, "--format", "json")

    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert re.match(r"plan: error: head: config error: microstack:logLevel: expected", err)


def test_unknown_ref_is_one_line(checkout: Checkout, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(checkout, capsys, "--base", "no-such-branch")

    assert code == 1
    assert err == "plan: error: unknown git ref 'no-such-branch'\n"


def test_the_base_worktree_is_removed_afterwards(checkout: Checkout) -> None:
    checkout.plan()
    checkout.plan(head="main")

    assert git(checkout.root, "worktree", "list").count("\n") == 1


def test_markdown_stays_under_the_comment_limit_with_a_note(checkout: Checkout) -> None:
    set_config(checkout, "publishPostgres", "false", "true")
    set_config(checkout, "publishRedis", "false", "true")
    plan, heading = checkout.plan()

    full = render_markdown(plan, heading)
    short = render_markdown(plan, heading, limit=len(full) - 200)

    assert "Truncated" not in full and len(full) < COMMENT_LIMIT
    assert "Truncated:** 1 of 3 resources' details are left out" in short
    assert len(short) < len(full)
    assert short.startswith("<!-- microstack-plan -->")


def test_json_steps_follow_the_documented_schema(checkout: Checkout) -> None:
    set_config(checkout, "publishPostgres", "false", "true")
    plan, heading = checkout.plan()

    document = json.loads(every_format(plan, heading)["json"])

    assert set(document) == {
        "schema_version", "stack", "base", "head", "summary", "notes", "steps", "rules"
    }  # fmt: skip
    assert document["summary"] == {
        "create": 1, "update": 0, "replace": 1, "delete": 0, "unchanged": plan.unchanged
    }  # fmt: skip
    step_keys = {
        "action", "urn", "type", "name", "custom", "component", "previous_urn", "replaced_by",
        "delete_before_replace", "provider_decides", "changes",
    }  # fmt: skip
    assert all(set(step) == step_keys for step in document["steps"])


def test_heading_names_both_sides(checkout: Checkout) -> None:
    _, heading = checkout.plan()
    assert isinstance(heading, Heading)
    assert heading.head == "working tree" and heading.base.startswith("main (merge base) @ ")
