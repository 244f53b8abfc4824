"""HTTP event collector sinks: Splunk HEC, Elasticsearch/OpenSearch ``_bulk``, generic HTTP.

The three share one HTTP layer (:mod:`.common`), one batching and retry engine
(:mod:`.batching`) and one dead-letter store (:mod:`.dead_letter`); each sink module
only knows its receiver's protocol. ``docs/http-sinks.md`` documents every option.
"""
