"""Resources that an earlier version of the program declared elsewhere keep their identity.

Up to commit b509f8d every resource except the services' images and containers sat directly under
the stack. Pulumi identifies a resource by its URN, which includes its parents' types, so moving it
under a component reads as "delete the old, create the new": `pulumi up` would replace the volumes
(their data with them), the containers and the passwords. An alias naming the old parent tells the
engine that it is the same resource (https://www.pulumi.com/docs/iac/concepts/options/aliases/);
children of an aliased component inherit its aliases, so they need none of their own.
tests/unit/test_aliases.py evaluates that commit and this program and checks every moved URN.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

# `parent=None` in an alias means "had no parent": declared at the top of the program.
WAS_AT_STACK_ROOT = pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)


def moved_under(
    parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()
) -> pulumi.ResourceOptions:
    """Options for a resource that used to sit at the stack root and is now `parent`'s child."""
    return pulumi.ResourceOptions(
        parent=parent, aliases=[WAS_AT_STACK_ROOT], depends_on=list(depends_on)
    )
