"""Where each service lives: its package name and its folder under services/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scripts.devstack.servers import SERVICES_DIR


@dataclass(frozen=True)
class ServiceLayout:
    package: str
    directory: Path


SERVICES = {
    "users": ServiceLayout("user_service", SERVICES_DIR / "user-service"),
    "products": ServiceLayout("product_service", SERVICES_DIR / "product-service"),
    "orders": ServiceLayout("order_service", SERVICES_DIR / "order-service"),
}
