from tests.bus.brokers import tansu

__all__ = ["tansu"]
