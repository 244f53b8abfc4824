"""The ``syslog`` sink: RFC 5424/3164 over UDP, TCP and TLS, with JSON, CEF or LEEF payloads.

Modules, one concept each: :mod:`.config` (options and their rules) and
:mod:`.address` (host and port), :mod:`.severity` (risk of a click), :mod:`.rfc5424`
and :mod:`.rfc3164` (headers), :mod:`.cef` and :mod:`.leef` (payloads), :mod:`.encoder`
(a page to messages), :mod:`.framing` (size limit, RFC 6587 framing), :mod:`.tls`
(handshake failures), :mod:`.transport` (sockets) and :mod:`.sink`, which builds its
helpers from the config; the helpers take only the fields they use, and nothing but
the sink imports the config model.
User documentation: docs/syslog.md.
"""

from collector.sinks.syslog.config import SyslogSinkConfig
from collector.sinks.syslog.sink import SyslogSink

__all__ = ["SyslogSink", "SyslogSinkConfig"]
