from tests.bus.brokers import rotel, tansu

__all__ = ["rotel", "tansu"]
