"""Pulumi components: reusable groups of resources declared more than once."""
